import assert from "node:assert/strict";
import { posix } from "node:path";
import { fc } from "./deps.ts";
import { basename, dirname, join } from "../lib/util/path.ts";

Deno.test("basename and dirname agree with node:path's POSIX ones", () => {
  const cases = [
    "",
    "/",
    "//",
    "a",
    "a/",
    "a//",
    "/a",
    "/a/",
    "a/b",
    "a/b/",
    "/a/b/",
    ".",
    "..",
    "a/.",
    "-x",
    " a b /c d",
  ];
  for (const p of cases) {
    assert.equal(basename(p, true), posix.basename(p), `basename(${JSON.stringify(p)})`);
    assert.equal(dirname(p, true), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
  }
});

Deno.test("basename and dirname agree with node:path on any POSIX path (property)", () => {
  // node:path keeps doubled separators in a dirname ("a//b" gives "a/"); ours folds them.
  fc.assert(fc.property(fc.stringMatching(/^[a/.\-\n ]{0,12}$/), (raw) => {
    const p = raw.replace(/\/+/g, "/");
    assert.equal(basename(p, true), posix.basename(p));
    assert.equal(dirname(p, true), posix.dirname(p));
  }));
});

Deno.test("doubled separators fold in a dirname", () => {
  assert.equal(dirname("a//b", true), "a");
  assert.equal(dirname("//a//b//", true), "//a");
  assert.equal(dirname("///", true), "/");
});

Deno.test("join puts one / at each seam and keeps .. as written", () => {
  assert.equal(join("a", "b"), "a/b");
  assert.equal(join("a/", "b"), "a/b");
  assert.equal(join("a", "/b"), "a/b");
  assert.equal(join("/", "b"), "/b");
  assert.equal(join("", "b"), "b");
  assert.equal(join("", ""), ".");
  assert.equal(join("a/link", "..", "c"), "a/link/../c");
});
