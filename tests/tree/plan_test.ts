import assert from "node:assert/strict";
import { emptyManifest, type Manifest } from "../../lib/tree/manifest.ts";
import { planPush } from "../../lib/tree/push.ts";
import { planPull, resolveCompared } from "../../lib/tree/pull.ts";
import { excluder } from "../../lib/tree/_exclude.ts";
import { unsafeEntryPath, unsafeLinkTarget } from "../../lib/tree/_paths.ts";
import type { LocalEntry } from "../../lib/tree/_local_scan.ts";
import type { RemoteEntry } from "../../lib/tree/_remote.ts";

const file = (path: string, sha: string, size = 4, mode = 0o644): LocalEntry => ({
  path,
  type: "file",
  mode,
  size,
  mtimeMs: 1000,
  sha256: sha,
});
const rfile = (path: string, size = 4, mtime = 7, mode = 0o644): RemoteEntry => ({
  path,
  type: "file",
  size,
  mtime,
  mode,
});
const map = <T extends { path: string }>(...xs: T[]) => new Map(xs.map((x) => [x.path, x]));

function synced(...entries: [string, string][]): Manifest {
  const m = emptyManifest("h", "/r", "/l");
  for (const [path, sha] of entries) {
    m.entries[path] = {
      type: "file",
      mode: 0o644,
      size: 4,
      mtimeMs: 1000,
      sha256: sha,
      remote: { size: 4, mtime: 7, mode: 0o644 },
    };
  }
  return m;
}

Deno.test("planPush() sends nothing when manifest, local and remote agree", () => {
  const plan = planPush(map(file("a", "A")), map(rfile("a")), synced(["a", "A"]), {
    excluded: () => false,
  });
  assert.deepEqual(plan.send, []);
  assert.deepEqual(plan.compare, []);
  assert.equal(plan.unchanged.length, 1);
});

Deno.test("planPush() sends local changes and compares when the remote moved", () => {
  const local = map(file("a", "A2"), file("b", "B"), file("c", "C"), file("d", "D", 5));
  const remote = map(rfile("a"), rfile("b", 4, 8), rfile("d"), rfile("gone"));
  const plan = planPush(local, remote, synced(["a", "A"], ["b", "B"], ["d", "D"]), {
    delete: true,
    excluded: (p) => p === "keep",
  });
  assert.deepEqual(plan.send.map((l) => l.path), ["a", "c", "d"]);
  assert.deepEqual(plan.compare.map((l) => l.path), ["b"]);
  assert.deepEqual(plan.del, ["gone"]);
});

Deno.test("planPush() replaces a remote entry of another type and deletes only the top", () => {
  const dir: LocalEntry = { path: "x", type: "dir", mode: 0o755, size: 0, mtimeMs: 0 };
  const remote = map(rfile("x"), { ...rfile("old"), type: "dir" as const }, rfile("old/in"));
  const plan = planPush(map(dir), remote, synced(), { delete: true, excluded: () => false });
  assert.deepEqual(plan.del, ["x", "old"]);
  assert.deepEqual(plan.send.map((l) => l.path), ["x"]);
});

Deno.test("planPull() and resolveCompared() find sync-back changes and conflicts", () => {
  const m = synced(["same", "S"], ["theirs", "T"], ["both", "B"], ["touched", "O"]);
  const local = map(
    file("same", "S"),
    file("theirs", "T"),
    file("both", "B-local"),
    file("touched", "O"),
  );
  const remote = map(
    rfile("same"),
    rfile("theirs", 4, 9),
    rfile("both", 4, 9),
    rfile("touched", 4, 9),
    rfile("new"),
  );
  const plan = planPull(remote, local, m, { onlyChanged: true });
  assert.deepEqual(plan.fetch.map((r) => r.path), ["new"]);
  assert.deepEqual(plan.compare.map((r) => r.path).sort(), ["both", "theirs", "touched"]);
  const hashes = new Map([["theirs", "T2"], ["both", "B-remote"], ["touched", "O"]]);
  resolveCompared(plan, hashes, local, m, { onlyChanged: true });
  assert.deepEqual(plan.fetch.map((r) => r.path), ["new", "theirs"]);
  assert.deepEqual(plan.conflicts, [{ path: "both", local: "changed", resolution: "kept-local" }]);
  assert.deepEqual(plan.unchanged.map((r) => r.path).sort(), ["same", "touched"]);
});

Deno.test("planPull() with prefer remote takes the remote side of a conflict", () => {
  const m = synced(["both", "B"]);
  const local = map(file("both", "B-local"));
  const remote = map(rfile("both", 4, 9));
  const plan = planPull(remote, local, m, { onlyChanged: true });
  resolveCompared(plan, new Map([["both", "B-remote"]]), local, m, {
    onlyChanged: true,
    prefer: "remote",
  });
  assert.deepEqual(plan.fetch.map((r) => r.path), ["both"]);
  assert.equal(plan.conflicts[0]?.resolution, "took-remote");
});

Deno.test("excluder() matches names anywhere and anchored paths with their subtrees", () => {
  const ex = excluder(["node_modules", "*.log", "build/out"]);
  assert.ok(ex("node_modules"));
  assert.ok(ex("a/node_modules/x.js"));
  assert.ok(ex("deep/x.log"));
  assert.ok(ex("build/out/a.o"));
  assert.ok(!ex("src/build/out"));
  assert.ok(!ex("src/main.ts"));
  assert.ok(ex(".f.yonder-tmp-1-abc"), "yonder's temp files are never synced");
  assert.ok(ex(".yonder-stage-12-ab/t/x"));
});

Deno.test("unsafeEntryPath() and unsafeLinkTarget() keep entries inside the root", () => {
  assert.equal(unsafeEntryPath("a/b"), null);
  assert.match(unsafeEntryPath("../x")!, /'\.\.'/);
  assert.match(unsafeEntryPath("a/../../x")!, /'\.\.'/);
  assert.match(unsafeEntryPath("/etc/passwd")!, /absolute/);
  assert.equal(unsafeLinkTarget("a/l", "../b"), null);
  assert.equal(unsafeLinkTarget("a/l", "b/../c"), null);
  assert.match(unsafeLinkTarget("a/l", "../../b")!, /points out/);
  assert.match(unsafeLinkTarget("l", "/etc")!, /absolute/);
});
