import assert from "node:assert/strict";
import { join } from "node:path";
import { FileError } from "../../lib/core/errors.ts";
import { parseListing } from "../../lib/posix/results.ts";
import { sha256Maker } from "../../lib/tree/_hash.ts";
import { scanLocal } from "../../lib/tree/_local_scan.ts";
import { applyPushScript, controlDir, nulList } from "../../lib/tree/_remote.ts";
import { localPacker, type Packer, packTree, TarFollower } from "../../lib/tree/tar.ts";
import { fc } from "../deps.ts";
import { randomBytes, sha256 } from "../_files_contract.ts";
import { snapshot } from "./_tree_contract.ts";

const enc = new TextEncoder();
const NONCE = "0123456789abcdef";
const CTL = controlDir(NONCE);

/** A small tree with the awkward cases: long and odd names, a symlink, modes, empty things. */
async function makeSmallTree(root: string): Promise<void> {
  const long = "l".repeat(120);
  await Deno.mkdir(join(root, "empty"), { recursive: true });
  await Deno.mkdir(join(root, `dir-${long}`, "sub"), { recursive: true });
  await Deno.writeFile(join(root, `dir-${long}`, "sub", `file-${long}.bin`), randomBytes(7000));
  await Deno.writeFile(join(root, "big.bin"), randomBytes(1_500_000));
  await Deno.writeTextFile(join(root, "empty.txt"), "");
  await Deno.writeTextFile(join(root, "name with spaces\nand newline"), "odd\n");
  await Deno.writeTextFile(join(root, "secret"), "s");
  await Deno.chmod(join(root, "secret"), 0o600);
  await Deno.chmod(join(root, "empty"), 0o750);
  await Deno.symlink(`dir-${long}/sub/file-${long}.bin`, join(root, "link"));
}

