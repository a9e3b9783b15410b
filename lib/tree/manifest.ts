/**
 * The manifest of a synced tree: per path, what was last sent or received (type, mode, size,
 * local mtime, sha256, symlink target) and what the remote looked like afterwards (size, mtime,
 * mode as its listing shows them). It lives in a cache directory, one JSON file per (host, remote
 * dir, local dir), so an unchanged re-push sends nothing even from a fresh process; the remote
 * listing (size + mtime) tells whether the remote changed behind our back, and only then are
 * remote sha256 sums computed.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { tempSuffix } from "../core/file_stream.ts";
import { sha256Maker } from "./_hash.ts";

/** What the remote listing showed for a path after the last sync. */
export interface RemoteState {
  /** Size in bytes. */
  size: number;
  /** Modification time in whole seconds. */
  mtime: number;
  /** Permission bits. */
  mode: number;
}

/** One path of the manifest. */
export interface ManifestEntry {
  /** What the path is. */
  type: "file" | "dir" | "symlink";
  /** Permission bits. */
  mode: number;
  /** Size in bytes of the local file (symlink: target length). */
  size: number;
  /** Local modification time in ms (to reuse `sha256` while size and mtime stay). */
  mtimeMs: number;
  /** sha256 of the content (files). */
  sha256?: string;
  /** The link target (symlinks). */
  target?: string;
  /** The remote after the last sync, when known. */
  remote?: RemoteState;
}

/** A manifest file. */
export interface Manifest {
  /** Format version. */
  version: 1;
  /** The environment's label. */
  host: string;
  /** The remote directory as given. */
  remoteDir: string;
  /** The local directory, absolute. */
  localDir: string;
  /** Entries by path relative to the roots (`a/b.txt`). */
  entries: Record<string, ManifestEntry>;
}

/** The directory manifests are kept in (see `TreeOptions.cacheDir`). */
export function cacheDir(override?: string): string {
  if (override) return override;
  const env = (name: string) => Deno.env.get(name) || undefined;
  const own = env("YONDER_CACHE_DIR");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "yonder");
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  return join(home, ".cache", "yonder");
}

/** The manifest file for a (host, remote dir, local dir) triple. */
export async function manifestPath(
  host: string,
  remoteDir: string,
  localDir: string,
  dir?: string,
): Promise<string> {
  const key = (await sha256Maker())()
    .update(JSON.stringify([host, normalizeRemoteDir(remoteDir), resolve(localDir)]))
    .digest("hex")
    .slice(0, 32);
  return join(cacheDir(dir), "trees", `${key}.json`);
}

/** `dir/` and `dir` are the same remote directory. */
export function normalizeRemoteDir(dir: string): string {
  return dir.length > 1 ? dir.replace(/\/+$/, "") || "/" : dir;
}

/** An empty manifest for the triple. */
export function emptyManifest(host: string, remoteDir: string, localDir: string): Manifest {
  return {
    version: 1,
    host,
    remoteDir: normalizeRemoteDir(remoteDir),
    localDir: resolve(localDir),
    entries: {},
  };
}

/**
 * Loads the manifest at `path`; a missing, unreadable or foreign one gives an empty manifest (the
 * next transfer then compares contents instead of trusting it).
 *
 * @example
 * ```ts
 * import { loadManifest } from "./manifest.ts";
 * const m = await loadManifest("/nonexistent/m.json", "local", "/srv", "/tmp");
 * console.assert(Object.keys(m.entries).length === 0);
 * ```
 */
export async function loadManifest(
  path: string,
  host: string,
  remoteDir: string,
  localDir: string,
): Promise<Manifest> {
  const empty = emptyManifest(host, remoteDir, localDir);
  try {
    const m = JSON.parse(await Deno.readTextFile(path)) as Manifest;
    if (
      m.version !== 1 || m.host !== empty.host || m.remoteDir !== empty.remoteDir ||
      m.localDir !== empty.localDir || typeof m.entries !== "object" || m.entries === null
    ) return empty;
    return m;
  } catch {
    return empty;
  }
}

/** Saves the manifest atomically (temp file, then rename). */
export async function saveManifest(path: string, m: Manifest): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${tempSuffix()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(m), { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** True when the remote listing still shows what the manifest recorded after the last sync. */
export function remoteUnchanged(
  entry: ManifestEntry | undefined,
  now: RemoteState | undefined,
): boolean {
  const was = entry?.remote;
  return was !== undefined && now !== undefined && was.size === now.size &&
    was.mtime === now.mtime && was.mode === now.mode;
}
