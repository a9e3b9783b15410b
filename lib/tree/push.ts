/**
 * `push`: send a local directory to a remote one in one tar stream over the master, sending only
 * what differs from the remote (by the manifest, the remote listing, and remote sha256 sums when
 * the remote changed behind our back).
 *
 * @module
 */

import { type RemoteTimer, remoteTimer } from "./_timing.ts";
import type { Environment } from "../core/environment.ts";
import { YonderError } from "../core/errors.ts";
import { withRetry } from "../core/retry.ts";
import { newNonce } from "../posix/frames.ts";
import { fileFailure, parseListing } from "../posix/results.ts";
import {
  loadManifest,
  type Manifest,
  type ManifestEntry,
  manifestPath,
  remoteUnchanged,
  saveManifest,
} from "./manifest.ts";
import type { PushOptions, TreeResult } from "../core/tree_types.ts";
import { excluder } from "./_exclude.ts";
import { type Sha256, sha256Maker } from "./_hash.ts";
import { hashFiles, type LocalEntry, scanLocal } from "./_local_scan.ts";
import {
  applyPushScript,
  controlDir,
  NO_TAR_STATUS,
  nulList,
  remoteEntries,
  type RemoteEntry,
  remoteFacts,
  remoteHashes,
  remoteTree,
  stateOf,
  sweepStale,
} from "./_remote.ts";
import { type ControlMembers, localPacker, type Packer, type PackItem, packTree } from "./tar.ts";

const enc = new TextEncoder();

/** What a push must do, decided from both sides and the manifest. */
export interface PushPlan {
  /** Entries to send (directories, files, symlinks), parents before children. */
  send: LocalEntry[];
  /** Remote paths to remove first (type changes, and with `delete` what is remote only). */
  del: string[];
  /** Files whose remote sha256 must be compared before deciding. */
  compare: LocalEntry[];
  /** Files found equal without a transfer. */
  unchanged: LocalEntry[];
}

