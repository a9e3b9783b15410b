/**
 * Types of tree transfers: `push` sends a local directory to a remote one in one tar stream,
 * `pull` brings a remote directory back; both keep a manifest (size, mtime, sha256 per file) so
 * that what did not change is not sent again.
 *
 * @module
 */

import type { TransferProgress } from "./files.ts";

/**
 * Options shared by `push` and `pull`.
 *
 * @example
 * ```ts
 * import { SshEnvironment, type TreeOptions } from "../../mod.ts";
 * const common: TreeOptions = {
 *   exclude: ["node_modules", ".git", "*.log"],
 *   onProgress: (p) => console.log(`${p.files ?? 0}/${p.totalFiles ?? "?"} files`),
 *   signal: AbortSignal.timeout(10 * 60_000),
 * };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * await env.push("./app", "/srv/app", { ...common, delete: true });
 * await env.pull("/srv/app/dist", "./dist", common);
 * ```
 */
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

/**
 * Options of `push`: the shared {@linkcode TreeOptions}.
 *
 * @example
 * ```ts
 * import { type PushOptions, SshEnvironment } from "../../mod.ts";
 * // Mirror ./site to the web root: what was deleted locally goes on the remote too.
 * const mirror: PushOptions = { delete: true, exclude: [".git"] };
 * await using env = await SshEnvironment.open("deploy@web1.example.com");
 * const r = await env.push("./site", "/var/www/site", mirror);
 * console.log(`${r.transferred.length} sent, ${r.deleted.length} deleted, ${r.unchanged} same`);
 * ```
 */
export type PushOptions = TreeOptions;

/**
 * Options of `pull`.
 *
 * @example
 * ```ts
 * import { type PullOptions, SshEnvironment } from "../../mod.ts";
 * // Bring back what the remote build changed since the last push, keeping local edits.
 * const syncBack: PullOptions = { onlyChanged: true, prefer: "local", exclude: ["*.o"] };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const r = await env.pull("/srv/app", "./app", syncBack);
 * for (const c of r.conflicts) console.warn(`${c.path}: changed on both sides, kept local`);
 * ```
 */
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

/**
 * A path both sides changed since the last sync.
 *
 * @example
 * ```ts
 * import { type Conflict, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const r = await env.pull("/srv/app", "./app", { onlyChanged: true, prefer: "remote" });
 * const overwritten: Conflict[] = r.conflicts.filter((c) => c.resolution === "took-remote");
 * for (const c of overwritten) console.warn(`${c.path}: local ${c.local} file replaced`);
 * ```
 */
export interface Conflict {
  /** The path relative to the roots. */
  path: string;
  /** What happened on the local side. */
  local: "changed" | "deleted" | "added";
  /** What was done: the local file was kept, or the remote one applied (`prefer: "remote"`). */
  resolution: "kept-local" | "took-remote";
}

/**
 * What a tree transfer did.
 *
 * @example
 * ```ts
 * import { SshEnvironment, type TreeResult } from "../../mod.ts";
 * const summary = (r: TreeResult) =>
 *   `${r.transferred.length} sent (${r.bytes} B), ${r.deleted.length} deleted, ` +
 *   `${r.unchanged} unchanged in ${r.durationMs} ms (${r.remoteMs} ms remote)`;
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * console.log(summary(await env.push("./src", "/srv/app/src")));
 * ```
 */
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

/**
 * What `pull` did.
 *
 * @example
 * ```ts
 * import { type PullResult, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const r: PullResult = await env.pull("/srv/app", "./app", { onlyChanged: true });
 * console.log(`${r.transferred.length} files updated locally`);
 * if (r.remoteDeleted.length) console.log("deleted on the remote:", r.remoteDeleted);
 * if (r.conflicts.length) console.log("changed on both sides:", r.conflicts.map((c) => c.path));
 * ```
 */
export interface PullResult extends TreeResult {
  /** Paths changed on both sides (sync-back only). */
  conflicts: Conflict[];
  /** Paths deleted on the remote since the last sync (sync-back only; left alone locally). */
  remoteDeleted: string[];
}

/**
 * Tree transfers of an environment.
 *
 * @example
 * ```ts
 * import { SshEnvironment, type TreeOps } from "../../mod.ts";
 * // Works with any environment: remote, local, or wrapped in hooks.
 * async function syncDocs(tree: TreeOps): Promise<void> {
 *   await tree.push("./docs", "/srv/docs", { exclude: ["generated"], delete: true });
 *   await tree.pull("/srv/docs/generated", "./docs/generated", { delete: true });
 * }
 * await using env = await SshEnvironment.open("deploy@docs.example.com");
 * await syncDocs(env);
 * ```
 */
export interface TreeOps {
  /** Sends `localDir` to `remoteDir` (created when missing); see {@linkcode PushOptions}. */
  push(localDir: string, remoteDir: string, options?: PushOptions): Promise<TreeResult>;
  /** Brings `remoteDir` to `localDir` (created when missing); see {@linkcode PullOptions}. */
  pull(remoteDir: string, localDir: string, options?: PullOptions): Promise<PullResult>;
}
