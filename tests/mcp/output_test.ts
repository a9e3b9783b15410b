/** The MCP server's output budget: head and tail kept, counts exact, text or base64. */
import assert from "node:assert/strict";
import { HeadTail, render } from "../../lib/cli/mcp/output.ts";

const enc = new TextEncoder();

Deno.test("HeadTail keeps the head and the tail of any chunking, and counts every byte", () => {
  const data = new Uint8Array(10_000).map((_, i) => (i * 7) % 251);
  for (const chunk of [1, 3, 64, 999, 4096, 10_000]) {
    const b = new HeadTail(100, 300);
    for (let i = 0; i < data.length; i += chunk) b.push(data.subarray(i, i + chunk));
    assert.equal(b.total, 10_000);
    assert.deepEqual(b.head(), data.subarray(0, 100), `head, chunk ${chunk}`);
    assert.deepEqual(b.tail(), data.subarray(9_700), `tail, chunk ${chunk}`);
    assert.equal(b.omitted(), 9_600);
    assert.equal(b.tailStart(), 9_700);
  }
  const small = new HeadTail(4, 4);
  small.push(enc.encode("abcdef"));
  assert.equal(new TextDecoder().decode(small.head()), "abcd");
  assert.equal(new TextDecoder().decode(small.tail()), "ef");
  assert.equal(small.omitted(), 0);
});

Deno.test("HeadTail.readFrom stops at the gap, then counts what it skipped", () => {
  const b = new HeadTail(5, 5);
  b.push(enc.encode("0123456789abcdefghij")); // head 01234, tail fghij
  const dec = new TextDecoder();
  const read = (from: number, max: number) => {
    const r = b.readFrom(from, max);
    return [dec.decode(r.bytes), r.skipped, r.next];
  };
  assert.deepEqual(read(0, 100), ["01234", 0, 5]);
  assert.deepEqual(read(5, 100), ["fghij", 10, 20]);
  assert.deepEqual(read(3, 4), ["34", 0, 5]);
  assert.deepEqual(read(12, 2), ["fg", 3, 17]);
  assert.deepEqual(read(17, 100), ["hij", 0, 20]);
  assert.deepEqual(read(20, 100), ["", 0, 20]);
  // Small outputs grow the head as they come; nothing past it means no tail buffer.
  const small = new HeadTail(1 << 20, 1 << 20);
  small.push(enc.encode("abc"));
  assert.deepEqual([dec.decode(small.head()), small.tail().length, small.omitted()], ["abc", 0, 0]);
});

Deno.test("render: text with the omitted count between head and tail; base64 when not UTF-8", () => {
  const b = new HeadTail(6, 6);
  b.push(enc.encode("START-" + "x".repeat(1000) + "-END\n"));
  const r = render(b);
  assert.equal(r.bytes, 1011);
  assert.equal(r.omitted, 999);
  assert.equal(r.text, "START-\n[... 999 bytes omitted ...]\nx-END\n");
  // A character cut by the budget is left out whole (and counted), never mangled.
  const u = new HeadTail(4, 4);
  u.push(enc.encode("aaaé" + "b".repeat(50) + "éccc"));
  const ru = render(u);
  assert.equal(ru.text, "aaa\n[... 54 bytes omitted ...]\nccc");
  assert.equal(ru.omitted, 54); // 60 bytes less "aaa" and "ccc"
  const bin = new HeadTail(8, 8);
  bin.push(new Uint8Array([0xff, 0xfe, 0, 1]));
  const rb = render(bin);
  assert.equal(rb.text, null);
  assert.equal(rb.base64, "//4AAQ==");
  assert.equal(render(new HeadTail(4, 4)).text, "");
  // A running stream that ends inside a character: text now, the character later.
  const run = new HeadTail(64, 64);
  run.push(enc.encode("ok é").subarray(0, 4));
  assert.equal(render(run, true).text, "ok ");
  assert.equal(render(run).text, null);
});
