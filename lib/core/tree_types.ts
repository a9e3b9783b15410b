/**
 * Types of tree transfers: `push` sends a local directory to a remote one in one tar stream,
 * `pull` brings a remote directory back; both keep a manifest (size, mtime, sha256 per file) so
 * that what did not change is not sent again.
 *
 * @module
 */

import type { TransferProgress } from "./files.ts";

/** Options shared by `push` and `pull`. */
export interface TreeOptions {
  /**
   * Glob patterns of paths to leave alone (neither sent, received nor deleted). A pattern with a
   * `/` matches the path relative to the root (`build/*.o`); one without matches any
   * single name (`node_modules`, `*.log`). Excluding a directory excludes what is in it.
   */
  exclude?: string[];
  /** Also delete what exists on the receiving side only (mirror). */
  delete?: boolean;
  /** Called as the transfer goes. */
  onProgress?: (p: TransferProgress) => void;
  /** Aborting stops the transfer; every file on the receiving side stays old or new. */
  signal?: AbortSignal;
  /**
   * Where manifests are kept: default `$YONDER_CACHE_DIR`, else `$XDG_CACHE_HOME/yonder`, else
   * `~/.cache/yonder`; one file per (host, remote dir, local dir).
   */
  cacheDir?: string;
}

/** Options of `push`. */
export type PushOptions = TreeOptions;

/** Options of `pull`. */
export interface PullOptions extends TreeOptions {
  /**
   * Sync-back: bring only files that changed on the remote since the last push or pull (by
   * sha256), and new remote files. A file changed on both sides is a conflict and stays as it is
   * locally unless `prefer` is `"remote"`. Nothing local is deleted.
   */
  onlyChanged?: boolean;
  /** Who wins a conflict in `onlyChanged` mode (default `"local"`: the file is left alone). */
  prefer?: "local" | "remote";
}

/** A path both sides changed since the last sync. */
export interface Conflict {
  /** The path relative to the roots. */
  path: string;
  /** What happened on the local side. */
  local: "changed" | "deleted" | "added";
  /** What was done: the local file was kept, or the remote one applied (`prefer: "remote"`). */
  resolution: "kept-local" | "took-remote";
}

/** What a tree transfer did. */
export interface TreeResult {
  /** Paths written on the receiving side (files, symlinks, and directories created or chmodded). */
  transferred: string[];
  /** Paths deleted on the receiving side. */
  deleted: string[];
  /** Files found equal on both sides and not sent. */
  unchanged: number;
  /** Bytes of the tar stream moved (0 when nothing needed sending). */
  bytes: number;
  /** Wall time of the whole call in ms. */
  durationMs: number;
  /** Time spent talking to the remote (listings, hashes, the tar stream) in ms. */
  remoteMs: number;
}

/** What `pull` did. */
export interface PullResult extends TreeResult {
  /** Paths changed on both sides (sync-back only). */
  conflicts: Conflict[];
  /** Paths deleted on the remote since the last sync (sync-back only; left alone locally). */
  remoteDeleted: string[];
}

/** Tree transfers of an environment. */
export interface TreeOps {
  /** Sends `localDir` to `remoteDir` (created when missing); see {@linkcode PushOptions}. */
  push(localDir: string, remoteDir: string, options?: PushOptions): Promise<TreeResult>;
  /** Brings `remoteDir` to `localDir` (created when missing); see {@linkcode PullOptions}. */
  pull(remoteDir: string, localDir: string, options?: PullOptions): Promise<PullResult>;
}
