/**
 * The call-lifecycle contract every exec path meets (local, channel, session stateless and
 * stateful): a call's output is that call's only, whatever it leaves running; every wait is
 * bounded by the call's timeout and signal; what a call leaves in its process group ends with the
 * call, while what it detaches on purpose (`nohup`, `setsid`) survives but cannot write into
 * anything of ours.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Environment } from "../lib/core/environment.ts";
import { type Probe, survivors, uniqueSleep } from "./_contract.ts";

const dec = new TextDecoder();
const text = (b: Uint8Array) => dec.decode(b);

/** A stdin that never sends a byte and never ends. */
export function silentStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
}

/** A stdin that trickles a byte every 50 ms and never ends. */
export function tricklingStream(): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setInterval> | undefined;
  return new ReadableStream<Uint8Array>({
    start(c) {
      timer = setInterval(() => {
        try {
          c.enqueue(new Uint8Array([0x61]));
        } catch {
          clearInterval(timer);
        }
      }, 50);
    },
    cancel() {
      clearInterval(timer);
    },
  });
}

/** How the path takes stdin: sessions in stateful mode refuse it. */
export interface LifecycleOptions {
  /** The environment accepts `stdin` (false for a stateful session). */
  stdin: boolean;
}

/** Runs the lifecycle contract as steps of `t`. */
export async function runLifecycleContract(
  t: Deno.TestContext,
  env: Environment,
  probe: Probe,
  options: LifecycleOptions,
): Promise<void> {
  await t.step("a background job's late output never reaches a later call", async () => {
    const tag = uniqueSleep();
    const a = await env.exec(
      `(sleep 0.4; echo SECRET-OF-A; echo SECRET-OF-A >&2) & echo A-done; sleep ${tag} &`,
    );
    assert.equal(a.code, 0);
    assert.equal(text(a.stdout), "A-done\n");
    const b = await env.exec("sleep 1; echo b");
    assert.equal(text(b.stdout), "b\n");
    assert.equal(text(b.stderr), "");
    assert.equal(await survivors(probe, tag), "", "the call's background jobs ended with it");
  });

  await t.step("a command that kills its own shell leaves nothing writing", async () => {
    const tag = uniqueSleep();
    const a = await env.exec(`(sleep 0.4; echo LATE) & sleep ${tag} & kill -9 $$`);
    assert.equal(a.code, 137);
    const b = await env.exec("sleep 1; echo b");
    assert.equal(text(b.stdout), "b\n");
    assert.equal(await survivors(probe, tag), "");
  });

  await t.step(
    "a detached process survives, cannot write into later calls, holds nothing open",
    async () => {
      const tag = uniqueSleep();
      const started = performance.now();
      // setsid leaves the group and keeps the call's stdout and stderr.
      const a = await env.exec(
        `setsid sh -c 'sleep 0.5; echo LEAK; echo LEAK >&2; sleep ${tag}' & echo A`,
      );
      assert.equal(text(a.stdout), "A\n");
      assert.ok(performance.now() - started < 3000, "the call did not wait for it");
      const b = await env.exec("sleep 1.2; echo b");
      assert.equal(text(b.stdout), "b\n");
      assert.equal(text(b.stderr), "");
      await probe(`pkill -f 'sleep ${tag}' || true`);
      // nohup with its output redirected is the documented way to keep something running.
      const tag2 = uniqueSleep();
      const c = await env.exec(`nohup sleep ${tag2} >/dev/null 2>&1 & echo C`);
      assert.equal(text(c.stdout), "C\n");
      assert.notEqual(await survivors(probe, tag2), "", "the nohup'ed process survived the call");
      await probe(`pkill -f 'sleep ${tag2}' || true`);
    },
  );

  await t.step("a process holding stdout open does not hold a timed-out call", async () => {
    const tag = uniqueSleep();
    const started = performance.now();
    const r = await env.exec(`setsid sleep ${tag} & sleep 30`, { timeoutMs: 1000 });
    const took = performance.now() - started;
    assert.equal(r.code, 124);
    assert.ok(took < 3500, `returned after ${took.toFixed(0)} ms`);
    await probe(`pkill -f 'sleep ${tag}' || true`);
  });

  await t.step("a timeout after the command ended does not change its status", async () => {
    const r = await env.exec(["sh", "-c", "exit 5"], { timeoutMs: 30_000 });
    assert.equal(r.code, 5);
    assert.equal(r.timedOut, false);
  });

  if (!options.stdin) return;

  await t.step("a stdin that never ends: the command's end ends the call", async () => {
    const started = performance.now();
    const r = await env.exec(["true"], { stdin: silentStream() });
    assert.equal(r.code, 0);
    assert.ok(performance.now() - started < 3000);
    const r2 = await env.exec(["head", "-c", "3"], { stdin: tricklingStream() });
    assert.equal(text(r2.stdout), "aaa");
  });

  await t.step("a stdin that never ends: a 2 s timeout returns within 3 s", async () => {
    for (const stdin of [silentStream(), tricklingStream()]) {
      const started = performance.now();
      const r = await env.exec(["cat"], { stdin, timeoutMs: 2000 });
      const took = performance.now() - started;
      assert.equal(r.code, 124);
      assert.ok(took < 3000, `returned after ${took.toFixed(0)} ms`);
    }
  });

  await t.step("a stdin that never ends: an abort returns within 3 s", async () => {
    for (const stdin of [silentStream(), tricklingStream()]) {
      const ac = new AbortController();
      const started = performance.now();
      const p = env.exec(["cat"], { stdin, signal: ac.signal });
      setTimeout(() => ac.abort(), 500);
      const r = await p;
      const took = performance.now() - started;
      assert.equal(r.code, 143);
      assert.ok(took < 3000, `returned after ${took.toFixed(0)} ms`);
    }
  });
}

/**
 * close() while a call runs, with a background job of it running too: the call ends (143) and
 * nothing of it is left. Closes `env`.
 */
export async function closeEndsEverything(env: Environment, probe: Probe): Promise<void> {
  const tag = uniqueSleep();
  const pending = env.exec(`sleep ${tag} & sleep ${tag}; wait`);
  for (let i = 0; i < 50 && await survivors(probe, tag) === ""; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.notEqual(await survivors(probe, tag), "", "the command runs");
  await env.close();
  const r = await pending;
  assert.equal(r.code, 143);
  assert.equal(await survivors(probe, tag), "", "close() left no process of the call");
}
