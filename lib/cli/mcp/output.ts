/**
 * Output kept for an agent: the head and the tail of a stream within a byte budget, with the
 * exact count of what arrived, and its rendering as text (or base64 when it is not UTF-8).
 *
 * @module
 */

import { concat } from "../../util/output.ts";

/**
 * Keeps the first `head` bytes of a stream and its last `tail` bytes (a ring), and counts all of
 * them: memory stays at `head + tail` whatever arrives.
 */
export class HeadTail {
  readonly #headCap: number;
  readonly #tailCap: number;
  /** Grown as bytes come, up to `#headCap`: a small output costs a small buffer. */
  #head: Uint8Array;
  #headLen = 0;
  /** Allocated once a byte goes past the head. */
  #ring: Uint8Array | null = null;
  /** Bytes written to the ring in total (its write position is this modulo its size). */
  #ringTotal = 0;
  /** Every byte that arrived. */
  total = 0;

  /** Keeps at most `head` bytes from the start and `tail` from the end. */
  constructor(head: number, tail: number) {
    this.#headCap = head;
    this.#tailCap = tail;
    this.#head = new Uint8Array(Math.min(head, 4096));
  }

  /** Takes a chunk. */
  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.#headLen < this.#headCap) {
      const n = Math.min(rest.length, this.#headCap - this.#headLen);
      this.#growHead(this.#headLen + n);
      this.#head.set(rest.subarray(0, n), this.#headLen);
      this.#headLen += n;
      rest = rest.subarray(n);
    }
    if (rest.length === 0 || this.#tailCap === 0) return;
    const ring = this.#ring ??= new Uint8Array(this.#tailCap);
    const size = ring.length;
    if (rest.length >= size) {
      ring.set(rest.subarray(rest.length - size));
      this.#ringTotal += rest.length;
      // Rotate so that the write position is where the slice ended.
      const at = this.#ringTotal % size;
      if (at !== 0) {
        const copy = ring.slice();
        ring.set(copy.subarray(size - at), 0);
        ring.set(copy.subarray(0, size - at), at);
      }
      return;
    }
    const at = this.#ringTotal % size;
    const first = Math.min(rest.length, size - at);
    ring.set(rest.subarray(0, first), at);
    ring.set(rest.subarray(first), 0);
    this.#ringTotal += rest.length;
  }

  #growHead(need: number): void {
    if (need <= this.#head.length) return;
    const next = new Uint8Array(Math.min(this.#headCap, Math.max(need, this.#head.length * 2)));
    next.set(this.#head.subarray(0, this.#headLen));
    this.#head = next;
  }

  /** The head as kept. */
  head(): Uint8Array {
    return this.#head.subarray(0, this.#headLen);
  }

  /** The tail as kept: the last bytes that did not go to the head, oldest first. */
  tail(): Uint8Array {
    const ring = this.#ring;
    if (!ring) return new Uint8Array(0);
    const size = ring.length;
    const kept = Math.min(this.#ringTotal, size);
    if (kept < size) return ring.slice(0, kept);
    const at = this.#ringTotal % size;
    const out = new Uint8Array(size);
    out.set(ring.subarray(at), 0);
    out.set(ring.subarray(0, at), size - at);
    return out;
  }

  /** Bytes that arrived but are kept in neither part. */
  omitted(): number {
    return this.total - this.#headLen - Math.min(this.#ringTotal, this.#tailCap);
  }

  /** Offset in the stream of the first byte of {@linkcode tail}. */
  tailStart(): number {
    return this.total - Math.min(this.#ringTotal, this.#tailCap);
  }

  /**
   * The kept bytes from stream offset `from` on, at most `max` of them, never across the gap
   * between head and tail: a read that reaches the gap stops there, and the next one (from
   * `next`) starts at the tail with `skipped` counting the bytes no longer kept.
   */
  readFrom(from: number, max: number): { bytes: Uint8Array; skipped: number; next: number } {
    const at = Math.max(0, Math.min(from, this.total));
    if (at < this.#headLen) {
      const bytes = this.#head.subarray(at, Math.min(this.#headLen, at + max));
      return { bytes, skipped: 0, next: at + bytes.length };
    }
    const start = this.tailStart();
    const begin = Math.max(at, start);
    const bytes = this.tail().subarray(
      begin - start,
      Math.min(this.total - start, begin - start + max),
    );
    return { bytes, skipped: begin - at, next: begin + bytes.length };
  }
}

/** Bytes at the start of `b` that continue a UTF-8 character begun before it (at most 3). */
function leadingContinuations(b: Uint8Array): number {
  let n = 0;
  while (n < 3 && n < b.length && (b[n]! & 0xc0) === 0x80) n++;
  return n;
}

/** Length of `b` without a UTF-8 character cut short at its end. */
export function wholeChars(b: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const c = b[b.length - back]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? b.length - back : b.length;
  }
  return b.length;
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** `b` as text, or null when it is not UTF-8. */
export function utf8(b: Uint8Array): string | null {
  try {
    return strict.decode(b);
  } catch {
    return null;
  }
}

/** Base64 of `b`. */
export function base64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Bytes of a base64 string; a malformed one throws. */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A stream as an agent gets it. */
export interface Rendered {
  /** The text (head, a line naming the omitted bytes, tail), or null when not UTF-8. */
  text: string | null;
  /** The bytes kept, base64 (head then tail, nothing between), when they are not UTF-8. */
  base64?: string;
  /** Every byte that arrived. */
  bytes: number;
  /** Bytes left out between head and tail. */
  omitted: number;
}

/**
 * Renders what `buf` kept: text when head and tail are UTF-8 (a character cut by the budget is
 * left out whole and counted as omitted), else base64.
 */
export function render(buf: HeadTail, partial = false): Rendered {
  let head = buf.head();
  let tail = buf.tail();
  const omitted = buf.omitted();
  if (omitted === 0) {
    // A stream still running may end inside a character: its rest comes later.
    const whole = concat([head, tail]);
    const all = partial ? whole.subarray(0, wholeChars(whole)) : whole;
    const text = utf8(all);
    return text !== null
      ? { text, bytes: buf.total, omitted: 0 }
      : { text: null, base64: base64(all), bytes: buf.total, omitted: 0 };
  }
  const cutHead = head.length - wholeChars(head);
  const cutTail = leadingContinuations(tail);
  head = head.subarray(0, head.length - cutHead);
  tail = tail.subarray(cutTail);
  if (partial) tail = tail.subarray(0, wholeChars(tail));
  const [h, t] = [utf8(head), utf8(tail)];
  const gap = omitted + cutHead + cutTail;
  if (h !== null && t !== null) {
    const line = `${h.endsWith("\n") || h === "" ? "" : "\n"}[... ${gap} bytes omitted ...]\n`;
    return { text: h + line + t, bytes: buf.total, omitted: gap };
  }
  return {
    text: null,
    base64: base64(concat([buf.head(), buf.tail()])),
    bytes: buf.total,
    omitted,
  };
}