/** Decides what to send; pure, for tests. */
export function planPush(
  local: ReadonlyMap<string, LocalEntry>,
  remote: ReadonlyMap<string, RemoteEntry>,
  manifest: Manifest,
  options: { delete?: boolean | undefined; excluded: (rel: string) => boolean },
): PushPlan {
  const plan: PushPlan = { send: [], del: [], compare: [], unchanged: [] };
  for (const l of [...local.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const r = remote.get(l.path);
    const c = manifest.entries[l.path];
    if (r && r.type !== l.type) {
      plan.del.push(l.path);
      plan.send.push(l);
      continue;
    }
    if (!r) {
      plan.send.push(l);
      continue;
    }
    if (l.type === "dir") {
      if (r.mode !== l.mode) plan.send.push(l);
      continue;
    }
    if (l.type === "symlink") {
      const same = c?.type === "symlink" && c.target === l.target && remoteUnchanged(c, stateOf(r));
      if (same) plan.unchanged.push(l);
      else plan.send.push(l);
      continue;
    }
    if (r.size !== l.size || r.mode !== l.mode) {
      plan.send.push(l);
      continue;
    }
    if (c?.type === "file" && remoteUnchanged(c, stateOf(r))) {
      if (c.sha256 === l.sha256) plan.unchanged.push(l);
      else plan.send.push(l);
      continue;
    }
    plan.compare.push(l);
  }
  if (options.delete) {
    const gone = [...remote.keys()].filter((p) => !local.has(p) && !options.excluded(p)).sort();
    for (const p of gone) {
      if (plan.del.some((d) => p.startsWith(d + "/"))) continue;
      plan.del.push(p);
    }
  }
  return plan;
}

/** The manifest entry of a local entry with the remote's state. */
export function manifestEntry(l: LocalEntry, r: RemoteEntry | undefined): ManifestEntry {
  return {
    type: l.type,
    mode: l.mode,
    size: l.size,
    mtimeMs: l.mtimeMs,
    ...(l.sha256 !== undefined ? { sha256: l.sha256 } : {}),
    ...(l.target !== undefined ? { target: l.target } : {}),
    ...(r ? { remote: stateOf(r) } : {}),
  };
}

/**
 * The files whose local sha256 the plan needs: those the remote has with the same type, size and
 * mode (any other file is sent anyway, and its sum is taken from the stream as it goes).
 */
export function filesToHash(
  local: ReadonlyMap<string, LocalEntry>,
  remote: ReadonlyMap<string, RemoteEntry>,
): LocalEntry[] {
  const out: LocalEntry[] = [];
  for (const l of local.values()) {
    if (l.type !== "file") continue;
    const r = remote.get(l.path);
    if (r && r.type === "file" && r.size === l.size && r.mode === l.mode) out.push(l);
  }
  return out;
}

/**
 * Sends `localDir` to `remoteDir` on `env`. See {@linkcode PushOptions}.
 *
 * One tar stream carries what changed: made by the local GNU tar when there is one (else in
 * JavaScript), checked member by member against the plan and hashed on its way, applied on the
 * remote from a staging directory only once its completion marker arrived; the same remote
 * command then lists the result for the manifest.
 *
 * @example
 * ```ts
 * import { push, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const r = await push(env, "./src", "/srv/app/src", { exclude: ["node_modules"], delete: true });
 * console.log(`${r.transferred.length} sent, ${r.unchanged} unchanged`);
 * ```
 */
export async function push(
  env: Environment,
  localDir: string,
  remoteDir: string,
  options: PushOptions = {},
): Promise<TreeResult> {
  const started = performance.now();
  const waits = remoteTimer();
  const run: PushRun = { env, localDir, remoteDir, options, timed: waits.timed };
  const { mpath, manifest, local, remote, plan } = await scanAndPlan(run);
  const sent = plan.send.length > 0 || plan.del.length > 0;
  const progress = { bytes: 0 };
  // After a transfer the manifest records the remote as the apply left it.
  const after = sent ? await sendPlan(run, plan, progress) : remote;
  const next: Manifest = { ...manifest, entries: {} };
  for (const l of local.values()) next.entries[l.path] = manifestEntry(l, after.get(l.path));
  if (sent || JSON.stringify(next.entries) !== JSON.stringify(manifest.entries)) {
    await saveManifest(mpath, next).catch((e) => {
      throw new YonderError(`Cannot save the manifest "${mpath}": ${e.message}`, {
        hint: "Check that the cache directory is writable (or set YONDER_CACHE_DIR)",
      });
    });
  }
  return {
    transferred: plan.send.map((l) => l.path),
    deleted: plan.del,
    unchanged: plan.unchanged.filter((l) => l.type === "file").length,
    bytes: progress.bytes,
    durationMs: performance.now() - started,
    remoteMs: waits.ms,
  };
}

/** One push's arguments, shared by its phases. */
interface PushRun {
  env: Environment;
  localDir: string;
  remoteDir: string;
  options: PushOptions;
  /** Awaits a remote call, adding its wait to the result's `remoteMs`. */
  timed: RemoteTimer["timed"];
}

/**
 * Plan phase: loads the manifest, scans the local side, lists the remote (finishing first a push
 * that was stopped while it applied), plans, and settles the compared files by remote sums.
 */
async function scanAndPlan(run: PushRun): Promise<{
  mpath: string;
  manifest: Manifest;
  local: Map<string, LocalEntry>;
  remote: Map<string, RemoteEntry>;
  plan: PushPlan;
}> {
  const { env, localDir, remoteDir, options, timed } = run;
  const excluded = excluder(options.exclude);
  const mpath = await manifestPath(env.label, remoteDir, localDir, options.cacheDir);
  const manifest = await loadManifest(mpath, env.label, remoteDir, localDir);
  const [local, remoteAll] = await Promise.all([
    scanLocal(localDir, { excluded, refuseEscapes: true, hash: false }),
    // An earlier push that was stopped while it applied is finished first (its journal).
    timed(sweepStale(env, remoteDir).then(() => remoteTree(env, remoteDir))),
  ]);
  const remote = new Map([...remoteAll].filter(([p]) => !excluded(p)));
  await hashFiles(localDir, filesToHash(local, remote), manifest);
  const plan = planPush(local, remote, manifest, { delete: options.delete, excluded });
  if (plan.compare.length > 0) await compareSums(run, plan);
  return { mpath, manifest, local, remote, plan };
}

/** Moves each compared file to `unchanged` or `send` by its remote sha256. */
async function compareSums(run: PushRun, plan: PushPlan): Promise<void> {
  const { env, remoteDir, timed } = run;
  const facts = await timed(remoteFacts(env));
  const hashes = await timed(
    remoteHashes(env, remoteDir, plan.compare.map((l) => l.path), facts),
  );
  for (const l of plan.compare) {
    if (hashes.get(l.path) === l.sha256) plan.unchanged.push(l);
    else plan.send.push(l);
  }
  plan.send.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** What one push's tar stream carries, and where it reports its size. */
interface PushStream {
  plan: PushPlan;
  /** Names the control directory and marks the stream complete. */
  nonce: string;
  /** The control members (deletions, directory modes, completion marker). */
  control: ControlMembers;
  packer: Packer;
  sha256: Sha256;
  /** Totals for progress. */
  totalFiles: number;
  totalBytes: number;
  /** Bytes of the stream so far (reset on each try). */
  progress: { bytes: number };
}

/**
 * Transfer and apply phases: sends the plan in one tar stream (retried as a whole) that the remote
 * applies; returns the remote tree as it is afterwards.
 */
async function sendPlan(
  run: PushRun,
  plan: PushPlan,
  progress: { bytes: number },
): Promise<Map<string, RemoteEntry>> {
  const [packer, sha256] = await Promise.all([localPacker(), sha256Maker()]);
  const nonce = freshNonce(plan.send);
  const stream: PushStream = {
    plan,
    nonce,
    control: controlMembers(plan, nonce),
    packer,
    sha256,
    totalFiles: plan.send.length,
    totalBytes: plan.send.reduce((n, l) => n + 512 + Math.ceil(l.size / 512) * 512, 1024),
    progress,
  };
  const listing = await withRetry(`push ${run.localDir}`, () => sendOnce(run, stream), {
    signal: run.options.signal,
  });
  return listing.length > 0
    ? remoteEntries(parseListing(listing))
    : await run.timed(remoteTree(run.env, run.remoteDir));
}

/** A nonce whose control directory no top-level entry being sent is named like. */
function freshNonce(send: readonly LocalEntry[]): string {
  let nonce = newNonce().slice(0, 16);
  while (send.some((l) => l.path.split("/")[0] === controlDir(nonce))) {
    nonce = newNonce().slice(0, 16);
  }
  return nonce;
}

/** The control members: what to delete, directory modes by mode, and the completion marker. */
function controlMembers(plan: PushPlan, nonce: string): ControlMembers {
  const ctl = controlDir(nonce);
  const chmod = new Map<number, string[]>();
  for (const l of plan.send) {
    if (l.type === "dir") chmod.set(l.mode, [...(chmod.get(l.mode) ?? []), l.path]);
  }
  const control: ControlMembers = [];
  if (plan.del.length > 0) control.push([`${ctl}/del`, nulList(plan.del)]);
  for (const [mode, dirs] of chmod) {
    control.push([`${ctl}/chmod/${mode.toString(8).padStart(4, "0")}`, nulList(dirs)]);
  }
  control.push([`${ctl}/ok`, enc.encode(nonce)]);
  return control;
}

/** One try of the transfer; records the files' sums and returns the remote's listing. */
async function sendOnce(run: PushRun, s: PushStream): Promise<Uint8Array> {
  const { env, localDir, remoteDir, options } = run;
  const { plan, totalBytes, totalFiles } = s;
  s.progress.bytes = 0;
  const items: PackItem[] = plan.send;
  const packed = packTree(localDir, items, s.control, s.packer, s.sha256, (b, files) => {
    s.progress.bytes = b;
    options.onProgress?.({ bytes: b, totalBytes, files, totalFiles });
  });
  let r;
  try {
    r = await run.timed(env.exec(applyPushScript(remoteDir, s.nonce), {
      stdin: packed.stream,
      ...(options.signal ? { signal: options.signal } : {}),
    }));
  } finally {
    // Whatever happened, no local tar is left writing to a pipe nobody reads.
    await packed.stream.cancel().catch(() => {});
  }
  // The local side failing (a file changed, tar failed) cut the stream: that is the cause.
  const failure = packed.failure();
  if (failure !== undefined) throw failure;
  if (r.code === NO_TAR_STATUS) {
    throw new YonderError(`No tar on "${env.label}": push and pull need it`, {
      hint: "Install tar on the remote (apt-get install tar, apk add tar, …)",
    });
  }
  if (r.code !== 0) throw fileFailure(r, "write", remoteDir, env.label);
  for (const l of plan.send) {
    if (l.type === "file") l.sha256 = packed.hashes.get(l.path);
  }
  return r.stdout;
}
