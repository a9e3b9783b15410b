import assert from "node:assert/strict";
import { SshConnectError, SshConnectionLost, YonderError } from "../lib/core/errors.ts";
import { isTransient, withRetry } from "../lib/core/retry.ts";

const lost = () => new SshConnectionLost({ host: "h", message: "lost" });

Deno.test("withRetry() retries transient errors up to 3 tries with doubling delays", async () => {
  const started = performance.now();
  let calls = 0;
  const lines: string[] = [];
  const v = await withRetry("x", () => {
    calls++;
    if (calls < 3) throw lost();
    return Promise.resolve("done");
  }, { baseDelayMs: 20, log: (l) => lines.push(l) });
  assert.equal(v, "done");
  assert.equal(calls, 3);
  assert.ok(performance.now() - started >= 55, "waited 20 + 40 ms");
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /attempt 2 failed .*retrying in 40 ms/);
});

Deno.test("withRetry() gives up after the last try and never retries other errors", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry("x", () => {
      calls++;
      throw lost();
    }, { baseDelayMs: 1 }),
    SshConnectionLost,
  );
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    withRetry("x", () => {
      calls++;
      throw new YonderError("no");
    }, { baseDelayMs: 1 }),
    YonderError,
  );
  assert.equal(calls, 1);
});

Deno.test("isTransient() retries setup failures that can pass, not bad credentials", () => {
  const err = (kind: ConstructorParameters<typeof SshConnectError>[0]["kind"]) =>
    new SshConnectError({ kind, host: "h", message: "m" });
  assert.ok(isTransient(lost()));
  assert.ok(isTransient(err("refused")));
  assert.ok(isTransient(err("timeout")));
  assert.ok(!isTransient(err("auth")));
  assert.ok(!isTransient(err("host_key_changed")));
  assert.ok(!isTransient(new Error("x")));
});

Deno.test("withRetry() after a loss: a reconnect that can pass reports the loss, one that cannot reports itself", async () => {
  const connect = (kind: "refused" | "host_key_changed") =>
    new SshConnectError({ kind, host: "h", message: `connect ${kind}` });
  let calls = 0;
  const refused = await withRetry("x", () => {
    throw ++calls === 1 ? lost() : connect("refused");
  }, { baseDelayMs: 1 }).catch((e) => e);
  assert.ok(refused instanceof SshConnectionLost);
  assert.match(refused.message, /^lost; reconnecting failed: connect refused$/);
  calls = 0;
  const changed = await withRetry("x", () => {
    throw ++calls === 1 ? lost() : connect("host_key_changed");
  }, { baseDelayMs: 1 }).catch((e) => e);
  assert.ok(changed instanceof SshConnectError);
  assert.equal(changed.kind, "host_key_changed");
  assert.equal(calls, 2);
});
