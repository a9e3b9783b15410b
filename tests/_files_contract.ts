/**
 * The file-operation contract every {@linkcode Environment} meets, as `t.step`s. Run against
 * `LocalEnvironment` (tests/local_files_test.ts) and `SshEnvironment` on the live fixture
 * (tests/ssh/files_test.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Environment } from "../lib/core/environment.ts";
import { FileError, NotADirectory, NotFound, UsageError } from "../lib/core/errors.ts";

/** sha256 hex of bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** `n` random bytes (crypto-random, in 64 KiB blocks). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  }
  return out;
}

/** Names that are hard for shells and line-based parsers, all valid as file names. */
export const HARD_NAMES = [
  "with space",
  "new\nline",
  "trailing newline\n",
  "quote's",
  'double"quote',
  "-leading-dash",
  "--",
  ".hidden",
  "..dots",
  "...",
  "back\\slash",
  "tab\there",
  "$(echo pwned)",
  "*glob?[x]",
  "ünïcödé ✓",
  "a".repeat(200),
];

async function throwsTyped(
  p: Promise<unknown>,
  cls: new (...args: never[]) => Error,
  path?: string,
): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    if (path !== undefined) assert.equal((e as FileError).path, path);
    return e as Error;
  }
  assert.fail(`expected ${cls.name}, nothing was thrown`);
}

/**
 * Runs the contract against `env`. `root` is an empty directory that `env` sees; `local` is a
 * local scratch directory for uploads and downloads.
 */
