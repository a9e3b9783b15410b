/**
 * The sweep that runs before every push and write in a directory, run here with the local `sh`:
 * what a writer that no longer runs left is finished (a complete stage) or removed, what belongs
 * to another user or to a writer still running is left alone, and two sweeps at once apply a
 * stage once.
 */

import assert from "node:assert/strict";
import { sweepScript } from "../../lib/posix/file_scripts.ts";
import { controlDir } from "../../lib/tree/_remote.ts";

async function sh(script: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** A pid no process has now: that of a child that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

/**
 * A stage as a push leaves it in `dir`: `files` to merge (name → text), `del` to delete first,
 * `complete` marks it applying.
 */
async function stage(
  dir: string,
  pid: number,
  nonce: string,
  files: Record<string, string>,
  opts: { del?: string[]; complete?: boolean } = {},
): Promise<string> {
  const s = `${dir}/.yonder-stage-${pid}-${nonce}`;
  const ctl = `${s}/t/${controlDir(nonce)}`;
  await Deno.mkdir(`${ctl}/chmod`, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${s}/t/${name}`, text);
  }
  await Deno.writeTextFile(`${ctl}/del`, (opts.del ?? []).map((p) => `./${p}\0`).join(""));
  await Deno.writeTextFile(`${ctl}/ok`, `${nonce}\n`);
  if (opts.complete) await Deno.writeTextFile(`${s}/apply`, "");
  return s;
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("sweep: a complete stage of a gone writer is applied, an incomplete one and temp files removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-sweep-" });
  try {
    const gone = await deadPid();
    await Deno.writeTextFile(`${dir}/old`, "old");
    await Deno.writeTextFile(`${dir}/keep`, "keep");
    await stage(dir, gone, "aaaa", { new: "new", keep: "kept, replaced" }, {
      del: ["old"],
      complete: true,
    });
    await stage(dir, gone, "bbbb", { half: "never applied" });
    await Deno.writeTextFile(`${dir}/.f.yonder-tmp-${gone}-x`, "partial write");
    // A writer still running (this process) keeps its stage and temp file.
    await stage(dir, Deno.pid, "cccc", { mine: "in progress" }, { complete: true });
    await Deno.writeTextFile(`${dir}/.g.yonder-tmp-${Deno.pid}-y`, "writing");
    const r = await sh(sweepScript(dir));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await names(dir), [
      `.g.yonder-tmp-${Deno.pid}-y`,
      `.yonder-stage-${Deno.pid}-cccc`,
      "keep",
      "new",
    ]);
    assert.equal(await Deno.readTextFile(`${dir}/keep`), "kept, replaced");
    assert.equal(await Deno.readTextFile(`${dir}/new`), "new");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep: a complete stage whose apply fails stays, and the next sweep finishes it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-sweep-" });
  try {
    // A directory where the stage brings a file: the merge cannot replace it.
    await Deno.mkdir(`${dir}/a/inner`, { recursive: true });
    await stage(dir, await deadPid(), "dddd", { a: "file a", b: "file b" }, { complete: true });
    const first = await sh(sweepScript(dir));
    assert.equal(first.code, 0, first.stderr);
    const left = (await names(dir)).filter((n) => n.startsWith(".yonder-stage-"));
    assert.equal(left.length, 1, "the complete stage is kept for a later sweep");
    assert.match(left[0]!, /^\.yonder-stage-\d+-dddd$/);
    assert.ok((await Deno.stat(`${dir}/a`)).isDirectory);
    // Once what was in the way is gone, the next sweep (its claimer has exited) applies the rest.
    await Deno.remove(`${dir}/a`, { recursive: true });
    const second = await sh(sweepScript(dir));
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await names(dir), ["a", "b"]);
    assert.equal(await Deno.readTextFile(`${dir}/a`), "file a");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep: sweeps running at once apply each stage once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-sweep-" });
  try {
    const gone = await deadPid();
    for (let i = 0; i < 20; i++) {
      const nonce = `n${String(i).padStart(3, "0")}`;
      await stage(dir, gone, nonce, { [`f${i}`]: `v${i}`, [`shared${i % 2}`]: `s${i}` }, {
        complete: true,
      });
    }
    const runs = await Promise.all([1, 2, 3, 4].map(() => sh(sweepScript(dir))));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const left = await names(dir);
    assert.deepEqual(left.filter((n) => n.startsWith(".")), [], "no stage is left");
    for (let i = 0; i < 20; i++) assert.equal(await Deno.readTextFile(`${dir}/f${i}`), `v${i}`);
    assert.equal(left.length, 22);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "sweep: what another user owns is left alone, even when its writer is gone",
  ignore: Deno.uid() !== 0,
  // Making a file another user's needs root; as another user the test has nothing to chown.
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "yonder-sweep-" });
    try {
      const gone = await deadPid();
      const s = await stage(dir, gone, "eeee", { theirs: "x" }, { complete: true });
      const t = `${dir}/.h.yonder-tmp-${gone}-z`;
      await Deno.writeTextFile(t, "theirs");
      const nobody = 65534;
      for (const p of [s, t]) {
        await new Deno.Command("chown", { args: ["-R", `${nobody}:${nobody}`, p] }).output();
        assert.equal((await Deno.lstat(p)).uid, nobody);
      }
      const r = await sh(sweepScript(dir));
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await names(dir), [`.h.yonder-tmp-${gone}-z`, `.yonder-stage-${gone}-eeee`]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
