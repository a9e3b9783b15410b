/**
 * The remote half of tree transfers: the tar/sha256 probe (once per master), the recursive
 * listing, remote sha256 sums, and the scripts that apply a pushed tar stream and create one for
 * a pull. Names travel NUL-separated on stdin or inside the tar stream, never on a command line.
 */

import type { Environment } from "../core/environment.ts";
import { NotFound, YonderError } from "../core/errors.ts";
import type { FileInfo } from "../core/files.ts";
import { listScript, PRELUDE, STAGE_FUNCS, sweepScript } from "../posix/file_scripts.ts";
import { fileFailure } from "../posix/results.ts";
import { remotePathExpr } from "../posix/remote_script.ts";
import { shellQuote } from "../core/quote.ts";
import type { RemoteState } from "./manifest.ts";

/** What the remote has for tree transfers. */
export interface RemoteFacts {
  /** The tar flavour. */
  tar: "gnu" | "bsd" | "busybox" | "other" | "none";
  /** The command that prints the sha256 of stdin, or null. */
  sha256: string | null;
}

const FACTS_SCRIPT = `v=$(tar --version 2>&1 | head -n 1)
case $v in
  *"GNU tar"*) echo tar=gnu;;
  *bsdtar*|*libarchive*) echo tar=bsd;;
  *BusyBox*|*busybox*) echo tar=busybox;;
  *) if command -v tar >/dev/null 2>&1; then echo tar=other; else echo tar=none; fi;;
esac
for c in sha256sum "shasum -a 256" sha256 "openssl dgst -sha256"; do
  if h=$(printf '' | $c 2>/dev/null) && [ -n "$h" ]; then echo "sha=$c"; break; fi
done`;

const factsCache = new Map<string, Promise<RemoteFacts>>();

/** Parses the probe's output. */
export function parseFacts(out: string): RemoteFacts {
  const kv = new Map<string, string>();
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const tar = kv.get("tar");
  return {
    tar: tar === "gnu" || tar === "bsd" || tar === "busybox" || tar === "other" ? tar : "none",
    sha256: kv.get("sha") || null,
  };
}

/**
 * Probes the remote's tar flavour and sha256 command, once per master (per environment label and
 * control socket) for the life of the process.
 */
export function remoteFacts(env: Environment): Promise<RemoteFacts> {
  const socket = (env as { controlPath?: string | null }).controlPath ?? "";
  const key = `${env.label}|${socket}`;
  let p = factsCache.get(key);
  if (!p) {
    p = env.exec(FACTS_SCRIPT, { timeoutMs: 30_000 }).then((r) => {
      if (r.code !== 0) {
        throw new YonderError(`Cannot probe tar on "${env.label}" (exit ${r.code})`);
      }
      return parseFacts(new TextDecoder().decode(r.stdout));
    });
    factsCache.set(key, p);
    p.catch(() => factsCache.delete(key));
  }
  return p;
}

/** Throws when the remote has no tar. */
export function requireTar(env: Environment, facts: RemoteFacts): void {
  if (facts.tar === "none") {
    throw new YonderError(`No tar on "${env.label}": push and pull need it`, {
      hint: "Install tar on the remote (apt-get install tar, apk add tar, …)",
    });
  }
}

/** A remote entry: the listing fields the manifest compares. */
export interface RemoteEntry extends RemoteState {
  /** Path relative to the root. */
  path: string;
  /** What it is. */
  type: FileInfo["type"];
}

/**
 * Finishes or removes what writers that no longer run left in `dir` (a push interrupted while it
 * applied is finished from its journal), so a listing that follows sees the tree as it is.
 */
export async function sweepStale(env: Environment, dir: string): Promise<void> {
  await env.exec(sweepScript(dir), { timeoutMs: 120_000 });
}

/** Lists `dir` recursively (hidden entries too); a missing dir is an empty tree if allowed. */
export async function remoteTree(
  env: Environment,
  dir: string,
  allowMissing = true,
): Promise<Map<string, RemoteEntry>> {
  let list: FileInfo[];
  try {
    list = await env.list(dir, { recursive: true, hidden: true });
  } catch (e) {
    if (allowMissing && e instanceof NotFound) return new Map();
    throw e;
  }
  return remoteEntries(list);
}

/** A listing as remote entries by path. */
export function remoteEntries(list: readonly FileInfo[]): Map<string, RemoteEntry> {
  const out = new Map<string, RemoteEntry>();
  for (const f of list) {
    out.set(f.name, {
      path: f.name,
      type: f.type,
      size: f.size,
      mtime: Math.floor(f.mtime.getTime() / 1000),
      mode: f.mode,
    });
  }
  return out;
}

/** The remote's state of an entry, as the manifest records it. */
export function stateOf(e: RemoteEntry): RemoteState {
  return { size: e.size, mtime: e.mtime, mode: e.mode };
}

const enc = new TextEncoder();

/** NUL-separated `./path` list. */
export function nulList(paths: readonly string[]): Uint8Array {
  return enc.encode(paths.map((p) => `./${p}\0`).join(""));
}

