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

import { remoteTimer } from "./_timing.ts";
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
    if (r.type === "other") continue;
    const l = local.get(r.path);
    const c = manifest.entries[r.path];
    if (r.type === "dir") {
      if (!l) plan.fetch.push(r);
      else if (l.type !== "dir") {
        if (!options.onlyChanged) plan.fetch.push(r);
      } else if (l.mode !== r.mode && !options.onlyChanged) plan.chmod.push(r);
      continue;
    }
    if (options.onlyChanged) {
      if (c && remoteUnchanged(c, stateOf(r))) plan.unchanged.push(r);
      else if (!l && !c) plan.fetch.push(r);
      else plan.compare.push(r);
      continue;
    }
    if (!l || l.type !== r.type) {
      plan.fetch.push(r);
      continue;
    }
    if (r.type === "symlink") {
      const same = c?.type === "symlink" && c.target === l.target && remoteUnchanged(c, stateOf(r));
      if (same) plan.unchanged.push(r);
      else plan.fetch.push(r);
      continue;
    }
    if (r.size !== l.size) plan.fetch.push(r);
    else if (c?.type === "file" && remoteUnchanged(c, stateOf(r)) && c.sha256 === l.sha256) {
      plan.unchanged.push(r);
    } else if (c?.type === "file" && remoteUnchanged(c, stateOf(r))) plan.fetch.push(r);
    else plan.compare.push(r);
  }
  if (options.onlyChanged) {
    for (const p of Object.keys(manifest.entries).sort()) {
      if (!remote.has(p)) plan.remoteDeleted.push(p);
    }
  } else if (options.delete) {
    const gone = [...local.keys()].filter((p) => !remote.has(p)).sort();
    for (const p of gone) {
      if (plan.del.some((d) => p.startsWith(d + "/"))) continue;
      plan.del.push(p);
    }
  }
  return plan;
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
 * ```ts ignore
 * import { pull } from "./pull.ts";
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

async function pullInto(
  env: Environment,
  remoteDir: string,
  localDir: string,
  options: PullOptions,
): Promise<PullResult> {
  const started = performance.now();
  const waits = remoteTimer();
  const timed = waits.timed;
  const excluded = excluder(options.exclude);
  const mpath = await manifestPath(env.label, remoteDir, localDir, options.cacheDir);
  const manifest = await loadManifest(mpath, env.label, remoteDir, localDir);
  // Temp files a killed pull left at the top of the tree go first (they are not part of it).
  await cleanStaleTemps(localDir);
  const [remoteAll, local] = await Promise.all([
    timed(remoteTree(env, remoteDir, false)),
    scanLocal(localDir, { excluded, previous: manifest }, true),
  ]);
  const remote = new Map([...remoteAll].filter(([p]) => !excluded(p)));
  for (const r of remote.values()) assertInsideRoot("remote", r.path);
  const plan = planPull(remote, local, manifest, options);
  let facts = null;
  if (plan.compare.length > 0) {
    facts = await timed(remoteFacts(env));
    const files = plan.compare.filter((r) => r.type === "file").map((r) => r.path);
    const hashes = await timed(remoteHashes(env, remoteDir, files, facts));
    for (const r of plan.compare) if (r.type === "symlink") hashes.set(r.path, "");
    resolveCompared(plan, hashes, local, manifest, options);
  }
  await Deno.mkdir(localDir, { recursive: true }).catch((e) => {
    throw localError(e, localDir, "create");
  });
  const wanted = new Map(plan.fetch.map((r) => [r.path, r]));
  const written = new Map<string, LocalEntry>();
  let bytes = 0;
  if (plan.fetch.length > 0) {
    facts ??= await timed(remoteFacts(env));
    requireTar(env, facts);
    const f = facts;
    const spoolPath = await Deno.makeTempFile({ prefix: "yonder-pull-" });
    try {
      await withRetry(`pull ${remoteDir}`, async () => {
        // The stream goes from ssh straight into the spool file; progress polls its size.
        const onProgress = options.onProgress;
        const poll = onProgress
          ? setInterval(() => {
            Deno.stat(spoolPath).then(
              (s) => onProgress({ bytes: s.size, totalFiles: plan.fetch.length }),
              () => {},
            );
          }, 250)
          : undefined;
        try {
          const r = await timed(env.exec(createTarScript(remoteDir, f), {
            stdin: nulList(plan.fetch.map((e) => e.path)),
            stdoutFile: spoolPath,
            ...(options.signal ? { signal: options.signal } : {}),
          }));
          if (r.code !== 0) throw fileFailure(r, "read", remoteDir, env.label);
        } finally {
          clearInterval(poll);
        }
        bytes = (await Deno.stat(spoolPath)).size;
      }, { signal: options.signal });
      let files = 0;
      const sha256 = await sha256Maker();
      const dirModes: [string, number][] = [];
      await readTar(spoolPath, async (h, body) => {
        const e = await applyEntry(localDir, h, body, wanted, dirModes, sha256);
        if (e) written.set(e.path, e);
        files++;
        options.onProgress?.({ bytes, files, totalFiles: plan.fetch.length });
      });
      for (const [rel, mode] of dirModes.sort((a, b) => (a[0] < b[0] ? 1 : -1))) {
        await Deno.chmod(join(localDir, rel), mode);
      }
    } finally {
      await Deno.remove(spoolPath).catch(() => {});
    }
  }
  if (!options.onlyChanged) {
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
  // The manifest: what is in sync now, with the remote's state; conflicts keep their old entry.
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
  for (const p of plan.del) {
    for (const k of Object.keys(next.entries)) {
      if (k === p || k.startsWith(p + "/")) delete next.entries[k];
    }
  }
  if (!options.onlyChanged) {
    for (const k of Object.keys(next.entries)) if (!remote.has(k)) delete next.entries[k];
  }
  await saveManifest(mpath, next).catch((e) => {
    throw new YonderError(`Cannot save the manifest "${mpath}": ${e.message}`, {
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

/** Writes one received entry atomically; returns what is now on disk. */
async function applyEntry(
  root: string,
  h: TarHeader,
  body: AsyncIterable<Uint8Array>,
  wanted: ReadonlyMap<string, RemoteEntry>,
  dirModes: [string, number][],
  sha256: Sha256,
): Promise<LocalEntry | null> {
  const rel = stripDot(h.name);
  assertInsideRoot("remote", rel);
  const want = wanted.get(rel);
  if (!want) {
    throw new FileError(rel, `Refusing remote entry "${rel}": it was not asked for`);
  }
  await assertNoSymlinkParent(root, rel);
  const dest = join(root, rel);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const mtimeMs = h.mtime?.getTime() ?? Date.now();
  const old = await Deno.lstat(dest).catch(() => null);
  const dir = dirname(dest);
  await Deno.mkdir(dir, { recursive: true });
  if (h.type === "directory") {
    if (old && !old.isDirectory) await Deno.remove(dest);
    await Deno.mkdir(dest, { recursive: true });
    dirModes.push([rel, mode]);
    return { path: rel, type: "dir", mode, size: 0, mtimeMs: old?.mtime?.getTime() ?? 0 };
  }
  if (old?.isDirectory) await Deno.remove(dest, { recursive: true });
  const name = rel.split("/").at(-1)!;
  const tmp = tempPathFor(dir, name);
  if (h.type === "symlink") {
    const target = h.linkname ?? "";
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
  if (h.type !== "file" && h.type !== "contiguous-file") {
    throw new FileError(rel, `Refusing remote entry "${rel}": unsupported type ${h.type}`);
  }
  const hash = sha256();
  let size = 0;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  } catch (e) {
    throw localError(e, rel, "write");
  }
  let ok = false;
  try {
    for await (const chunk of body) {
      writeAllSync(file, chunk);
      hash.update(chunk);
      size += chunk.length;
    }
    file.close();
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
        file.close();
      } catch {
        // Closed already.
      }
      await Deno.remove(tmp).catch(() => {});
    }
  }
  return { path: rel, type: "file", mode, size, mtimeMs, sha256: hash.digest("hex") };
}
