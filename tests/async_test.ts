import assert from "node:assert/strict";
import { abortable } from "../lib/util/async.ts";
import { feed } from "../lib/util/output.ts";

Deno.test("abortable: a promise given up on may still reject later without an unhandled error", async () => {
  const ac = new AbortController();
  ac.abort(new Error("call ended"));
  let fail!: (e: Error) => void;
  const late = new Promise<void>((_, reject) => (fail = reject));
  await assert.rejects(abortable(late, ac.signal), /call ended/);
  fail(new Error("broken pipe"));
  // An unhandled rejection would fail this test once the microtasks have run.
  await new Promise((r) => setTimeout(r, 10));
});

Deno.test("feed returns at the call's end even when the reader never takes the write", async () => {
  // A sink whose write never settles: a pipe whose reader stopped reading.
  const stuck = new WritableStream<Uint8Array>({ write: () => new Promise(() => {}) });
  const ended = new AbortController();
  const feeding = feed(stuck, new Uint8Array(1024), ended.signal);
  setTimeout(() => ended.abort(), 20);
  const outcome = await Promise.race([
    feeding.then(() => "returned"),
    new Promise((r) => setTimeout(() => r("still waiting"), 2000)),
  ]);
  assert.equal(outcome, "returned");
});
