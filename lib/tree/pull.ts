/**
 * `pull`: bring a remote directory to a local one through one tar stream, receiving only what
 * differs; with `onlyChanged` it is sync-back: only what changed on the remote since the last
 * push or pull comes back, and files changed on both sides are conflicts.
 *
 * The tar stream is spooled to a local temp file first (an interrupted transfer applies nothing),
 * then each entry is checked (no `..`, no absolute path, no symlink pointing out, no write through
 * a symlink) and written atomically: a temp file beside the destination, then a rename.
 *
 * @module
 */

import { type RemoteTimer, remoteTimer } from "./_timing.ts";
import { dirname, join } from "node:path";
import type { Environment } from "../core/environment.ts";
import { FileError, YonderError } from "../core/errors.ts";
import { withRetry } from "../core/retry.ts";
import { fileFailure } from "../posix/results.ts";
import { cleanStaleTemps, localError, tempPathFor, writeAllSync } from "../core/file_stream.ts";
import {
  loadManifest,
  type Manifest,
  type ManifestEntry,
  manifestPath,
  remoteUnchanged,
  saveManifest,
} from "./manifest.ts";
import type { Conflict, PullOptions, PullResult } from "../core/tree_types.ts";
import { excluder } from "./_exclude.ts";
import { type Sha256, sha256Maker } from "./_hash.ts";
import { type LocalEntry, scanLocal } from "./_local_scan.ts";
import { assertInsideRoot, stripDot, unsafeLinkTarget } from "./_paths.ts";
import {
  createTarScript,
  nulList,
  type RemoteEntry,
  type RemoteFacts,
  remoteFacts,
  remoteHashes,
  remoteTree,
  requireTar,
  stateOf,
} from "./_remote.ts";
import { readTar, type TarHeader } from "./tar.ts";

/** What a pull must do. */
export interface PullPlan {
  /** Remote entries to fetch (directories, files, symlinks), parents first. */
  fetch: RemoteEntry[];
  /** Local paths to remove (mirror with `delete`). */
  del: string[];
  /** Files whose remote sha256 decides. */
  compare: RemoteEntry[];
  /** Entries equal on both sides. */
  unchanged: RemoteEntry[];
  /** Local directories whose mode only differs. */
  chmod: RemoteEntry[];
  /** Conflicts (sync-back). */
  conflicts: Conflict[];
  /** Paths in the manifest the remote no longer has (sync-back). */
  remoteDeleted: string[];
}

function byPath<T extends { path: string }>(a: T, b: T): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** Decides what to fetch before remote sums are known; pure, for tests. */
export function planPull(
  remote: ReadonlyMap<string, RemoteEntry>,
  local: ReadonlyMap<string, LocalEntry>,
  manifest: Manifest,
  options: { delete?: boolean | undefined; onlyChanged?: boolean | undefined },
): PullPlan {
  const plan: PullPlan = {
    fetch: [],
    del: [],
    compare: [],
    unchanged: [],
    chmod: [],
    conflicts: [],
    remoteDeleted: [],
  };
  for (const r of [...remote.values()].sort(byPath)) {
    const bucket = bucketOf(r, local.get(r.path), manifest.entries[r.path], options.onlyChanged);
    if (bucket) plan[bucket].push(r);
  }
  if (options.onlyChanged) {
    plan.remoteDeleted.push(...Object.keys(manifest.entries).sort().filter((p) => !remote.has(p)));
  } else if (options.delete) {
    plan.del.push(...localOnly(remote, local));
  }
  return plan;
}

/** The list of a {@linkcode PullPlan} a remote entry goes to before the sums are known. */
type PullBucket = "fetch" | "compare" | "unchanged" | "chmod";

/** Where a remote entry goes before the sums are known (null: nowhere). */
function bucketOf(
  r: RemoteEntry,
  l: LocalEntry | undefined,
  c: ManifestEntry | undefined,
  onlyChanged: boolean | undefined,
): PullBucket | null {
  if (r.type === "other") return null;
  if (r.type === "dir") return dirBucket(r, l, onlyChanged);
  return onlyChanged ? syncBackBucket(r, l, c) : mirrorBucket(r, l, c);
}

