/**
 * The tree-transfer contract (push, pull, sync-back), as `t.step`s, run against
 * `LocalEnvironment` and `SshEnvironment` on the live fixture.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Environment } from "../../lib/core/environment.ts";
import { FileError } from "../../lib/core/errors.ts";
import { randomBytes, sha256 } from "../_files_contract.ts";

/** One entry of a local tree as compared: type, mode, content hash or link target. */
export type Snapshot = Record<string, string>;

/** Describes every entry below `root` (symlinks not followed). */
export async function snapshot(root: string): Promise<Snapshot> {
  const out: Snapshot = {};
  const walk = async (dir: string, prefix: string) => {
    for await (const e of Deno.readDir(dir)) {
      const full = join(dir, e.name);
      const rel = prefix + e.name;
      const st = await Deno.lstat(full);
      const mode = ((st.mode ?? 0) & 0o7777).toString(8);
      if (st.isSymlink) out[rel] = `link ${await Deno.readLink(full)}`;
      else if (st.isDirectory) {
        out[rel] = `dir ${mode}`;
        await walk(full, rel + "/");
      } else out[rel] = `file ${mode} ${sha256(await Deno.readFile(full))}`;
    }
  };
  await walk(root, "");
  return out;
}

/** Builds the tree: 1000 × 4 KiB in nested dirs, an empty dir, a symlink, 600/755. */
export async function makeTree(root: string, files = 1000): Promise<void> {
  await Deno.mkdir(join(root, "empty"), { recursive: true });
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${i % 10}`, `e${i % 3}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(join(dir, `f${i}.bin`), randomBytes(4096));
  }
  await Deno.writeTextFile(join(root, "secret.txt"), "s3cret\n");
  await Deno.chmod(join(root, "secret.txt"), 0o600);
  await Deno.writeTextFile(join(root, "run.sh"), "#!/bin/sh\necho hi\n");
  await Deno.chmod(join(root, "run.sh"), 0o755);
  await Deno.writeTextFile(join(root, "name with spaces\nand newline"), "odd\n");
  await Deno.writeTextFile(join(root, ".hidden"), "dot\n");
  await Deno.chmod(join(root, "d1"), 0o700);
  await Deno.symlink("d0/e0/f0.bin", join(root, "link"));
}

/**
 * Runs the tree contract: `env` reaches `remoteRoot` (an empty directory path it may create),
 * `local` is an empty local scratch directory, `cacheDir` an empty manifest directory.
 */
