/** Collects a stream's bytes up to a cap, and reads streams to the end. */

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

/** Reads `stream` to its end, handing each chunk to `onChunk`. */
export async function pump(
  stream: ReadableStream<Uint8Array> | null,
  onChunk: (chunk: Uint8Array) => void,
): Promise<void> {
  if (!stream) return;
  for await (const chunk of stream) onChunk(chunk);
}

/** Writes `input` to `stdin` and closes it; a reader that went away early is not an error. */
export async function feed(
  stdin: WritableStream<Uint8Array>,
  input: Uint8Array | string | ReadableStream<Uint8Array>,
): Promise<void> {
  try {
    if (input instanceof ReadableStream) {
      await input.pipeTo(stdin);
      return;
    }
    const writer = stdin.getWriter();
    await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
    await writer.close();
  } catch {
    // The command exited without reading all of its stdin (e.g. `true`): like a shell, ignore it.
    try {
      await stdin.abort();
    } catch {
      // Already closed.
    }
  }
}
