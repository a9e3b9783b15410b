/**
 * sha256 for tree transfers, from `node:crypto` loaded on first use: importing it costs start-up
 * time that commands which never hash (put, get, exec) should not pay.
 *
 * @module
 */

import type { Hash } from "node:crypto";

/** Makes a fresh sha256 hash. */
export type Sha256 = () => Hash;

let loading: Promise<Sha256> | undefined;

/** Loads `node:crypto` once and returns a sha256 maker. */
export function sha256Maker(): Promise<Sha256> {
  loading ??= import("node:crypto").then((m) => () => m.createHash("sha256"));
  return loading;
}