/** A remote directory: created when missing; in mirror mode, replaces a non-directory or chmods. */
function dirBucket(
  r: RemoteEntry,
  l: LocalEntry | undefined,
  onlyChanged: boolean | undefined,
): PullBucket | null {
  if (!l) return "fetch";
  if (l.type !== "dir") return onlyChanged ? null : "fetch";
  return l.mode !== r.mode && !onlyChanged ? "chmod" : null;
}

/** Sync-back: unchanged on the remote since the manifest → skip; new on both sides → fetch. */
function syncBackBucket(
  r: RemoteEntry,
  l: LocalEntry | undefined,
  c: ManifestEntry | undefined,
): PullBucket {
  if (c && remoteUnchanged(c, stateOf(r))) return "unchanged";
  if (!l && !c) return "fetch";
  return "compare";
}

/** Mirror: fetch what differs; a file the manifest cannot vouch for waits for its remote sum. */
function mirrorBucket(
  r: RemoteEntry,
  l: LocalEntry | undefined,
  c: ManifestEntry | undefined,
): PullBucket {
  if (!l || l.type !== r.type) return "fetch";
  if (r.type === "symlink") {
    const same = c?.type === "symlink" && c.target === l.target && remoteUnchanged(c, stateOf(r));
    return same ? "unchanged" : "fetch";
  }
  if (r.size !== l.size) return "fetch";
  if (c?.type !== "file" || !remoteUnchanged(c, stateOf(r))) return "compare";
  return c.sha256 === l.sha256 ? "unchanged" : "fetch";
}

/** Local paths the remote does not have, sorted, without those below one already listed. */
function localOnly(
  remote: ReadonlyMap<string, RemoteEntry>,
  local: ReadonlyMap<string, LocalEntry>,
): string[] {
  const del: string[] = [];
  for (const p of [...local.keys()].filter((p) => !remote.has(p)).sort()) {
    if (!del.some((d) => p.startsWith(d + "/"))) del.push(p);
  }
  return del;
}

/**
 * Sorts the compared files once the remote sums are known: equal → unchanged; in mirror mode
 * different → fetch; in sync-back mode, remote unchanged since the manifest → unchanged, local
 * unchanged → fetch, else a conflict (fetched only with `prefer: "remote"`).
 */
export function resolveCompared(
  plan: PullPlan,
  hashes: ReadonlyMap<string, string>,
  local: ReadonlyMap<string, LocalEntry>,
  manifest: Manifest,
  options: { onlyChanged?: boolean | undefined; prefer?: "local" | "remote" | undefined },
): void {
  for (const r of plan.compare) {
    const rsha = hashes.get(r.path);
    if (rsha === undefined) continue; // Gone meanwhile.
    const l = local.get(r.path);
    const c = manifest.entries[r.path];
    if (r.type === "symlink") {
      // Symlinks are compared after the fetch (their target comes with it).
      plan.fetch.push(r);
      continue;
    }
    if (l?.type === "file" && l.sha256 === rsha) {
      plan.unchanged.push(r);
      continue;
    }
    if (!options.onlyChanged) {
      plan.fetch.push(r);
      continue;
    }
    if (c?.sha256 === rsha) {
      plan.unchanged.push(r); // Touched, not changed.
      continue;
    }
    const localState: Conflict["local"] | null = !l
      ? (c ? "deleted" : null)
      : !c
      ? "added"
      : l.type !== c.type || l.sha256 !== c.sha256
      ? "changed"
      : null;
    if (localState === null) {
      plan.fetch.push(r);
      continue;
    }
    const takeRemote = options.prefer === "remote";
    plan.conflicts.push({
      path: r.path,
      local: localState,
      resolution: takeRemote ? "took-remote" : "kept-local",
    });
    if (takeRemote) plan.fetch.push(r);
  }
  plan.fetch.sort(byPath);
}