/** sha256 of remote files (relative to `dir`); files that vanished are missing from the map. */
export async function remoteHashes(
  env: Environment,
  dir: string,
  paths: readonly string[],
  facts: RemoteFacts,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (paths.length === 0) return out;
  if (!facts.sha256) {
    throw new YonderError(`No sha256 tool on "${env.label}"`, {
      hint: "Install coreutils (sha256sum) or perl (shasum) on the remote",
    });
  }
  const inner =
    `for f; do h=$(${facts.sha256} < "$f" 2>/dev/null) && printf '%s\\t%s\\0' "$h" "$f"; done`;
  const script = [
    PRELUDE,
    `cd -- ${remotePathExpr(dir)} || exit 1`,
    `xargs -0 sh -c ${shellQuote(inner)} sh`,
  ].join("\n");
  const r = await env.exec(script, { stdin: nulList(paths) });
  if (r.code !== 0) throw fileFailure(r, "read", dir, env.label);
  for (const rec of new TextDecoder().decode(r.stdout).split("\0")) {
    const tab = rec.indexOf("\t");
    if (tab < 0) continue;
    const hash = /\b[0-9a-f]{64}\b/.exec(rec.slice(0, tab))?.[0];
    const name = rec.slice(tab + 1).replace(/^\.\//, "");
    if (hash) out.set(name, hash);
  }
  return out;
}

function tarEnv(facts: RemoteFacts): string {
  // bsdtar on macOS would add AppleDouble `._` members for extended attributes.
  return facts.tar === "bsd" ? "COPYFILE_DISABLE=1 " : "";
}

/** Exit status of {@linkcode applyPushScript} when the remote has no tar. */
export const NO_TAR_STATUS = 111;

/** The name of the control directory inside a pushed stream with `nonce`. */
export function controlDir(nonce: string): string {
  return `.yonder-ctl-${nonce}`;
}

/**
 * The script that applies a pushed tar stream (stdin) in `dir`, then lists `dir` (as
 * `listScript` does, recursively, hidden entries included) on stdout:
 * 1. first what writers that no longer run left there (`yf_sweep`): a push they had begun to
 *    apply is finished, the rest of their staging and temp files removed;
 * 2. extract the stream into a fresh staging directory `.yonder-stage-<pid>-<nonce>/t` inside
 *    `dir` (same filesystem, so moves are renames), with exact modes (`-p`) and our own
 *    ownership; the control members arrive in `t/.yonder-ctl-<nonce>/`. An interruption here (a
 *    signal; the client gone, which ends the stream) removes the staging directory;
 * 3. only if the stream was complete (its last member `ok` holds the nonce): mark the stage
 *    complete (`apply`) and apply it (`yf_apply`: deletions, merge, chmod of merged directories
 *    but never `dir` itself, removal of the stage). From this point hangups, interrupts and
 *    terminations are ignored, so the client's death does not stop it; if something stops it
 *    anyway (SIGKILL, a reboot), the next push or write in `dir` finishes it from the journal;
 * 4. list the result.
 */
export function applyPushScript(dir: string, nonce: string): string {
  return [
    PRELUDE,
    STAGE_FUNCS,
    `r=${remotePathExpr(dir)}`,
    `if [ ! -d "$r" ]; then e=$(mkdir -p -- "$r" 2>&1) || { case $e in *"No space"*) yf_err "$e";; esac; yf_fail "$r" 102; }; fi`,
    `cd -- "$r" 2>/dev/null || exit 102`,
    `command -v tar >/dev/null 2>&1 || { echo "tar: command not found" >&2; exit ${NO_TAR_STATUS}; }`,
    `yf_sweep .`,
    `YS=.yonder-stage-$$-${nonce}; YC=${controlDir(nonce)}; C=$YS/t/$YC`,
    `trap 'rm -rf -- "$YS"; exit 143' HUP INT TERM`,
    `e=$(mkdir -m 700 "$YS" "$YS/t" 2>&1) || yf_err "$e"`,
    // COPYFILE_DISABLE: bsdtar on macOS would otherwise add AppleDouble files for xattrs.
    `e=$(COPYFILE_DISABLE=1 tar -x -p --no-same-owner -f - -C "$YS/t" 2>&1); s=$?`,
    `v=; [ -f "$C/ok" ] && { IFS= read -r v < "$C/ok" || :; }`,
    `if [ "$s" -ne 0 ] || [ "$v" != ${shellQuote(nonce)} ]; then`,
    `  rm -rf -- "$YS"`,
    `  [ "$s" -eq 0 ] && { echo "Short input: the tar stream was cut short" >&2; exit 106; }`,
    `  yf_err "$e"`,
    `fi`,
    `trap '' HUP INT TERM PIPE`,
    `: > "$YS/apply"`,
    `yf_apply "$YS" "$YC" || { rm -rf -- "$YS"; exit 110; }`,
    // The listing cannot undo the push: if it fails, the caller lists again.
    `(`,
    listScript(".", { recursive: true, hidden: true }),
    `) || exit 0`,
  ].join("\n");
}

/**
 * The script that writes a tar stream of the entries listed (NUL-separated `./path`) on stdin,
 * relative to `dir`, without recursing into listed directories. GNU tar's exit 1 ("file changed
 * as we read it") is a warning.
 */
export function createTarScript(dir: string, facts: RemoteFacts): string {
  return [
    PRELUDE,
    `p=${remotePathExpr(dir)}`,
    `[ -d "$p" ] || yf_fail "$p"`,
    `cd -- "$p" 2>/dev/null || exit 102`,
    `exec 3>&1`,
    `e=$(${tarEnv(facts)}tar -c -f - --no-recursion --null -T - 2>&1 >&3); s=$?`,
    `if [ "$s" -ne 0 ] && { [ "$s" -ne 1 ] || [ ${
      shellQuote(facts.tar)
    } != gnu ]; }; then yf_err "$e"; fi`,
    `[ -z "$e" ] || printf '%s\\n' "$e" >&2`,
  ].join("\n");
}
