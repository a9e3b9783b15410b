/** The JSON shapes the CLI prints: bytes as text or base64, an exec result. */

import type { ExecResult } from "../core/environment.ts";
import type { FileInfo } from "../core/files.ts";

/** Encodes bytes for JSON: text when valid UTF-8, else base64 under `<name>_base64`. */
export function jsonBytes(name: string, bytes: Uint8Array): Record<string, string> {
  try {
    return { [name]: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return { [`${name}_base64`]: btoa(bin) };
  }
}

/** The `--json` object for a result. */
export function resultJson(target: string, r: ExecResult): Record<string, unknown> {
  return {
    target,
    code: r.code,
    signal: r.signal,
    timed_out: r.timedOut,
    duration_ms: Math.round(r.durationMs * 10) / 10,
    ...jsonBytes("stdout", r.stdout),
    ...jsonBytes("stderr", r.stderr),
    truncated: r.truncated,
  };
}

/** The `--json` object of a listing entry. */
export function entryJson(e: FileInfo): Record<string, unknown> {
  return {
    name: e.name,
    type: e.type,
    size: e.size,
    mode: e.mode.toString(8).padStart(4, "0"),
    mtime: e.mtime.toISOString(),
  };
}