export async function treeContract(
  t: Deno.TestContext,
  env: Environment,
  remoteRoot: string,
  local: string,
  cacheDir: string,
): Promise<void> {
  const src = join(local, "src");
  const back = join(local, "back");
  const remote = `${remoteRoot}/tree`;
  await makeTree(src);
  const want = await snapshot(src);

  await t.step("push then pull gives an identical tree (sha256, modes, symlink)", async () => {
    const r = await env.push(src, remote, { cacheDir });
    assert.equal(r.transferred.length, Object.keys(want).length);
    assert.ok(r.bytes > 1000 * 4096);
    const p = await env.pull(remote, back, { cacheDir });
    assert.equal(p.transferred.length, Object.keys(want).length);
    assert.deepEqual(await snapshot(back), want);
  });

  await t.step(
    "an unchanged re-push transfers nothing, even from a fresh manifest load",
    async () => {
      const r = await env.push(src, remote, { cacheDir });
      assert.deepEqual(r.transferred, []);
      assert.deepEqual(r.deleted, []);
      assert.equal(r.bytes, 0);
      assert.equal(r.unchanged, 1004);
      const p = await env.pull(remote, back, { cacheDir });
      assert.deepEqual(p.transferred, []);
      assert.equal(p.bytes, 0);
    },
  );

  await t.step("a changed re-push sends only what changed; delete mirrors", async () => {
    await Deno.writeTextFile(join(src, "d3/e0/f3.bin"), "changed");
    await Deno.writeTextFile(join(src, "new.txt"), "new");
    await Deno.remove(join(src, "d9/e0/f9.bin"));
    await Deno.chmod(join(src, "run.sh"), 0o700);
    const r = await env.push(src, remote, { cacheDir });
    assert.deepEqual(r.transferred, ["d3/e0/f3.bin", "new.txt", "run.sh"]);
    assert.deepEqual(r.deleted, []);
    assert.equal((await env.stat(`${remote}/d9/e0/f9.bin`)).type, "file");
    const d = await env.push(src, remote, { cacheDir, delete: true });
    assert.deepEqual(d.transferred, []);
    assert.deepEqual(d.deleted, ["d9/e0/f9.bin"]);
    await assert.rejects(env.stat(`${remote}/d9/e0/f9.bin`));
    assert.equal((await env.stat(`${remote}/run.sh`)).mode, 0o700);
  });

  await t.step(
    "a remote changed behind our back is noticed (size+mtime, then sha256)",
    async () => {
      await env.writeFile(`${remote}/d4/e1/f4.bin`, randomBytes(4096));
      const r = await env.push(src, remote, { cacheDir });
      assert.deepEqual(r.transferred, ["d4/e1/f4.bin"]);
      const again = await env.pull(remote, back, { cacheDir, delete: true });
      assert.deepEqual(await snapshot(back), await snapshot(src));
      assert.ok(again.transferred.includes("new.txt"));
    },
  );

  await t.step("exclude: neither sent nor deleted", async () => {
    await Deno.writeTextFile(join(src, "build.log"), "log");
    await env.writeFile(`${remote}/remote.log`, "remote only");
    const r = await env.push(src, remote, { cacheDir, exclude: ["*.log"], delete: true });
    assert.deepEqual(r.transferred, []);
    assert.deepEqual(r.deleted, []);
    await assert.rejects(env.stat(`${remote}/build.log`));
    assert.equal((await env.stat(`${remote}/remote.log`)).type, "file");
    await env.remove(`${remote}/remote.log`);
    await Deno.remove(join(src, "build.log"));
  });

  await t.step(
    "sync-back: remote changes come back, both-sides changes are conflicts",
    async () => {
      await env.push(src, remote, { cacheDir });
      await env.writeFile(`${remote}/d5/e2/f5.bin`, "changed remotely");
      await env.writeFile(`${remote}/d6/e0/f6.bin`, "remote side");
      await Deno.writeTextFile(join(src, "d6/e0/f6.bin"), "local side");
      await env.writeFile(`${remote}/newdir/fresh.txt`, "new on remote", { mkdirs: true });
      await env.remove(`${remote}/d8/e2/f8.bin`);
      const r = await env.pull(remote, src, { cacheDir, onlyChanged: true });
      assert.deepEqual(r.transferred, ["d5/e2/f5.bin", "newdir", "newdir/fresh.txt"]);
      assert.deepEqual(r.conflicts, [{
        path: "d6/e0/f6.bin",
        local: "changed",
        resolution: "kept-local",
      }]);
      assert.deepEqual(r.remoteDeleted, ["d8/e2/f8.bin"]);
      assert.equal(await Deno.readTextFile(join(src, "d5/e2/f5.bin")), "changed remotely");
      assert.equal(await Deno.readTextFile(join(src, "d6/e0/f6.bin")), "local side");
      assert.equal(await Deno.readTextFile(join(src, "newdir/fresh.txt")), "new on remote");
      assert.ok((await Deno.stat(join(src, "d8/e2/f8.bin"))).isFile, "local file kept");
      const again = await env.pull(remote, src, { cacheDir, onlyChanged: true });
      assert.deepEqual(again.transferred, []);
      assert.deepEqual(again.conflicts.map((c) => c.path), ["d6/e0/f6.bin"]);
      const take = await env.pull(remote, src, { cacheDir, onlyChanged: true, prefer: "remote" });
      assert.deepEqual(take.transferred, ["d6/e0/f6.bin"]);
      assert.equal(take.conflicts[0]?.resolution, "took-remote");
      assert.equal(await Deno.readTextFile(join(src, "d6/e0/f6.bin")), "remote side");
    },
  );

  await t.step("an entry escaping the root is refused on both sides", async () => {
    const bad = join(local, "bad");
    await Deno.mkdir(bad);
    await Deno.writeTextFile(join(bad, "ok.txt"), "ok");
    await Deno.symlink("../../etc/passwd", join(bad, "escape"));
    const e = await env.push(bad, `${remoteRoot}/bad`, { cacheDir }).then(() => null, (e) => e);
    assert.ok(e instanceof FileError, `got ${e}`);
    assert.match(e.message, /Refusing local entry "escape".*points out of the root/);
    await Deno.remove(join(bad, "escape"));
    await Deno.symlink("/etc/passwd", join(bad, "abs"));
    await assert.rejects(env.push(bad, `${remoteRoot}/bad`, { cacheDir }), /absolute link/);
    await Deno.remove(join(bad, "abs"));
    await env.push(bad, `${remoteRoot}/bad`, { cacheDir });
    const r = await env.exec(["ln", "-s", "../../outside", `${remoteRoot}/bad/evil`]);
    assert.equal(r.code, 0);
    const into = join(local, "bad-back");
    const pe = await env.pull(`${remoteRoot}/bad`, into, { cacheDir }).then(() => null, (e) => e);
    assert.ok(pe instanceof FileError, `got ${pe}`);
    assert.match(pe.message, /Refusing remote entry "evil".*points out of the root/);
    await assert.rejects(Deno.lstat(join(into, "evil")));
    await assert.rejects(Deno.lstat(into), "a refused pull leaves no directory it made");
  });
}