/**
 * Brings `remoteDir` on `env` to `localDir`. See {@linkcode PullOptions}.
 *
 * @example
 * ```ts
 * import { pull, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const r = await pull(env, "/srv/app/out", "./out", { onlyChanged: true });
 * for (const c of r.conflicts) console.log(`conflict: ${c.path}`);
 * ```
 */
export async function pull(
  env: Environment,
  remoteDir: string,
  localDir: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const existed = await Deno.lstat(localDir).then(() => true, () => false);
  try {
    return await pullInto(env, remoteDir, localDir, options);
  } catch (e) {
    // A pull into a directory it created leaves nothing behind when it fails: all of it was
    // this pull's.
    if (!existed) await Deno.remove(localDir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** One pull's arguments, shared by its phases. */
interface PullRun {
  env: Environment;
  remoteDir: string;
  localDir: string;
  options: PullOptions;
  /** Awaits a remote call, adding its wait to the result's `remoteMs`. */
  timed: RemoteTimer["timed"];
}

/** Both sides scanned, and the plan made from them. */
interface PullScan {
  /** Where the manifest is kept. */
  mpath: string;
  manifest: Manifest;
  remote: Map<string, RemoteEntry>;
  local: Map<string, LocalEntry>;
  plan: PullPlan;
}

async function pullInto(
  env: Environment,
  remoteDir: string,
  localDir: string,
  options: PullOptions,
): Promise<PullResult> {
  const started = performance.now();
  const waits = remoteTimer();
  const run: PullRun = { env, remoteDir, localDir, options, timed: waits.timed };
  const scan = await scanBothSides(run);
  const { plan } = scan;
  let facts = await compareSums(run, scan);
  await Deno.mkdir(localDir, { recursive: true }).catch((e) => {
    throw localError(e, localDir, "create");
  });
  const written = new Map<string, LocalEntry>();
  let bytes = 0;
  if (plan.fetch.length > 0) {
    facts ??= await run.timed(remoteFacts(env));
    requireTar(env, facts);
    bytes = await fetchAndApply(run, plan.fetch, facts, written);
  }
  await applyWithoutTransfer(localDir, scan, written, options.onlyChanged);
  const next = nextManifest(scan, written, options.onlyChanged);
  await saveManifest(scan.mpath, next).catch((e) => {
    throw new YonderError(`Cannot save the manifest "${scan.mpath}": ${e.message}`, {
      hint: "Check that the cache directory is writable (or set YONDER_CACHE_DIR)",
    });
  });
  return {
    transferred: [...written.keys()].sort(),
    deleted: plan.del,
    unchanged: plan.unchanged.filter((r) => r.type === "file").length,
    bytes,
    durationMs: performance.now() - started,
    remoteMs: waits.ms,
    conflicts: plan.conflicts,
    remoteDeleted: plan.remoteDeleted,
  };
}

/** Plan phase: loads the manifest, lists the remote, scans the local side, plans. */
async function scanBothSides(run: PullRun): Promise<PullScan> {
  const { env, remoteDir, localDir, options } = run;
  const excluded = excluder(options.exclude);
  const mpath = await manifestPath(env.label, remoteDir, localDir, options.cacheDir);
  const manifest = await loadManifest(mpath, env.label, remoteDir, localDir);
  // Temp files a killed pull left at the top of the tree go first (they are not part of it).
  await cleanStaleTemps(localDir);
  const [remoteAll, local] = await Promise.all([
    run.timed(remoteTree(env, remoteDir, false)),
    scanLocal(localDir, { excluded, previous: manifest }, true),
  ]);
  const remote = new Map([...remoteAll].filter(([p]) => !excluded(p)));
  for (const r of remote.values()) assertInsideRoot("remote", r.path);
  const plan = planPull(remote, local, manifest, options);
  return { mpath, manifest, remote, local, plan };
}

/**
 * Settles the plan's compared files by their remote sums; returns the remote facts it needed
 * (null when nothing was compared).
 */
async function compareSums(run: PullRun, scan: PullScan): Promise<RemoteFacts | null> {
  const { plan } = scan;
  if (plan.compare.length === 0) return null;
  const facts = await run.timed(remoteFacts(run.env));
  const files = plan.compare.filter((r) => r.type === "file").map((r) => r.path);
  const hashes = await run.timed(remoteHashes(run.env, run.remoteDir, files, facts));
  for (const r of plan.compare) if (r.type === "symlink") hashes.set(r.path, "");
  resolveCompared(plan, hashes, scan.local, scan.manifest, run.options);
  return facts;
}

/**
 * Transfer and apply phases: spools the tar of `fetch` to a temp file, then writes its entries
 * into the local tree (recording them in `written`); returns the bytes received.
 */
async function fetchAndApply(
  run: PullRun,
  fetch: readonly RemoteEntry[],
  facts: RemoteFacts,
  written: Map<string, LocalEntry>,
): Promise<number> {
  const spoolPath = await Deno.makeTempFile({ prefix: "yonder-pull-" });
  try {
    const bytes = await spoolTar(run, fetch, facts, spoolPath);
    await applySpool(run, spoolPath, { fetch, bytes, written });
    return bytes;
  } finally {
    await Deno.remove(spoolPath).catch(() => {});
  }
}

/** Receives the tar of `fetch` into `spoolPath` (retried as a whole); returns its size. */
async function spoolTar(
  run: PullRun,
  fetch: readonly RemoteEntry[],
  facts: RemoteFacts,
  spoolPath: string,
): Promise<number> {
  const { env, remoteDir, options } = run;
  return await withRetry(`pull ${remoteDir}`, async () => {
    // The stream goes from ssh straight into the spool file; progress polls its size.
    const poll = pollSpool(spoolPath, fetch.length, options.onProgress);
    try {
      const r = await run.timed(env.exec(createTarScript(remoteDir, facts), {
        stdin: nulList(fetch.map((e) => e.path)),
        stdoutFile: spoolPath,
        ...(options.signal ? { signal: options.signal } : {}),
      }));
      if (r.code !== 0) throw fileFailure(r, "read", remoteDir, env.label);
    } finally {
      clearInterval(poll);
    }
    return (await Deno.stat(spoolPath)).size;
  }, { signal: options.signal });
}

/** Reports the spool file's size every 250 ms (no timer without `onProgress`). */
function pollSpool(
  spoolPath: string,
  totalFiles: number,
  onProgress: PullOptions["onProgress"],
): ReturnType<typeof setInterval> | undefined {
  if (!onProgress) return undefined;
  return setInterval(() => {
    Deno.stat(spoolPath).then(
      (s) => onProgress({ bytes: s.size, totalFiles }),
      () => {},
    );
  }, 250);
}

/** Writes every entry of the spooled tar, then the directory modes (deepest first). */
async function applySpool(
  run: PullRun,
  spoolPath: string,
  received: {
    fetch: readonly RemoteEntry[];
    bytes: number;
    written: Map<string, LocalEntry>;
  },
): Promise<void> {
  const { localDir, options } = run;
  const { fetch, bytes, written } = received;
  let files = 0;
  const ctx: ApplyContext = {
    root: localDir,
    wanted: new Map(fetch.map((r) => [r.path, r])),
    dirModes: [],
    sha256: await sha256Maker(),
  };
  await readTar(spoolPath, async (h, body) => {
    const e = await applyEntry(ctx, h, body);
    if (e) written.set(e.path, e);
    files++;
    options.onProgress?.({ bytes, files, totalFiles: fetch.length });
  });
  for (const [rel, mode] of ctx.dirModes.sort((a, b) => (a[0] < b[0] ? 1 : -1))) {
    await Deno.chmod(join(localDir, rel), mode);
  }
}

/** The local changes that need no transfer: modes that only differ, and deletions. */
async function applyWithoutTransfer(
  localDir: string,
  scan: PullScan,
  written: Map<string, LocalEntry>,
  onlyChanged: boolean | undefined,
): Promise<void> {
  const { plan, local } = scan;
  if (!onlyChanged) {
    // Same content, other mode: a chmod, not a transfer.
    for (const r of plan.unchanged) {
      const l = local.get(r.path);
      if (l?.type === "file" && l.mode !== r.mode) plan.chmod.push(r);
    }
  }
  for (const r of plan.chmod) {
    await Deno.chmod(join(localDir, r.path), r.mode);
    const l = local.get(r.path);
    if (l) written.set(r.path, { ...l, mode: r.mode });
  }
  for (const p of plan.del) {
    await Deno.remove(join(localDir, p), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw localError(e, p, "remove");
    });
  }
}

/** The manifest: what is in sync now, with the remote's state; conflicts keep their old entry. */
function nextManifest(
  scan: PullScan,
  written: ReadonlyMap<string, LocalEntry>,
  onlyChanged: boolean | undefined,
): Manifest {
  const { manifest, remote, local, plan } = scan;
  const next: Manifest = { ...manifest, entries: { ...manifest.entries } };
  const conflicted = new Set(
    plan.conflicts.filter((c) => c.resolution === "kept-local").map((c) => c.path),
  );
  const same = new Set(plan.unchanged);
  for (const r of remote.values()) {
    if (conflicted.has(r.path) || r.type === "other") continue;
    const l = written.get(r.path) ?? local.get(r.path);
    if (!l || l.type !== r.type) continue;
    if (!written.has(r.path) && !same.has(r) && r.type !== "dir") continue;
    next.entries[r.path] = entryOf(l, r);
  }
  forgetGone(next, plan.del, onlyChanged ? null : remote);
  return next;
}

/**
 * Drops from `next` the deleted paths (and what was below them) and, when `remote` is given
 * (mirror mode), every path the remote does not have.
 */
function forgetGone(
  next: Manifest,
  deleted: readonly string[],
  remote: ReadonlyMap<string, RemoteEntry> | null,
): void {
  for (const p of deleted) {
    for (const k of Object.keys(next.entries)) {
      if (k === p || k.startsWith(p + "/")) delete next.entries[k];
    }
  }
  if (!remote) return;
  for (const k of Object.keys(next.entries)) if (!remote.has(k)) delete next.entries[k];
}

function entryOf(l: LocalEntry, r: RemoteEntry): ManifestEntry {
  return {
    type: l.type,
    mode: l.mode,
    size: l.size,
    mtimeMs: l.mtimeMs,
    ...(l.sha256 !== undefined ? { sha256: l.sha256 } : {}),
    ...(l.target !== undefined ? { target: l.target } : {}),
    remote: stateOf(r),
  };
}

/** Refuses to write below a local symlink (it could point anywhere). */
async function assertNoSymlinkParent(root: string, rel: string): Promise<void> {
  const parts = rel.split("/");
  let at = root;
  for (const part of parts.slice(0, -1)) {
    at = join(at, part);
    const st = await Deno.lstat(at).catch(() => null);
    if (st?.isSymlink) {
      throw new FileError(rel, `Refusing to write "${rel}": "${at}" is a symlink`, {
        hint: "Remove the local symlink, or exclude the path",
      });
    }
    if (!st) return;
  }
}

/** What the entries of one spooled stream are applied with. */
interface ApplyContext {
  /** The local root. */
  root: string;
  /** The entries asked for, by path: anything else is refused. */
  wanted: ReadonlyMap<string, RemoteEntry>;
  /** Directory modes, set once every entry is written. */
  dirModes: [string, number][];
  /** Hashes file bodies as they are written. */
  sha256: Sha256;
}

/** Where one received entry goes: its relative path, its destination, and a temp file beside it. */
interface Placement {
  rel: string;
  dest: string;
  tmp: string;
}

/** Writes one received entry atomically; returns what is now on disk. */
async function applyEntry(
  ctx: ApplyContext,
  h: TarHeader,
  body: AsyncIterable<Uint8Array>,
): Promise<LocalEntry | null> {
  const rel = stripDot(h.name);
  assertInsideRoot("remote", rel);
  const want = ctx.wanted.get(rel);
  if (!want) {
    throw new FileError(rel, `Refusing remote entry "${rel}": it was not asked for`);
  }
  await assertNoSymlinkParent(ctx.root, rel);
  const dest = join(ctx.root, rel);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const mtimeMs = h.mtime?.getTime() ?? Date.now();
  const old = await Deno.lstat(dest).catch(() => null);
  const dir = dirname(dest);
  await Deno.mkdir(dir, { recursive: true });
  if (h.type === "directory") {
    if (old && !old.isDirectory) await Deno.remove(dest);
    await Deno.mkdir(dest, { recursive: true });
    ctx.dirModes.push([rel, mode]);
    return { path: rel, type: "dir", mode, size: 0, mtimeMs: old?.mtime?.getTime() ?? 0 };
  }
  if (old?.isDirectory) await Deno.remove(dest, { recursive: true });
  const name = rel.split("/").at(-1)!;
  const at: Placement = { rel, dest, tmp: tempPathFor(dir, name) };
  if (h.type === "symlink") return await placeSymlink(at, h.linkname ?? "");
  if (h.type !== "file" && h.type !== "contiguous-file") {
    throw new FileError(rel, `Refusing remote entry "${rel}": unsupported type ${h.type}`);
  }
  return await placeFile(at, { mode, mtimeMs, body, sha256: ctx.sha256 });
}

/** Puts a received symlink in place (refusing one that points out of the tree). */
async function placeSymlink(at: Placement, target: string): Promise<LocalEntry> {
  const { rel, dest, tmp } = at;
  const why = unsafeLinkTarget(rel, target);
  if (why) {
    throw new FileError(rel, `Refusing remote entry "${rel}": ${why}`, {
      hint: "The remote tree holds a symlink that escapes its root; remove or exclude it",
    });
  }
  await Deno.symlink(target, tmp);
  try {
    await Deno.rename(tmp, dest);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw localError(e, rel, "write");
  }
  const st = await Deno.lstat(dest);
  return {
    path: rel,
    type: "symlink",
    mode: (st.mode ?? 0) & 0o7777,
    size: new TextEncoder().encode(target).length,
    mtimeMs: st.mtime?.getTime() ?? 0,
    target,
  };
}

/** Writes a received file to its temp file, hashing it, then renames it into place. */
async function placeFile(
  at: Placement,
  file: { mode: number; mtimeMs: number; body: AsyncIterable<Uint8Array>; sha256: Sha256 },
): Promise<LocalEntry> {
  const { rel, dest, tmp } = at;
  const { mode, mtimeMs, body } = file;
  const hash = file.sha256();
  let size = 0;
  let out: Deno.FsFile;
  try {
    out = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  } catch (e) {
    throw localError(e, rel, "write");
  }
  let ok = false;
  try {
    for await (const chunk of body) {
      writeAllSync(out, chunk);
      hash.update(chunk);
      size += chunk.length;
    }
    out.close();
    await Deno.chmod(tmp, mode);
    const t = new Date(mtimeMs);
    await Deno.utime(tmp, t, t);
    await Deno.rename(tmp, dest);
    ok = true;
  } catch (e) {
    throw localError(e, rel, "write");
  } finally {
    if (!ok) {
      try {
        out.close();
      } catch {
        // Closed already.
      }
      await Deno.remove(tmp).catch(() => {});
    }
  }
  return { path: rel, type: "file", mode, size, mtimeMs, sha256: hash.digest("hex") };
}
