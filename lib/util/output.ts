/** Collects a stream's bytes up to a cap, and reads streams to the end. */

import { abortable, aborted } from "./async.ts";

/** Collects chunks up to `cap` bytes; later bytes are counted but not kept. */
export class OutputSink {
  #chunks: Uint8Array[] = [];
  #kept = 0;
  #cap: number;
  /** True once a byte was left out. */
  truncated = false;

  constructor(cap = Number.POSITIVE_INFINITY) {
    this.#cap = cap;
  }

  /** Adds a chunk. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const room = this.#cap - this.#kept;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (part.length < chunk.length) this.truncated = true;
    this.#chunks.push(part);
    this.#kept += part.length;
  }

  /** All kept bytes in one array. */
  bytes(): Uint8Array {
    return concat(this.#chunks, this.#kept);
  }
}

/** Joins chunks into one array. */
export function concat(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const out = new Uint8Array(total ?? chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Reads `stream` to its end, handing each chunk to `onChunk`; a `Promise` it returns is waited for
 * before the next read (backpressure). An abort of `signal` stops reading at once (the stream is
 * cancelled): for a pipe that something else still holds open.
 */
export async function pump(
  stream: ReadableStream<Uint8Array> | null,
  onChunk: (chunk: Uint8Array) => unknown,
  signal?: AbortSignal,
): Promise<void> {
  if (!stream) return;
  const reader = stream.getReader();
  let stopped: Promise<void> | undefined;
  const stop = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", stop, { once: true });
  try {
    if (signal?.aborted) return void await stop();
    while (true) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        return; // Cancelled, or the process holding the other end went away.
      }
      if (next.done) return;
      const wait = onChunk(next.value);
      if (wait instanceof Promise) {
        await (signal ? Promise.race([wait, stopped ??= aborted(signal)]) : wait);
        if (signal?.aborted) return;
      }
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}

/** Bytes read from a local file per write when {@linkcode feedFile} copies it. */
const FILE_CHUNK = 1 << 20;

/**
 * `p`, given up on when `signal` aborts. A write into a pipe whose reader stopped reading (a
 * master that carried a call keeps its stdin open once the call is over) never settles, and an
 * abort of the stream waits for the write in flight: so an ended call stops waiting instead. The
 * write settles, and is ignored, when that process goes away.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal ? abortable(p, signal) : p;
}

/** Aborts `writer` without waiting for a write in flight (see {@linkcode untilAborted}). */
function dropWriter(writer: WritableStreamDefaultWriter<Uint8Array>): void {
  writer.abort().catch(() => {});
}

/**
 * Copies the local file at `path` into `stdin` and closes it, in large chunks (a file is
 * usually a big upload), ending early when `signal` aborts or the reader goes away.
 */
export async function feedFile(
  stdin: WritableStream<Uint8Array>,
  path: string,
  signal?: AbortSignal,
): Promise<void> {
  using file = await Deno.open(path);
  const writer = stdin.getWriter();
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      // A fresh buffer each time: the pipe may still hold the last one.
      const buf = new Uint8Array(FILE_CHUNK);
      const n = await file.read(buf);
      if (n === null) break;
      if (signal?.aborted) throw signal.reason;
      await untilAborted(writer.write(n === buf.length ? buf : buf.subarray(0, n)), signal);
    }
    await untilAborted(writer.close(), signal);
  } catch {
    // As feed(): a command that stops reading, or a call that ended.
    dropWriter(writer);
  }
}

/**
 * Writes `input` to `stdin` and closes it; a reader that went away early is not an error. An
 * abort of `signal` (the call ended) stops the writing at once: a stream given as input is
 * cancelled and `stdin` is closed, so a stdin that never ends cannot hold a call open.
 */
export async function feed(
  stdin: WritableStream<Uint8Array>,
  input: Uint8Array | string | ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): Promise<void> {
  if (input instanceof ReadableStream) {
    try {
      await untilAborted(input.pipeTo(stdin, signal ? { signal } : {}), signal);
    } catch {
      // The pipe aborts stdin and cancels the input itself; only a refused start leaves them.
      if (!stdin.locked) stdin.abort().catch(() => {});
      if (!input.locked) input.cancel().catch(() => {});
    }
    return;
  }
  const writer = stdin.getWriter();
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  try {
    if (signal?.aborted) throw signal.reason;
    await untilAborted(writer.write(bytes), signal);
    await untilAborted(writer.close(), signal);
  } catch {
    // The command exited without reading all of its stdin (e.g. `true`), or the call ended: like
    // a shell, ignore it.
    dropWriter(writer);
  }
}
