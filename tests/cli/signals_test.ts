/**
 * The signals matrix: SIGINT, SIGTERM, SIGHUP and SIGKILL sent to `yonder exec` (a channel),
 * to a library process running a session call, and to `yonder put` and `yonder get` in the
 * middle of their work. Each ends with 128+n; within 5 s no remote command, no remote or local
 * temp file (a later write in the same directory sweeps what a SIGKILL left), no local ssh
 * process and no socket dir is left; the destination is old or new, never a part.
 * (`yonder push` is covered the same way, phase by phase, in tests/tree/push_interrupt_test.ts.)
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { type Probe, survivors, uniqueSleep } from "../_contract.ts";
import { connFlags, startCli } from "./_run.ts";

const SIGNALS: [Deno.Signal, number][] = [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
  ["SIGKILL", 137],
];
const ENV_MODULE = new URL("../../lib/ssh/environment.ts", import.meta.url).href;
const dec = new TextDecoder();

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  return dec.decode(out.stdout).trim();
}

/** Local ssh processes talking to `port`, and yonder's socket dirs. */
async function localLeftovers(port: number, dirsBefore: Set<string>): Promise<string> {
  const ssh = await sh(
    `ps -eo pid=,stat=,args= | grep -e ' ssh .*-p ${port} ' | grep -v -e grep -e ' Z' || true`,
  );
  const dirs = (await sh("ls -d /tmp/yonder-* 2>/dev/null || true")).split("\n")
    .filter((d) => /^\/tmp\/yonder-[0-9a-f]{16}$/.test(d) && !dirsBefore.has(d));
  // A dir left: what is in it, and which process still names it (for the failure message).
  const about = await Promise.all(dirs.map((d) =>
    sh(
      `ls -la '${d}' 2>&1; ps -eo pid=,ppid=,stat=,args= | grep -F '${d}' | grep -v grep; ` +
        `for p in $(ps -eo ppid=,args= | grep -F '${d}' | grep -v grep | awk '{print $1}' | sort -u); ` +
        `do ps -o pid=,ppid=,etimes=,args= -p "$p" | cut -c1-300; done`,
    )
  ));
  return [ssh, ...dirs, ...about].filter((l) => l !== "").join("\n");
}

async function socketDirs(): Promise<Set<string>> {
  return new Set((await sh("ls -d /tmp/yonder-* 2>/dev/null || true")).split("\n"));
}

/** Polls `check` until it returns "" or `ms` passed; returns its last answer. */
async function settles(check: () => Promise<string>, ms = 5000): Promise<string> {
  const until = performance.now() + ms;
  let last = await check();
  while (last !== "" && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    last = await check();
  }
  return last;
}

/**
 * Sends `signal` to a started process, checks its exit code, and that neither the remote command
 * (`remote` lists what is left of it) nor anything local (`local`) stays behind.
 */
async function killAndCheck(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
  code: number,
  remote: () => Promise<string>,
  local: () => Promise<string>,
): Promise<void> {
  child.kill(signal);
  const [status] = await Promise.all([child.status, child.stdout.cancel(), child.stderr.cancel()]);
  assert.equal(status.code, code);
  assert.equal(await settles(remote), "", "the remote command ended");
  assert.equal(await settles(local), "");
}

async function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return dec.decode(value).trim();
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