async function plan(root: string) {
  const m = await scanLocal(root, { excluded: () => false, hash: false });
  return [...m.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Control members as push makes them: a chmod list per mode, then the completion marker. */
function control(dirs: readonly { path: string; mode: number }[]): [string, Uint8Array][] {
  const byMode = new Map<number, string[]>();
  for (const d of dirs) byMode.set(d.mode, [...(byMode.get(d.mode) ?? []), d.path]);
  const out: [string, Uint8Array][] = [];
  for (const [mode, paths] of byMode) {
    out.push([`${CTL}/chmod/${mode.toString(8).padStart(4, "0")}`, nulList(paths)]);
  }
  out.push([`${CTL}/ok`, enc.encode(NONCE)]);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of parts) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return concat(parts);
}

async function run(
  args: string[],
  stdin: Uint8Array,
  cwd?: string,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(args[0]!, {
    args: args.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(stdin).catch(() => {});
  await w.close().catch(() => {});
  const o = await child.output();
  return { code: o.code, stdout: o.stdout, stderr: new TextDecoder().decode(o.stderr) };
}

/** The packers to test: tar-stream always, GNU tar where there is one. */
async function packers(): Promise<Packer[]> {
  return (await localPacker()) === "gnu" ? ["gnu", "js"] : ["js"];
}

Deno.test("packTree() streams the planned tree, control members last, with file sums", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-tar-" });
  try {
    const src = join(dir, "src");
    await makeSmallTree(src);
    const items = await plan(src);
    const want = await snapshot(src);
    const sha = await sha256Maker();
    for (const packer of await packers()) {
      await t.step(`${packer}: extracts to the same tree; sums match`, async () => {
        const packed = packTree(
          src,
          items,
          control(items.filter((i) => i.type === "dir")),
          packer,
          sha,
        );
        const bytes = await drain(packed.stream);
        assert.equal(packed.failure(), undefined);
        const out = join(dir, `out-${packer}`);
        await Deno.mkdir(out);
        const x = await run(["tar", "-x", "-p", "-f", "-", "-C", out], bytes);
        assert.equal(x.code, 0, x.stderr);
        assert.equal(await Deno.readTextFile(join(out, CTL, "ok")), NONCE);
        await Deno.remove(join(out, CTL), { recursive: true });
        assert.deepEqual(await snapshot(out), want);
        for (const it of items.filter((i) => i.type === "file")) {
          assert.equal(
            packed.hashes.get(it.path),
            sha256(await Deno.readFile(join(src, it.path))),
            it.path,
          );
        }
        // The stream ends with the control members and one end-of-archive: ok is the last one.
        const tail = new TextDecoder().decode(bytes.subarray(bytes.length - 2048, -1024));
        assert.ok(tail.startsWith(`${CTL}/ok`), "the completion marker is the last member");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("packTree() stops before the control members when the tree changed", async (t) => {
  const sha = await sha256Maker();
  // tar-stream writes the planned mode, so only GNU tar can see a mode that changed.
  const changes: [string, (root: string) => Promise<void>, Packer[]][] = [
    ["a file grew", (r) => Deno.writeTextFile(join(r, "secret"), "longer now"), ["gnu", "js"]],
    ["a file became a symlink", async (r) => {
      await Deno.remove(join(r, "empty.txt"));
      await Deno.symlink("/etc/passwd", join(r, "empty.txt"));
    }, ["gnu", "js"]],
    ["a mode changed", (r) => Deno.chmod(join(r, "secret"), 0o644), ["gnu"]],
    ["a file went away", (r) => Deno.remove(join(r, "big.bin")), ["gnu", "js"]],
  ];
  for (const packer of await packers()) {
    for (const [what, change, which] of changes) {
      if (!which.includes(packer)) continue;
      await t.step(`${packer}: ${what}`, async () => {
        const dir = await Deno.makeTempDir({ prefix: "yonder-tar-" });
        try {
          await makeSmallTree(dir);
          const items = await plan(dir);
          await change(dir);
          const packed = packTree(dir, items, control([]), packer, sha);
          const parts: Uint8Array[] = [];
          const e = await (async () => {
            for await (const c of packed.stream) parts.push(c);
          })().then(() => null, (e) => e);
          assert.ok(e !== null, "the stream failed");
          assert.equal(packed.failure(), e);
          if (what !== "a file went away" || packer === "js") {
            assert.ok(e instanceof FileError || /tar/.test(String(e)), String(e));
          }
          const text = new TextDecoder().decode(concat(parts));
          assert.ok(!text.includes(`${CTL}/ok`), "no completion marker went out");
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    }
  }
});

Deno.test("TarFollower passes on every member byte however the stream is cut", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-tar-" });
  try {
    await makeSmallTree(dir);
    const items = await plan(dir);
    const sha = await sha256Maker();
    // A whole archive from tar-stream: members, then its end-of-archive blocks.
    const packed = packTree(dir, items, [], "js", sha);
    const full = await drain(packed.stream);
    const members = full.subarray(0, full.length - 1024);
    const archive = new Uint8Array(members.length + 1024 + 4096); // extra zero padding
    archive.set(members);
    fc.assert(
      fc.property(fc.array(fc.nat(archive.length), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const f = new TarFollower(items, sha);
        const out: Uint8Array[] = [];
        let prev = 0;
        for (const p of [...points, archive.length]) {
          out.push(...f.push(archive.subarray(prev, p)));
          prev = p;
        }
        f.finish();
        const passed = concat(out);
        assert.equal(passed.length, members.length);
        assert.equal(sha256(passed), sha256(members));
        assert.deepEqual(f.hashes, packed.hashes);
      }),
      { numRuns: 40 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyPushScript() applies a complete stream only, and lists the result", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-apply-" });
  try {
    const src = join(dir, "src");
    await makeSmallTree(src);
    const items = await plan(src);
    const dirs = items.filter((i) => i.type === "dir");
    const sha = await sha256Maker();
    const bytes = await drain(packTree(src, items, control(dirs), "js", sha).stream);
    const dest = join(dir, "dest");
    const script = applyPushScript(dest, NONCE);
    await Deno.mkdir(join(dest, "empty"), { recursive: true });
    await Deno.writeTextFile(join(dest, "secret"), "old");
    await Deno.chmod(join(dest, "empty"), 0o700);
    const before = await snapshot(dest);
    const leftovers = () => [...Deno.readDirSync(dest)].filter((e) => e.name.includes("yonder"));
    await t.step("a stream cut anywhere changes nothing and leaves no staging", async () => {
      for (const cut of [0, 100, 512, 600, 5000, bytes.length - 1536, bytes.length - 1025]) {
        const r = await run(["sh", "-c", script], bytes.subarray(0, cut));
        assert.notEqual(r.code, 0, `cut at ${cut}`);
        assert.deepEqual(await snapshot(dest), before, `cut at ${cut}`);
        assert.deepEqual(leftovers(), []);
      }
    });
    await t.step("the whole stream merges in; modes exact; the listing shows it", async () => {
      const r = await run(["sh", "-c", script], bytes);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await snapshot(dest), await snapshot(src));
      assert.deepEqual(leftovers(), []);
      const listed = parseListing(r.stdout).map((e) => e.name);
      assert.deepEqual(listed, Object.keys(await snapshot(src)).sort());
    });
    await t.step("into a missing directory: moved in whole", async () => {
      const fresh = join(dir, "fresh", "deeper");
      const r = await run(["sh", "-c", applyPushScript(fresh, NONCE)], bytes);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await snapshot(fresh), await snapshot(src));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
