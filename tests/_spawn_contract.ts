/**
 * The spawn contract: a streaming child on every path (local, a channel, a session) streams
 * large output with bounded memory, takes stdin incrementally, is stopped whole by kill() and by
 * a cancelled reader, and reports errors on its status. Also the `$` template and `check`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Environment } from "../lib/core/environment.ts";
import { CommandFailed, NotFound } from "../lib/core/errors.ts";
import { type Probe, survivors, uniqueSleep } from "./_contract.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const MiB = 1024 * 1024;

/** Waits until `sleep tag` is gone on the probed machine (or 5 s), and returns what is left. */
async function goneWithin5s(probe: Probe, tag: string): Promise<string> {
  let left = "";
  for (let i = 0; i < 50; i++) {
    left = await survivors(probe, tag);
    if (left === "") return "";
    await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

/** Runs the contract as steps of `t`. `stdin`: the path can take a piped stdin. */
export async function runSpawnContract(
  t: Deno.TestContext,
  env: Environment,
  probe: Probe,
  how: { stdin: boolean },
): Promise<void> {
  await t.step("50 MiB of stdout stream through with bounded memory", async () => {
    const size = 50 * MiB;
    const child = env.spawn(`yes 0123456789abcdef | head -c ${size}`);
    // Nothing reads for a while: without backpressure the whole output would queue here.
    const before = Deno.memoryUsage();
    await new Promise((r) => setTimeout(r, 1500));
    const paused = Deno.memoryUsage();
    let n = 0;
    const got = createHash("sha256");
    for await (const chunk of child.stdout) {
      n += chunk.length;
      got.update(chunk);
    }
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.equal(n, size);
    const line = enc.encode("0123456789abcdef\n");
    const block = new Uint8Array(line.length * 4096);
    for (let i = 0; i < 4096; i++) block.set(line, i * line.length);
    const want = createHash("sha256");
    for (let at = 0; at < size; at += block.length) {
      want.update(block.subarray(0, Math.min(block.length, size - at)));
    }
    assert.equal(got.digest("hex"), want.digest("hex"), "the bytes differ from what yes wrote");
    const grew = (paused.rss - before.rss) / MiB;
    assert.ok(grew < 24, `memory grew by ${grew.toFixed(1)} MiB while nothing read`);
  });

  await t.step("stdout and stderr stay apart; the status carries the exit code", async () => {
    const child = env.spawn("echo out; echo err >&2; exit 7");
    const [out, err] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    assert.equal(out, "out\n");
    assert.equal(err, "err\n");
    const s = await child.status;
    assert.equal(s.code, 7);
    assert.equal(s.timedOut, false);
  });

  if (how.stdin) {
    await t.step(
      "stdin is written incrementally: cat echoes each line before the next",
      async () => {
        await using child = env.spawn(["cat"], { stdin: "piped" });
        const w = child.stdin.getWriter();
        const r = child.stdout.getReader();
        for (let i = 0; i < 20; i++) {
          const line = `line ${i}\n`;
          await w.write(enc.encode(line));
          let got = "";
          while (got.length < line.length) {
            const { value, done } = await r.read();
            assert.ok(!done, `stdout ended before "${line.trim()}" came back`);
            got += dec.decode(value);
          }
          assert.equal(got, line);
        }
        await w.close();
        assert.equal((await r.read()).done, true);
        assert.equal((await child.status).code, 0);
      },
    );
  }

  await t.step("kill() mid-stream stops the whole remote process group", async () => {
    const tag = uniqueSleep();
    const child = env.spawn(
      `(while :; do echo tick; sleep 0.05; done) & sleep ${tag} & echo started; wait`,
    );
    const r = child.stdout.getReader();
    assert.match(dec.decode((await r.read()).value), /started|tick/);
    assert.notEqual(await survivors(probe, tag), "", "the command did not start");
    child.kill();
    const s = await child.status;
    assert.equal(s.code, 143);
    assert.equal(s.signal, "SIGTERM");
    assert.equal(await goneWithin5s(probe, tag), "");
    // The stream ends: what was in flight drains, then done.
    while (!(await r.read()).done) { /* drain */ }
  });

  await t.step(
    "kill(SIGINT) sends INT to the group once; the command ends its own way",
    async () => {
      const child = env.spawn(
        `trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done`,
      );
      const reader = child.stdout.getReader();
      let text = "";
      while (!text.includes("ready")) {
        const { value, done } = await reader.read();
        assert.ok(!done, "ended before it was ready");
        text += dec.decode(value);
      }
      await child.kill("SIGINT");
      const s = await child.status;
      assert.equal(s.code, 7, "the command's INT handler did not decide the status");
      assert.equal(s.signal, null);
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        text += dec.decode(
          r.value,
        );
      }
      assert.equal(text, "ready\ngot-int\n");
      // After the end a signal goes nowhere; a bad name is refused.
      await child.kill("SIGUSR1");
      const other = env.spawn("sleep 5");
      await assert.rejects(other.kill("NOPE" as Deno.Signal), /Not a signal name/);
      await other.kill();
      assert.equal((await other.status).code, 143);
    },
  );

  await t.step("cancelling a reader stops the command", async () => {
    const tag = uniqueSleep();
    const child = env.spawn(`sleep ${tag} & while :; do echo tick; sleep 0.05; done`);
    const r = child.stdout.getReader();
    await r.read();
    assert.notEqual(await survivors(probe, tag), "", "the command did not start");
    await r.cancel();
    assert.equal((await child.status).code, 143);
    assert.equal(await goneWithin5s(probe, tag), "");
  });

  await t.step("await using disposes a running child: the command is stopped", async () => {
    const tag = uniqueSleep();
    {
      await using child = env.spawn(`sleep ${tag}`);
      await new Promise((r) => setTimeout(r, 300));
      assert.notEqual(await survivors(probe, tag), "", "the command did not start");
      void child;
    }
    assert.equal(await goneWithin5s(probe, tag), "");
  });

  await t.step("a timeout stops a child nobody reads", async () => {
    const child = env.spawn("yes", { timeoutMs: 500 });
    const s = await child.status;
    assert.equal(s.code, 124);
    assert.equal(s.timedOut, true);
    await child.stdout.cancel();
  });

  await t.step("a callback that never lets go of a chunk is cut short by the timeout", async () => {
    const started = performance.now();
    const r = await env.exec(["echo", "hi"], {
      timeoutMs: 1000,
      onStdout: () => new Promise<void>(() => {}),
    });
    // The command had ended: its own status stands; the call did not wait past the timeout.
    assert.equal(r.code, 0);
    assert.ok(performance.now() - started < 4000, "the call outlived its timeout");
    // Output nobody reads, past the pipes' size, under a timeout: the status still comes.
    const child = env.spawn("head -c 3000000 /dev/zero", { timeoutMs: 1000 });
    assert.equal((await child.status).code, 124);
    await child.stdout.cancel();
    // The path still serves the next call.
    assert.equal((await env.exec(["echo", "next"])).code, 0);
  });

  await t.step("a callback's promise that rejects late still rejects the call", async () => {
    const late = new Error("late");
    await assert.rejects(
      env.exec(["echo", "hi"], {
        onStdout: async () => {
          await new Promise((r) => setTimeout(r, 100));
          throw late;
        },
      }),
      (e) => e === late,
    );
    const early = new Error("onStart");
    await assert.rejects(
      env.exec(["sleep", "0.3"], {
        onStart: async () => {
          await Promise.resolve();
          throw early;
        },
      }),
      (e) => e === early,
    );
  });

  await t.step("a slow reader gets every byte", async () => {
    const size = 1024 * 1024;
    const child = env.spawn(`head -c ${size} /dev/zero`);
    let n = 0;
    for await (const chunk of child.stdout) {
      n += chunk.length;
      await new Promise((r) => setTimeout(r, 40));
    }
    assert.equal(n, size);
    assert.equal((await child.status).code, 0);
  });

  await t.step("a missing cwd rejects the status and errors the streams", async () => {
    const child = env.spawn(["true"], {
      cwd: "/nonexistent/yonder-spawn",
      stdin: how.stdin ? "piped" : "null",
    });
    await assert.rejects(child.status, NotFound);
    await assert.rejects(new Response(child.stdout).text(), NotFound);
    // Its stdin was never read: a write fails instead of waiting for ever.
    await assert.rejects(child.stdin.getWriter().write(enc.encode("x")));
  });

  await t.step("$: each value is one literal word, whatever it holds", async () => {
    const hostile = ["$(touch /tmp/yonder-dollar-x)", "; rm -rf ~", "a'b\"c", "*", "x\ny", ""];
    const r = await env.$`printf '<%s>' ${hostile} ${42}`;
    assert.equal(dec.decode(r.stdout), hostile.map((h) => `<${h}>`).join("") + "<42>");
    assert.equal((await probe("test -e /tmp/yonder-dollar-x && echo made || true")).stdout, "");
    assert.equal(await env.$`printf %s ${"a b"}`.text(), "a b");
  });

  await t.step("$ and check: a non-zero exit is a CommandFailed with the result", async () => {
    await assert.rejects(async () => await env.$`echo oops >&2; exit 3`, (e) => {
      assert.ok(e instanceof CommandFailed);
      assert.equal(e.code, 3);
      assert.equal(e.stderrTail, "oops");
      return true;
    });
    await assert.rejects(env.exec(["false"], { check: true }), CommandFailed);
    assert.equal((await env.$`exit 4`.exec({ check: false })).code, 4);
    assert.equal((await env.exec(["false"])).code, 1);
  });
}