liveSshTest(
  "signals matrix: yonder exec and a library session call end 128+n, leave nothing",
  async (t) => {
    await using host = await openLiveHost();
    const probe: Probe = (s) => host.remote(s);
    const port = host.fixture?.port ?? 22;
    for (const [signal, code] of SIGNALS) {
      await t.step(`yonder exec, ${signal}`, async () => {
        const before = await socketDirs();
        const tag = uniqueSleep();
        const child = startCli([
          "exec",
          ...connFlags(host),
          "--",
          "sh",
          "-c",
          'echo started; sleep "$1"',
          "sh",
          tag,
        ]);
        assert.equal(await readLine(child.stdout), "started");
        await killAndCheck(
          child,
          signal,
          code,
          () => survivors(probe, tag),
          () => localLeftovers(port, before),
        );
      });
      await t.step(`a library process on a session, ${signal}`, async () => {
        const before = await socketDirs();
        const tag = uniqueSleep();
        const script = `
import { SshEnvironment } from ${JSON.stringify(ENV_MODULE)};
const env = await SshEnvironment.open(${JSON.stringify(host.target)}, ${
          JSON.stringify(host.connect)
        });
env.exec("echo started; sleep ${tag}", { onStdout: () => console.log("started") });
await new Promise(() => setInterval(() => {}, 1000));
`;
        const child = new Deno.Command(Deno.execPath(), {
          args: ["eval", script],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        assert.equal(await readLine(child.stdout), "started");
        await killAndCheck(
          child,
          signal,
          code,
          () => survivors(probe, tag),
          () => localLeftovers(port, before),
        );
      });
    }
  },
);

liveSshTest(
  "signals matrix: yonder put and get mid-transfer end 128+n, old or new, no temp",
  async (t) => {
    await using host = await openLiveHost();
    const port = host.fixture?.port ?? 22;
    const work = await Deno.makeTempDir();
    const base = (await host.remote("mktemp -d")).stdout.trim();
    try {
      // 200 MiB takes a few seconds over loopback: long enough to be interrupted in the middle.
      const big = `${work}/big.bin`;
      await sh(`head -c 209715200 /dev/urandom > '${big}'`);
      const bigSha = await sh(`sha256sum < '${big}' | cut -c1-64`);
      await host.remote(`head -c 209715200 /dev/urandom > '${base}/remote.bin'`);
      const remoteSha = (await host.remote(`sha256sum < '${base}/remote.bin' | cut -c1-64`)).stdout
        .trim();
      const oldText = new TextEncoder().encode("old content\n");
      for (const [signal, code] of SIGNALS) {
        await t.step(`yonder put, ${signal}`, async () => {
          const before = await socketDirs();
          await host.remote(`printf 'old content\\n' > '${base}/dest.bin'`);
          const child = startCli(["put", ...connFlags(host), big, `${base}/dest.bin`]);
          // Interrupt once the temp file beside the destination is filling.
          for (let i = 0; i < 200; i++) {
            const r = await host.remote(`ls -a '${base}' | grep -c yonder-tmp || true`);
            if (r.stdout.trim() !== "0") break;
            await new Promise((r) => setTimeout(r, 20));
          }
          child.kill(signal);
          const status = await child.output();
          assert.equal(status.code, code, dec.decode(status.stderr));
          if (signal === "SIGKILL") {
            // A killed writer's remote side may end without cleaning up; what it left goes with
            // the next write in that directory, once it is gone.
            await settles(async () =>
              (await host.remote(
                `for f in '${base}'/.*yonder-tmp-*; do p=\${f##*yonder-tmp-}; p=\${p%%-*}; ` +
                  `kill -0 "$p" 2>/dev/null && echo "$p"; done; true`,
              )).stdout.trim()
            );
            await Deno.writeTextFile(`${work}/small`, "x");
            const next = await startCli(["put", ...connFlags(host), `${work}/small`, `${base}/x`])
              .output();
            assert.equal(next.code, 0, dec.decode(next.stderr));
          }
          const left = await settles(async () =>
            (await host.remote(`ls -a '${base}' | grep yonder-tmp || true`)).stdout.trim()
          );
          assert.equal(left, "", "no temp file is left on the remote");
          const got = (await host.remote(`sha256sum < '${base}/dest.bin' | cut -c1-64`)).stdout
            .trim();
          assert.ok(got === sha(oldText) || got === bigSha, "the destination is old or new");
          assert.equal(await settles(() => localLeftovers(port, before)), "");
        });
        await t.step(`yonder get, ${signal}`, async () => {
          const before = await socketDirs();
          const dest = `${work}/got.bin`;
          await Deno.writeFile(dest, oldText);
          const child = startCli(["get", ...connFlags(host), `${base}/remote.bin`, dest]);
          for (let i = 0; i < 200; i++) {
            if ((await sh(`ls -a '${work}' | grep -c got.bin.yonder-tmp || true`)) !== "0") break;
            await new Promise((r) => setTimeout(r, 20));
          }
          child.kill(signal);
          const status = await child.output();
          assert.equal(status.code, code, dec.decode(status.stderr));
          if (signal === "SIGKILL") {
            // What a killed download left goes with the next download into that directory.
            await host.remote(`printf y > '${base}/y'`);
            assert.equal(
              (await startCli(["get", ...connFlags(host), `${base}/y`, `${work}/y`]).output()).code,
              0,
            );
          }
          assert.equal(await sh(`ls -a '${work}' | grep yonder-tmp || true`), "", "no local temp");
          const got = sha(await Deno.readFile(dest));
          assert.ok(got === sha(oldText) || got === remoteSha, "the destination is old or new");
          assert.equal(await settles(() => localLeftovers(port, before)), "");
        });
      }
    } finally {
      await host.remote(`rm -rf '${base}'`);
      await Deno.remove(work, { recursive: true });
    }
  },
);
