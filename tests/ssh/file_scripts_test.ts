import assert from "node:assert/strict";
import {
  downloadScript,
  FILE_STATUS,
  listScript,
  parseCopied,
  parseSize,
  PREALLOCATE_BYTES,
  readScript,
  statScript,
  writeScript,
} from "../../lib/posix/file_scripts.ts";
import { fileFailure, type Op, parseListing, parseStat } from "../../lib/posix/results.ts";
import {
  FileError,
  NoSpace,
  NotADirectory,
  NotFound,
  PermissionDenied,
  TimedOut,
} from "../../lib/core/errors.ts";
import { HARD_NAMES, randomBytes, sha256 } from "../_files_contract.ts";

const dec = new TextDecoder();

/** Runs a file script with the local POSIX sh (the scripts use only POSIX tools). */
async function sh(script: string, stdin?: Uint8Array, prefix = "") {
  const child = new Deno.Command("sh", {
    args: ["-c", prefix + script],
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: dec.decode(out.stderr) };
}

Deno.test("writeScript() renames only when every byte arrived", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-scripts-" });
  try {
    await Deno.writeTextFile(`${dir}/f`, "old");
    await t.step("a short stdin (the sender died) leaves the destination alone", async () => {
      const r = await sh(
        writeScript({ path: `${dir}/f`, size: 10, mkdirs: false, nonce: "n1" }),
        new TextEncoder().encode("12345"),
      );
      assert.equal(r.code, FILE_STATUS.short);
      assert.match(r.stderr, /expected 10 bytes, got 5/);
      assert.equal(await Deno.readTextFile(`${dir}/f`), "old");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f"]);
    });
    await t.step("the full count replaces it, keeping its mode", async () => {
      await Deno.chmod(`${dir}/f`, 0o640);
      const data = randomBytes(100_000);
      const r = await sh(
        writeScript({ path: `${dir}/f`, size: data.length, mkdirs: false, nonce: "n2" }),
        data,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha256(await Deno.readFile(`${dir}/f`)), sha256(data));
      assert.equal((await Deno.stat(`${dir}/f`)).mode! & 0o777, 0o640);
    });
    await t.step("the file size limit (ulimit -f, SIGXFSZ) is NoSpace", async () => {
      await Deno.writeTextFile(`${dir}/g`, "orig");
      const data = randomBytes(200_000);
      const r = await sh(
        writeScript({ path: `${dir}/g`, size: data.length, mkdirs: false, nonce: "n3" }),
        data,
        "ulimit -f 20\n",
      );
      assert.equal(r.code, FILE_STATUS.noSpace, r.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/g`), "orig");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["f", "g"]);
    });
    await t.step("a stale temp file of a dead writer is removed by the next write", async () => {
      await Deno.writeTextFile(`${dir}/.f.yonder-tmp-999999999-dead`, "stale");
      await Deno.writeTextFile(`${dir}/.f.yonder-tmp-${Deno.pid}-alive`, "in progress");
      const r = await sh(
        writeScript({ path: `${dir}/f`, size: 1, mkdirs: false, nonce: "n4" }),
        new Uint8Array([7]),
      );
      assert.equal(r.code, 0, r.stderr);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names, [`.f.yonder-tmp-${Deno.pid}-alive`, "f", "g"]);
    });
    await t.step("missing parent: not found; with mkdirs: created", async () => {
      const no = await sh(
        writeScript({ path: `${dir}/x/y/z`, size: 0, mkdirs: false, nonce: "n5" }),
      );
      assert.equal(no.code, FILE_STATUS.notFound);
      const file = await sh(
        writeScript({ path: `${dir}/f/z`, size: 0, mkdirs: true, nonce: "n6" }),
      );
      assert.equal(file.code, FILE_STATUS.notDir);
      const yes = await sh(
        writeScript({ path: `${dir}/x/y/z`, size: 0, mkdirs: true, nonce: "n7", mode: 0o600 }),
      );
      assert.equal(yes.code, 0, yes.stderr);
      assert.equal((await Deno.stat(`${dir}/x/y/z`)).mode! & 0o777, 0o600);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeScript() checks the count both ways and keeps modes exact", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-scripts-" });
  const names = () => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  try {
    await Deno.writeTextFile(`${dir}/f`, "old");
    await t.step("more bytes than announced (the source grew) leave it alone", async () => {
      const r = await sh(
        writeScript({ path: `${dir}/f`, size: 3, mkdirs: false, nonce: "l1" }),
        new TextEncoder().encode("12345"),
      );
      assert.equal(r.code, FILE_STATUS.long);
      assert.match(r.stderr, /expected 3 bytes, got 5/);
      assert.equal(await Deno.readTextFile(`${dir}/f`), "old");
      assert.deepEqual(names(), ["f"]);
    });
    for (const size of [1000, PREALLOCATE_BYTES + 1000]) {
      await t.step(
        `${size} bytes: exact copy; short and over-limit inputs apply nothing`,
        async () => {
          const data = randomBytes(size);
          await Deno.chmod(`${dir}/f`, 0o640);
          const ok = await sh(
            writeScript({ path: `${dir}/f`, size, mkdirs: false, nonce: "p1" }),
            data,
          );
          assert.equal(ok.code, 0, ok.stderr);
          assert.equal(sha256(await Deno.readFile(`${dir}/f`)), sha256(data));
          assert.equal((await Deno.stat(`${dir}/f`)).mode! & 0o7777, 0o640, "mode kept");
          const short = await sh(
            writeScript({ path: `${dir}/f`, size: size + 1, mkdirs: false, nonce: "p2" }),
            randomBytes(size),
          );
          assert.equal(short.code, FILE_STATUS.short, short.stderr);
          const limited = await sh(
            writeScript({ path: `${dir}/f`, size, mkdirs: false, nonce: "p3" }),
            randomBytes(size),
            `ulimit -f ${Math.floor(size / 2048)}\n`,
          );
          assert.equal(limited.code, FILE_STATUS.noSpace, limited.stderr);
          assert.equal(sha256(await Deno.readFile(`${dir}/f`)), sha256(data), "old content");
          assert.deepEqual(names(), ["f"]);
        },
      );
    }
    await t.step("a new file gets 0666 less the umask; a given mode wins", async () => {
      const a = await sh(
        writeScript({ path: `${dir}/new`, size: 1, mkdirs: false, nonce: "m1" }),
        new Uint8Array([1]),
        "umask 027\n",
      );
      assert.equal(a.code, 0, a.stderr);
      assert.equal((await Deno.stat(`${dir}/new`)).mode! & 0o7777, 0o640);
      const b = await sh(
        writeScript({ path: `${dir}/new`, size: 1, mkdirs: false, nonce: "m2", mode: 0o4755 }),
        new Uint8Array([2]),
      );
      assert.equal(b.code, 0, b.stderr);
      assert.equal((await Deno.stat(`${dir}/new`)).mode! & 0o7777, 0o4755);
    });
    await t.step("overwriting a symlink gives a file with its target's mode", async () => {
      await Deno.writeTextFile(`${dir}/target`, "t");
      await Deno.chmod(`${dir}/target`, 0o600);
      await Deno.symlink("target", `${dir}/link`);
      const r = await sh(
        writeScript({ path: `${dir}/link`, size: 2, mkdirs: false, nonce: "s1" }),
        new TextEncoder().encode("hi"),
      );
      assert.equal(r.code, 0, r.stderr);
      const st = await Deno.lstat(`${dir}/link`);
      assert.ok(st.isFile);
      assert.equal(st.mode! & 0o7777, 0o600);
      assert.equal(await Deno.readTextFile(`${dir}/target`), "t", "the target is untouched");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadScript() reports the size first and the exact count dd copied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-scripts-" });
  try {
    const data = randomBytes(300_001);
    await Deno.writeFile(`${dir}/f`, data);
    for (const [path, size] of [[`${dir}/f`, data.length], ["/dev/null", 0]] as const) {
      const r = await sh(downloadScript(path, "n0nce"));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, size);
      const stderr = new TextEncoder().encode(r.stderr);
      assert.equal(parseSize(r.stderr, "n0nce"), path === "/dev/null" ? null : size);
      const parsed = parseCopied(stderr, "n0nce");
      assert.equal(parsed.copied, size);
      assert.equal(dec.decode(parsed.stderr), "", "the record is taken out");
      assert.equal(parseCopied(stderr, "other").copied, null, "another nonce's record is not ours");
    }
    assert.equal(sha256((await sh(downloadScript(`${dir}/f`, "n"))).stdout), sha256(data));
    if (Deno.build.os === "linux") {
      // A pseudo-file's size says 0 or 4096; the count is what was sent.
      const r = await sh(downloadScript("/proc/self/status", "n1"));
      const { copied } = parseCopied(new TextEncoder().encode(r.stderr), "n1");
      assert.ok(r.stdout.length > 0);
      assert.equal(copied, r.stdout.length);
    }
    assert.equal((await sh(downloadScript(`${dir}/none`, "n"))).code, FILE_STATUS.notFound);
    assert.equal((await sh(downloadScript(dir, "n"))).code, FILE_STATUS.isDir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readScript() and statScript() report why a path cannot be read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-scripts-" });
  try {
    await Deno.writeTextFile(`${dir}/f`, "hello");
    assert.equal(dec.decode((await sh(readScript(`${dir}/f`))).stdout), "hello");
    assert.equal(dec.decode((await sh(readScript(`${dir}/f`, 3))).stdout), "hel");
    assert.equal((await sh(readScript(`${dir}/none`))).code, FILE_STATUS.notFound);
    assert.equal((await sh(readScript(`${dir}/none/deeper`))).code, FILE_STATUS.notFound);
    assert.equal((await sh(readScript(`${dir}/f/x`))).code, FILE_STATUS.notDir);
    assert.equal((await sh(readScript(dir))).code, FILE_STATUS.isDir);
    const st = await sh(statScript(`${dir}/f`));
    const info = parseStat(`${dir}/f`, dec.decode(st.stdout));
    assert.equal(info.type, "file");
    assert.equal(info.size, 5);
    assert.equal(info.name, "f");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listScript() output parses back to the exact names (find -printf and stat)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-scripts-" });
  try {
    for (const n of HARD_NAMES) await Deno.writeTextFile(`${dir}/${n}`, n);
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/sub/x`, "xx");
    await Deno.chmod(`${dir}/sub/x`, 0o4750);
    const fast = await sh(listScript(dir, { hidden: true, recursive: true }));
    const portable = await sh(
      listScript(dir, { hidden: true, recursive: true, portableOnly: true }),
    );
    assert.equal(fast.code, 0, fast.stderr);
    assert.equal(portable.code, 0, portable.stderr);
    assert.equal(dec.decode(fast.stdout.subarray(0, 2)), "f\0");
    assert.equal(dec.decode(portable.stdout.subarray(0, 2)), "g\0");
    const a = parseListing(fast.stdout);
    const b = parseListing(portable.stdout);
    assert.deepEqual(a.map((e) => e.name), [...HARD_NAMES, "sub", "sub/x"].sort());
    assert.deepEqual(a, b);
    const x = a.find((e) => e.name === "sub/x")!;
    assert.deepEqual([x.type, x.size, x.mode], ["file", 2, 0o4750]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseListing() reads BSD stat batches and skips names that vanished", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  // Batch 1: three names, the middle one gone before stat ran. Batch 2: a name with a newline.
  const out = enc(
    "b\0" + "./a\0./gone\0./c d\0\0" +
      "100644 3 1700000000 ./a\n" + "40755 64 1700000001 ./c d\n" + "\0" +
      "./x\ny\0\0" + "120755 1 1700000002 ./x\ny\n" + "\0",
  );
  const entries = parseListing(out);
  assert.deepEqual(entries.map((e) => [e.name, e.type, e.size, e.mode]), [
    ["a", "file", 3, 0o644],
    ["c d", "dir", 64, 0o755],
    ["x\ny", "symlink", 1, 0o755],
  ]);
  assert.equal(entries[0]!.mtime.getTime(), 1700000000_000);
});

Deno.test("parseListing() does not take a forged line inside a name for a record", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const evil = "a\n81a4 9 9 ./b";
  const out = enc(`g\0./${evil}\0./b\0\0` + `81a4 1 5 ./${evil}\n` + `\0`);
  assert.deepEqual(parseListing(out).map((e) => [e.name, e.size]), [[evil, 1]]);
});

Deno.test("fileFailure() turns each exit status into its error class, message and hint", () => {
  const result = (code: number, stderr = "") => ({
    code,
    signal: null,
    stdout: new Uint8Array(),
    stderr: new TextEncoder().encode(stderr),
    timedOut: false,
    truncated: false,
    durationMs: 1,
  });
  const failure = (code: number, op: Op, stderr = "") =>
    fileFailure(result(code, stderr), op, "/d/f", "h1") as FileError;
  const S = FILE_STATUS;
  const cases: [FileError, typeof FileError | typeof TimedOut, string, string?][] = [
    [failure(S.notFound, "read"), NotFound, `"/d/f" does not exist on "h1"`],
    [
      failure(S.notFound, "write"),
      NotFound,
      `Directory "/d" does not exist on "h1"`,
      "Create it first, or pass mkdirs (CLI: --mkdirs)",
    ],
    [
      failure(S.notFound, "create"),
      NotFound,
      `Directory "/d" does not exist on "h1"`,
      "Create it first, or pass mkdirs (CLI: --mkdirs)",
    ],
    [
      failure(S.denied, "remove"),
      PermissionDenied,
      `Permission denied: cannot remove "/d/f" on "h1"`,
    ],
    [failure(S.notDir, "list"), NotADirectory, `"/d/f" on "h1" is not a directory`],
    [failure(S.notDir, "stat"), NotADirectory, `A parent of "/d/f" on "h1" is not a directory`],
    [
      failure(S.noSpace, "write", "dd: write error\nNo space left on device\n"),
      NoSpace,
      `No space left on "h1" to write "/d/f": No space left on device`,
      "Free space (or raise the file size limit) on the remote; the destination was not changed",
    ],
    [failure(S.isDir, "read"), FileError, `"/d/f" on "h1" is a directory`],
    [
      failure(S.short, "write", "short\n"),
      FileError,
      `The upload of "/d/f" to "h1" was cut short: short; the destination is unchanged`,
    ],
    [
      failure(S.long, "write"),
      FileError,
      `The upload of "/d/f" to "h1" brought more bytes than announced; the destination is unchanged`,
      "The source grew while it was sent; retry once it stops changing",
    ],
    [failure(S.exists, "create"), FileError, `"/d/f" already exists on "h1"`],
    [
      failure(S.notEmpty, "remove"),
      FileError,
      `Directory "/d/f" on "h1" is not empty`,
      "Pass recursive to remove it with everything in it",
    ],
    [failure(S.io, "read", "read error\n"), FileError, `Cannot read "/d/f" on "h1": read error`],
    [failure(124, "read"), TimedOut, `Timed out: cannot read "/d/f" on "h1"`],
    [failure(143, "write"), FileError, `Stopped: write of "/d/f" on "h1"`],
    [failure(1, "stat"), FileError, `Cannot stat "/d/f" on "h1" (exit 1)`],
  ];
  for (const [e, cls, message, hint] of cases) {
    assert.deepEqual([e.constructor, e.message, e.hint], [cls, message, hint]);
  }
  // The path an error is about: the parent, where a missing or non-directory parent is the cause.
  assert.deepEqual(
    [
      failure(S.notFound, "write").path,
      failure(S.notFound, "create").path,
      failure(S.notDir, "read").path,
      failure(S.notDir, "list").path,
      failure(S.denied, "read").where,
    ],
    ["/d", "/d/f", "/d", "/d/f", "h1"],
  );
  // A call stopped by its signal rejects with the signal's reason, whatever the status.
  const stop = new AbortController();
  stop.abort(new Error("stopped"));
  const reason = fileFailure(result(S.notFound), "read", "/d/f", "h1", stop.signal);
  assert.equal(reason, stop.signal.reason);
});
