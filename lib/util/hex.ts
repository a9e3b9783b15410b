/** Bytes as lower-case hex, and the sha256 of a text as hex. */

/**
 * `bytes` as lower-case hex, two digits a byte.
 *
 * @example
 * ```ts
 * import { toHex } from "./hex.ts";
 * console.log(toHex(new Uint8Array([0, 255]))); // "00ff"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The sha256 of `text` (UTF-8) as hex; `bytes` keeps only that many leading bytes of it.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./hex.ts";
 * console.log((await sha256Hex("")).slice(0, 8)); // "e3b0c442"
 * ```
 */
export async function sha256Hex(text: string, bytes = 32): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(new Uint8Array(digest, 0, bytes));
}
