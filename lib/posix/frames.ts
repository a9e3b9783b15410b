/**
 * Control frames the remote wrapper writes on stderr: `\x1eY<nonce>:<kind>[:<value>]\n`. The nonce
 * is fresh and random per call, so user output cannot forge or collide with a frame. The scanner
 * removes frames from the stream and passes every other byte through unchanged and in order.
 */

const RS = 0x1e;
const NL = 0x0a;
/** A frame is short; bytes that look like a frame's start but run longer are user data. */
const MAX_FRAME = 256;

/** Returns a fresh 128-bit random nonce as 32 hex characters. */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const b of bytes) hex += HEX[b]!;
  return hex;
}

/** Two hex digits for every byte value (a nonce is made per call, on the hot path). */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const encoder = new TextEncoder();

/** The text that starts every frame of a call with `nonce`. */
export function framePrefix(nonce: string): string {
  return `\x1eY${nonce}:`;
}

/** Splits control frames out of a byte stream. */
export class FrameScanner {
  #prefix: Uint8Array;
  #held: Uint8Array = new Uint8Array(0);
  #onData: (chunk: Uint8Array) => void;
  #onFrame: (kind: string, value: string) => void;

  constructor(
    nonce: string,
    onData: (chunk: Uint8Array) => void,
    onFrame: (kind: string, value: string) => void,
  ) {
    this.#prefix = encoder.encode(framePrefix(nonce));
    this.#onData = onData;
    this.#onFrame = onFrame;
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.#held.length > 0) {
      buf = new Uint8Array(this.#held.length + chunk.length);
      buf.set(this.#held);
      buf.set(chunk, this.#held.length);
      this.#held = new Uint8Array(0);
    }
    let start = 0; // first byte not yet handed on
    let at = 0;
    while (at < buf.length) {
      const rs = buf.indexOf(RS, at);
      if (rs < 0) break;
      const match = this.#matchPrefix(buf, rs);
      if (match === "no") {
        at = rs + 1;
        continue;
      }
      if (match === "partial") {
        this.#emit(buf, start, rs);
        this.#held = buf.slice(rs);
        return;
      }
      const nl = buf.indexOf(NL, rs + this.#prefix.length);
      if (nl < 0) {
        if (buf.length - rs > MAX_FRAME) {
          at = rs + 1;
          continue;
        }
        this.#emit(buf, start, rs);
        this.#held = buf.slice(rs);
        return;
      }
      this.#emit(buf, start, rs);
      const body = new TextDecoder().decode(buf.subarray(rs + this.#prefix.length, nl));
      const colon = body.indexOf(":");
      this.#onFrame(
        colon < 0 ? body : body.slice(0, colon),
        colon < 0 ? "" : body.slice(colon + 1),
      );
      start = at = nl + 1;
    }
    this.#emit(buf, start, buf.length);
  }

  /** Hands on whatever is still held back (the stream ended). */
  end(): void {
    if (this.#held.length > 0) this.#onData(this.#held);
    this.#held = new Uint8Array(0);
  }

  #emit(buf: Uint8Array, from: number, to: number): void {
    if (to > from) this.#onData(buf.subarray(from, to));
  }

  #matchPrefix(buf: Uint8Array, at: number): "yes" | "no" | "partial" {
    const p = this.#prefix;
    const n = Math.min(p.length, buf.length - at);
    for (let i = 0; i < n; i++) if (buf[at + i] !== p[i]) return "no";
    return n === p.length ? "yes" : "partial";
  }
}
