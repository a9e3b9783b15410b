/**
 * No function in `lib/` is over 70 lines or 20 branches (see `scripts/complexity.ts` for how they
 * are counted), and the counter counts what its doc says.
 */
import assert from "node:assert/strict";
import {
  analyzePaths,
  analyzeSource,
  DEFAULT_LIMITS,
  formatMetrics,
  type FunctionMetrics,
  offenders,
  parseArgs,
} from "../scripts/complexity.ts";

const LIB = new URL("../lib/", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;

const SNIPPET = `
// if (a && b) { for (;;) {} } — a comment counts nothing
function outer(a: number[], b?: number): number {
  const s = "if (x) && y || z ?? w ? 1 : 2";
  const t = \`case 1: \${a.length > 1 ? "while" : "do"} || catch\`; // ?: = 1
  const re = /if|&&|\\|\\|/g;
  if (a.length && b) return 1; // if, && = 2 (3)
  else if (a.length || b) return 2; // else-if, || = 2 (5)
  else b = 3; // plain else: 0
  for (const x of a) b += x; // 1 (6)
  for (const k in a) b += Number(k); // 1 (7)
  for (let i = 0; i < 2; i++) b++; // 1 (8)
  while (b > 100) b--; // 1 (9)
  do b++; while (b < 0); // 1 (10)
  switch (b) {
    case 1: // 1 (11)
      break;
    case 2: // 1 (12)
      break;
    default:
  }
  try {
    b ??= 0; // 1 (13)
  } catch { // 1 (14)
    b = 0;
  }
  const inner = (n: number) => {
    if (n) return n && 1;
    return n || 2;
  };
  a.forEach(function (x) { if (x) b!++; });
  return (b ?? 0) + inner(s.length + t.length + String(re).length) + (b! > 1 ? 1 : 0); // ??, ?: (16)
}

class K {
  m(x: boolean): number {
    return x ? 1 : 2;
  }
  get g(): number {
    return 1;
  }
}
`;

function byName(ms: FunctionMetrics[], name: string): FunctionMetrics {
  const m = ms.find((m) => m.name === name);
  assert.ok(m, `no function named ${name} in ${ms.map((m) => m.name).join(", ")}`);
  return m;
}

Deno.test("the counter counts branches as its doc says, nested functions apart", () => {
  const ms = analyzeSource("snippet.ts", SNIPPET);
  const outer = byName(ms, "outer");
  assert.equal(outer.branches, 16);
  // Body from `{` (line 3) to `}` (line 33), less the 2 inner lines of `inner`.
  assert.equal(outer.lines, 31 - 2);
  assert.equal(outer.nesting, 1);
  const inner = byName(ms, "outer › inner");
  assert.equal(inner.branches, 3);
  assert.equal(inner.lines, 4);
  assert.equal(byName(ms, "outer › <function@31>").branches, 1);
  assert.equal(byName(ms, "K.m").branches, 1);
  assert.equal(byName(ms, "get K.g").branches, 0);
  assert.equal(ms.length, 5);
});

Deno.test("nesting counts stacked blocks, an else-if chain as one level", () => {
  const src = `function f(a: number) {
    if (a) {
      for (;;) {
        try { if (a) {} } catch { while (a) {} }
      }
    } else if (a > 1) {
      if (a > 2) {}
    }
  }`;
  const [f] = analyzeSource("n.ts", src);
  assert.equal(f!.nesting, 4); // if > for > try > if, and if > for > try…catch > while
  assert.equal(f!.branches, 7);
});

Deno.test("offenders are those over either limit", () => {
  const ms = analyzeSource("snippet.ts", SNIPPET);
  assert.deepEqual(
    offenders(ms, { maxLines: 100, maxBranches: 15 }).map((m) => m.name),
    ["outer"],
  );
  assert.deepEqual(
    offenders(ms, { maxLines: 3, maxBranches: 100 }).map((m) => m.name),
    ["outer", "outer › inner"],
  );
  assert.deepEqual(offenders(ms, DEFAULT_LIMITS), []);
});

Deno.test("the script's arguments", () => {
  assert.deepEqual(parseArgs([]), { maxLines: 70, maxBranches: 20, paths: ["lib/"] });
  assert.deepEqual(parseArgs(["--max-lines", "10", "--max-branches=3", "a.ts", "b/"]), {
    maxLines: 10,
    maxBranches: 3,
    paths: ["a.ts", "b/"],
  });
  assert.throws(() => parseArgs(["--max-lines"]), /whole number/);
  assert.throws(() => parseArgs(["--bogus"]), /unknown option/);
});

Deno.test("the script exits 1 and lists the offenders", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-complexity-" });
  try {
    await Deno.writeTextFile(`${dir}/a.ts`, SNIPPET);
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--lock=tests/deno.lock", "scripts/complexity.ts", ...args, dir],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const bad = await run("--max-branches", "15");
    const out = new TextDecoder().decode(bad.stdout);
    assert.equal(bad.code, 1, new TextDecoder().decode(bad.stderr));
    assert.match(out, /a\.ts:3 outer — 29 lines, 16 branches \(> 15\), nesting 1/);
    assert.match(out, /1 of 5 functions/);
    const good = await run();
    assert.equal(good.code, 0, new TextDecoder().decode(good.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no function in lib/ is over 70 lines or 20 branches", async () => {
  const ms = await analyzePaths([LIB]);
  assert.ok(ms.length > 100, `only ${ms.length} functions found under ${LIB}`);
  const bad = offenders(ms, DEFAULT_LIMITS);
  assert.deepEqual(
    bad.map((m) => formatMetrics({ ...m, file: m.file.slice(ROOT.length) })),
    [],
    "split these functions (deno run -A --lock=tests/deno.lock scripts/complexity.ts)",
  );
});
