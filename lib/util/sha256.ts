/**
 * A synchronous SHA-256 (npm `@noble/hashes`, audited, no dependencies), loaded on first use.
 * The audit log hashes every line on the hot path of every call; WebCrypto's digest is async
 * and hops to a worker thread each time, which costs more than the hash itself.
 *
 * @module
 */

import { toHex } from "./hex.ts";
import { importNpm } from "./npm.ts";

type Digest = (bytes: Uint8Array) => Uint8Array;
let digest: Digest | null = null;
const enc = new TextEncoder();

/**
 * Returns a function that hashes text to lowercase hex, loading the implementation once.
 *
 * @example
 * ```ts
 * import { sha256HexSync } from "./sha256.ts";
 * const hash = await sha256HexSync();
 * console.log(hash("abc")); // "ba7816bf…"
 * ```
 */
export async function sha256HexSync(): Promise<(text: string) => string> {
  if (!digest) {
    // Loaded at run time, out of the module graph (see npm.ts).
    const mod = await importNpm<{ sha256: Digest }>("npm:@noble/hashes@^2.0.0/sha2.js");
    digest = mod.sha256;
  }
  const d = digest;
  return (text) => toHex(d(enc.encode(text)));
}