export async function fileContract(
  t: Deno.TestContext,
  env: Environment,
  root: string,
  local: string,
): Promise<void> {
  const p = (name: string) => `${root}/${name}`;

  await t.step(
    "writeFile then readFile round-trips 0 B, 1 B and 64 KiB of random bytes",
    async () => {
      for (const size of [0, 1, 65536]) {
        const data = randomBytes(size);
        await env.writeFile(p(`r${size}`), data);
        const back = await env.readFile(p(`r${size}`));
        assert.equal(back.length, size);
        assert.equal(sha256(back), sha256(data));
        const info = await env.stat(p(`r${size}`));
        assert.equal(info.type, "file");
        assert.equal(info.size, size);
        assert.equal(info.name, `r${size}`);
      }
    },
  );

  await t.step("writeFile takes text and streams; readFileStream streams", async () => {
    await env.writeFile(p("text"), "héllo\n");
    assert.equal(new TextDecoder().decode(await env.readFile(p("text"))), "héllo\n");
    const data = randomBytes(300_000);
    await env.writeFile(p("streamed"), new Blob([data]).stream());
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    const n = await env.readFileStream(p("streamed"), (c) => chunks.push(new Uint8Array(c)));
    assert.equal(n, data.length);
    assert.equal(sha256(new Uint8Array(await new Blob(chunks).arrayBuffer())), sha256(data));
  });

  await t.step("mode: set on write, kept on overwrite, default 0666 less the umask", async () => {
    await env.writeFile(p("secret"), "x", { mode: 0o600 });
    assert.equal((await env.stat(p("secret"))).mode, 0o600);
    await env.writeFile(p("secret"), "yy");
    assert.equal((await env.stat(p("secret"))).mode, 0o600);
    assert.equal(new TextDecoder().decode(await env.readFile(p("secret"))), "yy");
    await env.writeFile(p("script"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal((await env.stat(p("script"))).mode, 0o755);
    await env.writeFile(p("plain"), "x");
    const mode = (await env.stat(p("plain"))).mode;
    assert.equal(mode & 0o600, 0o600, `new file mode ${mode.toString(8)}`);
    assert.equal(mode & 0o111, 0);
  });

  await t.step("readFile of a missing file is NotFound with the path", async () => {
    await throwsTyped(env.readFile(p("missing")), NotFound, p("missing"));
    await throwsTyped(env.stat(p("missing")), NotFound, p("missing"));
    await throwsTyped(env.list(p("missing")), NotFound, p("missing"));
    await throwsTyped(env.readFile(p("missing/deeper")), NotFound);
  });

  await t.step("a file used as a directory is NotADirectory", async () => {
    await throwsTyped(env.readFile(p("plain/x")), NotADirectory, p("plain"));
    await throwsTyped(env.writeFile(p("plain/x"), "x"), NotADirectory, p("plain"));
    await throwsTyped(env.list(p("plain")), NotADirectory, p("plain"));
  });

  await t.step("a directory is not read or overwritten as a file", async () => {
    await env.mkdir(p("adir"));
    const e = await throwsTyped(env.readFile(p("adir")), FileError, p("adir"));
    assert.match(e.message, /is a directory/);
    await throwsTyped(env.writeFile(p("adir"), "x"), FileError, p("adir"));
    assert.equal((await env.stat(p("adir"))).type, "dir");
  });

  await t.step("maxBytes refuses a larger file and allows an equal one", async () => {
    await env.writeFile(p("ten"), "0123456789");
    assert.equal((await env.readFile(p("ten"), { maxBytes: 10 })).length, 10);
    const e = await throwsTyped(env.readFile(p("ten"), { maxBytes: 9 }), FileError, p("ten"));
    assert.match(e.message, /larger than 9 bytes/);
  });

  await t.step("writing into a missing directory fails without mkdirs, works with it", async () => {
    await throwsTyped(env.writeFile(p("no/such/f"), "x"), NotFound, p("no/such"));
    await throwsTyped(env.list(p("no")), NotFound);
    await env.writeFile(p("no/such/f"), "made", { mkdirs: true });
    assert.equal(new TextDecoder().decode(await env.readFile(p("no/such/f"))), "made");
    assert.equal((await env.stat(p("no/such"))).type, "dir");
  });

  await t.step("hard names round-trip through writeFile, list and readFile", async () => {
    await env.mkdir(p("names"));
    for (const name of HARD_NAMES) await env.writeFile(p(`names/${name}`), name);
    const visible = await env.list(p("names"));
    assert.deepEqual(
      visible.map((e) => e.name),
      HARD_NAMES.filter((n) => !n.startsWith(".")).sort(),
    );
    const all = await env.list(p("names"), { hidden: true });
    assert.deepEqual(all.map((e) => e.name), [...HARD_NAMES].sort());
    for (const e of all) {
      assert.equal(e.type, "file");
      assert.equal(e.size, new TextEncoder().encode(e.name).length);
      assert.equal(new TextDecoder().decode(await env.readFile(p(`names/${e.name}`))), e.name);
    }
  });

  await t.step("list: types, sizes, modes, mtimes; recursive; hidden dirs pruned", async () => {
    await env.mkdir(p("tree/sub/.hid"), { recursive: true });
    await env.writeFile(p("tree/a"), "aaa", { mode: 0o640 });
    await env.writeFile(p("tree/sub/b"), "bb");
    await env.writeFile(p("tree/sub/.hid/c"), "c");
    await env.writeFile(p("tree/.dot"), "d");
    const r = await env.exec(["ln", "-s", "a", p("tree/link")]);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const top = await env.list(p("tree"));
    assert.deepEqual(top.map((e) => [e.name, e.type]), [
      ["a", "file"],
      ["link", "symlink"],
      ["sub", "dir"],
    ]);
    const a = top[0]!;
    assert.equal(a.size, 3);
    assert.equal(a.mode, 0o640);
    assert.ok(Math.abs(a.mtime.getTime() - Date.now()) < 120_000, `mtime ${a.mtime}`);
    assert.equal(top[1]!.size, 1);
    const rec = await env.list(p("tree"), { recursive: true });
    assert.deepEqual(rec.map((e) => e.name), ["a", "link", "sub", "sub/b"]);
    const recAll = await env.list(p("tree"), { recursive: true, hidden: true });
    assert.deepEqual(recAll.map((e) => e.name), [
      ".dot",
      "a",
      "link",
      "sub",
      "sub/.hid",
      "sub/.hid/c",
      "sub/b",
    ]);
    assert.equal((await env.stat(p("tree/link"))).type, "symlink");
  });

  await t.step("remove: file, empty dir, tree with recursive; missing is NotFound", async () => {
    await env.remove(p("tree/a"));
    await throwsTyped(env.stat(p("tree/a")), NotFound);
    const e = await throwsTyped(env.remove(p("tree/sub")), FileError, p("tree/sub"));
    assert.match(e.message, /not empty/);
    await env.remove(p("tree/sub"), { recursive: true });
    await throwsTyped(env.stat(p("tree/sub")), NotFound);
    await env.remove(p("tree/link"));
    await throwsTyped(env.remove(p("tree/nothing")), NotFound, p("tree/nothing"));
    await env.remove(p("tree/nothing"), { force: true });
    await assert.rejects(env.remove("/"), UsageError);
    await assert.rejects(env.remove(`${root}/..`), UsageError);
  });

  await t.step(
    "mkdir: parents only with recursive; existing is an error unless recursive",
    async () => {
      await throwsTyped(env.mkdir(p("m1/m2")), NotFound, p("m1/m2"));
      await env.mkdir(p("m1/m2"), { recursive: true });
      await env.mkdir(p("m1/m2"), { recursive: true });
      await throwsTyped(env.mkdir(p("m1/m2")), FileError, p("m1/m2"));
      await env.mkdir(p("m1/private"), { mode: 0o700 });
      assert.equal((await env.stat(p("m1/private"))).mode, 0o700);
      await throwsTyped(env.mkdir(p("plain/sub"), { recursive: true }), NotADirectory);
    },
  );

  await t.step("upload and download copy local files atomically", async () => {
    const src = join(local, "up.bin");
    const data = randomBytes(200_001);
    await Deno.writeFile(src, data);
    const progress: number[] = [];
    assert.equal(
      await env.upload(src, p("up.bin"), { onProgress: (pr) => progress.push(pr.bytes) }),
      data.length,
    );
    assert.equal(progress.at(-1), data.length);
    const dst = join(local, "down", "up.bin");
    await assert.rejects(env.download(p("up.bin"), dst), NotFound);
    assert.equal(await env.download(p("up.bin"), dst, { mkdirs: true }), data.length);
    assert.equal(sha256(await Deno.readFile(dst)), sha256(data));
    await throwsTyped(env.download(p("missing"), dst), NotFound, p("missing"));
    assert.equal(sha256(await Deno.readFile(dst)), sha256(data), "old local file intact");
    const leftovers = [...Deno.readDirSync(join(local, "down"))].map((e) => e.name);
    assert.deepEqual(leftovers, ["up.bin"]);
  });

  await t.step(
    "an aborted signal rejects every file and tree operation with its reason",
    async () => {
      const reason = new Error("stop here");
      const signal = AbortSignal.abort(reason);
      const src = join(local, "sig-src.txt");
      await Deno.writeTextFile(src, "x");
      await env.writeFile(p("sig.txt"), "keep");
      const ops: [string, () => Promise<unknown>][] = [
        ["readFile", () => env.readFile(p("sig.txt"), { signal })],
        ["readFileStream", () => env.readFileStream(p("sig.txt"), () => {}, { signal })],
        ["writeFile", () => env.writeFile(p("sig.txt"), "new", { signal })],
        ["upload", () => env.upload(src, p("sig.txt"), { signal })],
        ["download", () => env.download(p("sig.txt"), join(local, "sig-dl.txt"), { signal })],
        ["stat", () => env.stat(p("sig.txt"), { signal })],
        ["list", () => env.list(root, { signal })],
        ["remove", () => env.remove(p("sig.txt"), { signal })],
        ["mkdir", () => env.mkdir(p("sig-dir"), { signal })],
        ["push", () => env.push(local, p("sig-tree"), { signal })],
        ["pull", () => env.pull(root, join(local, "sig-pulled"), { signal })],
      ];
      for (const [name, run] of ops) {
        let got: unknown = "no rejection";
        try {
          await run();
        } catch (e) {
          got = e;
        }
        assert.equal(got, reason, `${name}: ${got}`);
      }
      assert.equal(new TextDecoder().decode(await env.readFile(p("sig.txt"))), "keep");
      await assert.rejects(env.stat(p("sig-dir")), NotFound);
      await assert.rejects(env.stat(p("sig-tree")), NotFound);
      await env.remove(p("sig.txt"));
    },
  );

  await t.step("an abort during a long read rejects with the signal's reason", async () => {
    const big = randomBytes(8 * 1024 * 1024);
    await env.writeFile(p("big-sig.bin"), big);
    const stop = new AbortController();
    const reason = new Error("enough");
    let seen = 0;
    const reading = env.readFileStream(p("big-sig.bin"), (c) => {
      seen += c.length;
      if (seen > 0) stop.abort(reason);
    }, { signal: stop.signal });
    await assert.rejects(reading, (e) => {
      assert.equal(e, reason);
      return true;
    });
    await env.remove(p("big-sig.bin"));
  });

  await t.step("no temp files are left behind", async () => {
    const all = await env.list(root, { recursive: true, hidden: true });
    assert.deepEqual(all.filter((e) => e.name.includes("yonder-tmp")), []);
  });
}
