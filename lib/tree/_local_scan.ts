/** Scans a local tree: types, modes, sizes, mtimes, sha256 (reused from the manifest when stale-free). */

import { join } from "node:path";
import { localError } from "../core/file_stream.ts";
import type { Manifest } from "./manifest.ts";
import { assertInsideRoot } from "./_paths.ts";
import { sha256Maker } from "./_hash.ts";

/** A local entry. */
export interface LocalEntry {
  /** Path relative to the root. */
  path: string;
  /** What it is ("other" entries such as fifos are skipped). */
  type: "file" | "dir" | "symlink";
  /** Permission bits. */
  mode: number;
  /** Size in bytes (symlink: target length). */
  size: number;
  /** Modification time in ms. */
  mtimeMs: number;
  /** sha256 hex (files, when hashed). */
  sha256?: string;
  /** Link target (symlinks). */
  target?: string;
}

/** Options of {@linkcode scanLocal}. */
export interface ScanOptions {
  /** Excluded paths. */
  excluded: (rel: string) => boolean;
  /** Reuse sha256 sums of entries whose size and mtime did not change. */
  previous?: Manifest;
  /** Refuse symlinks pointing out of the root (push). */
  refuseEscapes?: boolean;
  /** Hash files (default true). */
  hash?: boolean;
}

/** Files up to this size are read whole (synchronously) rather than streamed. */
export const SMALL = 1024 * 1024;

/** sha256 of a local file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = (await sha256Maker())();
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(256 * 1024);
    while (true) {
      const n = await file.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return h.digest("hex");
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Walks `root` (symlinks are not followed) and returns its entries by relative path; a missing
 * root gives an empty map when `allowMissing`.
 */
export async function scanLocal(
  root: string,
  opts: ScanOptions,
  allowMissing = false,
): Promise<Map<string, LocalEntry>> {
  const out = new Map<string, LocalEntry>();
  try {
    const info = await Deno.stat(root);
    if (!info.isDirectory) throw new Deno.errors.NotADirectory(`"${root}" is not a directory`);
  } catch (e) {
    if (allowMissing && e instanceof Deno.errors.NotFound) return out;
    throw localError(e, root, "read");
  }
  // Synchronous calls: for many small entries they are several times faster than async ones.
  const walk = (dir: string, prefix: string): void => {
    const names: string[] = [];
    for (const e of Deno.readDirSync(dir)) names.push(e.name);
    for (const name of names) {
      const rel = prefix + name;
      if (opts.excluded(rel)) continue;
      const full = join(dir, name);
      let st: Deno.FileInfo;
      try {
        st = Deno.lstatSync(full);
      } catch {
        continue; // Gone meanwhile.
      }
      const base = { path: rel, mode: (st.mode ?? 0) & 0o7777, mtimeMs: st.mtime?.getTime() ?? 0 };
      if (st.isSymlink) {
        const target = Deno.readLinkSync(full);
        if (opts.refuseEscapes) assertInsideRoot("local", rel, target);
        out.set(rel, {
          ...base,
          type: "symlink",
          size: new TextEncoder().encode(target).length,
          target,
        });
      } else if (st.isDirectory) {
        out.set(rel, { ...base, type: "dir", size: 0 });
        walk(full, rel + "/");
      } else if (st.isFile) {
        out.set(rel, { ...base, type: "file", size: st.size });
      }
    }
  };
  try {
    walk(root, "");
  } catch (e) {
    throw localError(e, root, "read");
  }
  if (opts.hash ?? true) {
    await hashFiles(root, [...out.values()].filter((e) => e.type === "file"), opts.previous);
  }
  return out;
}

/**
 * Sets `sha256` of the file entries given, reusing the manifest's sum where size and mtime did
 * not change (no read then).
 */
export async function hashFiles(
  root: string,
  files: readonly LocalEntry[],
  previous?: Manifest,
): Promise<void> {
  if (files.length === 0) return;
  const sha256 = await sha256Maker();
  await eachLimit(files, 8, async (e) => {
    const was = previous?.entries[e.path];
    if (
      was?.type === "file" && was.sha256 && was.size === e.size && was.mtimeMs === e.mtimeMs
    ) {
      e.sha256 = was.sha256;
      return;
    }
    try {
      e.sha256 = e.size <= SMALL
        ? sha256().update(Deno.readFileSync(join(root, e.path))).digest("hex")
        : await sha256File(join(root, e.path));
    } catch (err) {
      throw localError(err, join(root, e.path), "read");
    }
  });
}
