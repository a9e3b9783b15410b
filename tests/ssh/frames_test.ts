import assert from "node:assert/strict";
import { framePrefix, FrameScanner, newNonce } from "../../lib/posix/frames.ts";
import { fc } from "../deps.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function scanAll(nonce: string, chunks: Uint8Array[]) {
  const data: number[] = [];
  const frames: string[] = [];
  const s = new FrameScanner(nonce, (c) => data.push(...c), (k, v) => frames.push(`${k}=${v}`));
  for (const c of chunks) s.push(c);
  s.end();
  return { data: new Uint8Array(data), frames };
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.slice(prev, p));
    prev = p;
  }
  out.push(bytes.slice(prev));
  return out;
}

Deno.test("newNonce() gives 128 random bits as hex", () => {
  const a = newNonce();
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, newNonce());
});

Deno.test("FrameScanner splits frames out and keeps every other byte in order", () => {
  const n = newNonce();
  const p = framePrefix(n);
  const stream = enc.encode(`before${p}pid:42\nmiddle\x1e not a frame${p}exit:7\nafter`);
  const { data, frames } = scanAll(n, [stream]);
  assert.equal(dec.decode(data), "beforemiddle\x1e not a frameafter");
  assert.deepEqual(frames, ["pid=42", "exit=7"]);
});

Deno.test("FrameScanner ignores frames with another nonce", () => {
  const n = newNonce();
  const other = framePrefix(newNonce()) + "exit:0\n";
  const { data, frames } = scanAll(n, [enc.encode(other)]);
  assert.equal(dec.decode(data), other);
  assert.deepEqual(frames, []);
});

Deno.test("FrameScanner gives the same result however the stream is cut", () => {
  const n = newNonce();
  const p = framePrefix(n);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (a, b, cuts) => {
        const frame = enc.encode(`${p}exit:3\n`);
        const whole = new Uint8Array([...a, ...frame, ...b, ...enc.encode(p.slice(0, 10))]);
        const { data, frames } = scanAll(n, splitAt(whole, cuts));
        // The trailing partial prefix is user data once the stream ends.
        const expected = new Uint8Array([...a, ...b, ...enc.encode(p.slice(0, 10))]);
        assert.deepEqual(frames, ["exit=3"]);
        assert.deepEqual(data, expected);
      },
    ),
    { numRuns: 500 },
  );
});
