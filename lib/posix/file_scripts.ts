/**
 * The POSIX sh scripts behind the remote file operations. They use only POSIX tools (plus
 * `head -c` and `stat`, present with the same meaning on GNU, BSD and busybox systems) and
 * report what went wrong through the exit status ({@linkcode FILE_STATUS}), so no text of the
 * file itself can be mistaken for a status.
 *
 * Names are never parsed from lines: listings are NUL-separated, and the `stat` output of a batch
 * is matched against the names the shell printed for that batch.
 */

import { shellQuote } from "../core/quote.ts";
import { remotePathExpr } from "./remote_script.ts";

/** Exit statuses of the file scripts. */
export const FILE_STATUS = {
  notFound: 101,
  denied: 102,
  notDir: 103,
  noSpace: 104,
  isDir: 105,
  short: 106,
  long: 107,
  exists: 108,
  notEmpty: 109,
  io: 110,
} as const;

const S = FILE_STATUS;

/**
 * Shell functions every script starts with:
 * - `yf_parent P` sets `yd` to the parent directory of P;
 * - `yf_fail P [CODE]` exits with the status that explains why P is missing or unusable: its
 *   first existing ancestor is not a directory (not a directory), cannot be searched (denied), or
 *   a component is missing (not found); CODE is used when the parent exists (default: not found);
 * - `yf_err MSG [CODE]` prints MSG and exits with the status its text (LC_ALL=C) names.
 */
export const PRELUDE = `LC_ALL=C; export LC_ALL
yf_parent() {
  yd=$1
  while :; do case $yd in /) return;; */) yd=\${yd%/};; *) break;; esac; done
  case $yd in */*) yd=\${yd%/*}; [ -n "$yd" ] || yd=/;; *) yd=.;; esac
}
yf_fail() {
  yp=$1
  if [ -e "$yp" ] || [ -L "$yp" ]; then exit ${S.denied}; fi
  yf_parent "$yp"
  if [ -d "$yd" ]; then [ -x "$yd" ] || exit ${S.denied}; exit "\${2:-${S.notFound}}"; fi
  while :; do
    if [ -e "$yd" ]; then
      [ -d "$yd" ] || exit ${S.notDir}
      [ -x "$yd" ] || exit ${S.denied}
      exit ${S.notFound}
    fi
    case $yd in /|.) exit ${S.notFound};; esac
    yf_parent "$yd"
  done
}
yf_err() {
  printf '%s\\n' "$1" >&2
  case $1 in
    *"No space left"*|*"File too large"*|*"Disk quota"*|*"quota exceeded"*) exit ${S.noSpace};;
    *"Permission denied"*|*"Read-only file system"*|*"Operation not permitted"*) exit ${S.denied};;
    *"Not a directory"*) exit ${S.notDir};;
    *"No such file"*) exit ${S.notFound};;
  esac
  exit "\${2:-${S.io}}"
}`;

/**
 * Moves a staged tree into place, one directory at a time: `ym REL` (REL is "" or ends in "/")
 * moves every entry of `$YS/t/REL` into `./REL` with one `mv` (files replace files atomically, a
 * directory new here moves in whole), after descending (in a subshell) into staged directories
 * that exist here as directories (noting that in `$YS/m`: only such directories may need a chmod,
 * the others came with their modes). A symlink or file where a directory comes is removed first.
 * Moved entries leave the staging tree, so running it again resumes where it stopped.
 */
const MERGE = `ym() {
  yr=$1; set --
  for f in "$YS/t/$yr"* "$YS/t/$yr".[!.]* "$YS/t/$yr"..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    n=\${f##*/}
    [ -z "$yr" ] && [ "$n" = "$YC" ] && continue
    d=./$yr$n
    if [ -d "$f" ] && [ ! -L "$f" ]; then
      if [ -d "$d" ] && [ ! -L "$d" ]; then : > "$YS/m"; ( ym "$yr$n/" ) || exit 1; continue; fi
      if [ -e "$d" ] || [ -L "$d" ]; then rm -f -- "$d" || exit 1; fi
    fi
    set -- "$@" "$f"
    if [ $# -ge 200 ]; then mv -f -- "$@" "./$yr" || exit 1; set --; fi
  done
  [ $# -eq 0 ] || mv -f -- "$@" "./$yr" || exit 1
}`;

/**
 * Shell functions for staged trees (a push) and temp files (a write), on top of the prelude:
 * - `yf_apply STAGE CTL` applies a complete staged tree in the current directory: the deletions
 *   its control directory lists (once: `STAGE/deleted` records they were done), the merge, the
 *   chmod of merged directories, then removes the stage. It is a journal: run again on a stage an
 *   interruption left (its `STAGE/apply` marks it complete), it finishes the same push. Prints
 *   what failed on stderr and returns 1.
 * - `yf_sweep DIR` clears what writers that no longer run left in DIR: their staged trees are
 *   finished (complete ones) or removed (the rest), their temp files removed. A writer is gone
 *   when `kill -0` on the pid in the name says "No such process". Only what this user owns is
 *   touched. A sweeper first claims a stage by renaming it to its own pid (one rename wins when
 *   two sweep at once); a complete stage whose apply fails stays, under the sweeper's pid, so
 *   the next sweep after it tries again.
 */
export const STAGE_FUNCS = `${MERGE}
yf_apply() {
  YS=$1; YC=$2; C=$1/t/$2
  if [ ! -f "$YS/deleted" ]; then
    if [ -s "$C/del" ]; then e=$(xargs -0 rm -rf -- < "$C/del" 2>&1) || { printf '%s\\n' "$e" >&2; return 1; }; fi
    : > "$YS/deleted"
  fi
  e=$(ym "" 2>&1) || { printf '%s\\n' "$e" >&2; return 1; }
  [ -z "$e" ] || { printf '%s\\n' "$e" >&2; return 1; }
  if [ -f "$YS/m" ]; then for f in "$C"/chmod/*; do
    [ -s "$f" ] || continue
    e=$(xargs -0 chmod "\${f##*/}" -- < "$f" 2>&1) || { printf '%s\\n' "$e" >&2; return 1; }
  done; fi
  rm -f -- "$YS/apply"
  rm -rf -- "$YS"
}
yf_gone() { e=$(kill -0 "$1" 2>&1) && return 1; case $e in *"No such process"*) return 0;; esac; return 1; }
yf_sweep() {
  for o in "$1"/.yonder-stage-*; do
    [ -d "$o" ] || continue
    q=\${o##*/.yonder-stage-}; n=\${q#*-}; q=\${q%%-*}
    case $q in ''|*[!0-9]*) continue;; esac
    [ -O "$o" ] || continue
    yf_gone "$q" || continue
    c=.yonder-stage-$$-$n
    mv -- "$o" "$1/$c" 2>/dev/null || continue
    if [ -f "$1/$c/apply" ]; then ( cd -- "$1" && yf_apply "$c" ".yonder-ctl-$n" ) 2>/dev/null || :
    else rm -rf -- "$1/$c"; fi
  done
  for o in "$1"/.*.yonder-tmp-* "$1"/.yonder-tmp-*; do
    [ -f "$o" ] && [ -O "$o" ] || continue
    q=\${o##*.yonder-tmp-}; q=\${q%%-*}
    case $q in ''|*[!0-9]*) continue;; esac
    yf_gone "$q" && rm -f -- "$o"
  done
}`;

/** Finishes or removes what writers that no longer run left in `dir` (see `yf_sweep`). */
export function sweepScript(dir: string): string {
  return [
    PRELUDE,
    STAGE_FUNCS,
    `p=${remotePathExpr(dir)}`,
    `[ -d "$p" ] && yf_sweep "$p"`,
    `exit 0`,
  ]
    .join("\n");
}

function script(path: string, body: string[]): string {
  return [PRELUDE, `p=${remotePathExpr(path)}`, ...body].join("\n");
}

/** Prints the file (or its first `limit` bytes) on stdout. */
export function readScript(path: string, limit?: number): string {
  const copy = limit === undefined
    ? `e=$(cat -- "$p" 2>&1 >&3) || yf_err "$e"`
    : `e=$(head -c ${Math.floor(limit)} -- "$p" 2>&1 >&3) || yf_err "$e"`;
  return script(path, [
    `if [ -d "$p" ]; then echo "Is a directory" >&2; exit ${S.isDir}; fi`,
    `[ -e "$p" ] || yf_fail "$p"`,
    `[ -r "$p" ] || exit ${S.denied}`,
    `exec 3>&1`,
    copy,
  ]);
}

/**
 * Prints the file on stdout like {@linkcode readScript}, with two records on stderr that
 * {@linkcode parseSize} and {@linkcode parseCopied} find by `nonce`: first the size of a regular
 * file (a hint: the receiver may reserve room), then how many bytes were copied. `dd` counts them,
 * so the count is exact for files that grow meanwhile and for pseudo-files (`/proc`, `/sys`)
 * whose size says nothing; POSIX dd prints it in its last line on GNU, BSD and busybox alike.
 */
export function downloadScript(path: string, nonce: string): string {
  const tag = nonce.replace(/[^0-9a-zA-Z]/g, "");
  return script(path, [
    `if [ -d "$p" ]; then echo "Is a directory" >&2; exit ${S.isDir}; fi`,
    `[ -e "$p" ] || yf_fail "$p"`,
    `[ -r "$p" ] || exit ${S.denied}`,
    // The size first (regular files), so the receiver can reserve room while the bytes come.
    `if [ -f "$p" ]; then z=$(stat -L -c %s -- "$p" 2>/dev/null || stat -L -f %z -- "$p" 2>/dev/null) && ` +
    `printf '\\036Z${tag}:%s\\036\\n' "$z" >&2; fi`,
    `exec 3>&1`,
    `e=$(dd if="$p" bs=131072 2>&1 >&3) || yf_err "$e"`,
    `printf '\\036C${tag}:%s\\036\\n' "$e" >&2`,
  ]);
}

function recordRe(kind: "Z" | "C", nonce: string): RegExp {
  const tag = nonce.replace(/[^0-9a-zA-Z]/g, "");
  return new RegExp(`\\x1e${kind}${tag}:([^\\x1e]*)\\x1e\\n`);
}

/** The size record of {@linkcode downloadScript} in (the start of) its stderr, or null. */
export function parseSize(stderrText: string, nonce: string): number | null {
  const m = recordRe("Z", nonce).exec(stderrText);
  return m && /^\d+$/.test(m[1]!) ? Number(m[1]) : null;
}

/**
 * Takes the records of {@linkcode downloadScript} out of its stderr: the bytes copied (null when
 * dd did not say) and stderr without the records.
 */
export function parseCopied(
  stderr: Uint8Array,
  nonce: string,
): { copied: number | null; stderr: Uint8Array } {
  let text = new TextDecoder().decode(stderr);
  const size = recordRe("Z", nonce).exec(text);
  if (size) text = text.slice(0, size.index) + text.slice(size.index + size[0].length);
  const count = recordRe("C", nonce).exec(text);
  if (!size && !count) return { copied: null, stderr };
  if (count) text = text.slice(0, count.index) + text.slice(count.index + count[0].length);
  const m = count ? /(\d+) bytes?\b/.exec(count[1]!) : null;
  return { copied: m ? Number(m[1]) : null, stderr: new TextEncoder().encode(text) };
}

/** What {@linkcode writeScript} needs. */
export interface WriteScript {
  /** Destination path. */
  path: string;
  /** Exactly how many bytes stdin carries; the rename depends on all of them arriving. */
  size: number;
  /** Create missing parent directories. */
  mkdirs: boolean;
  /** Mode of the result; default: the old file's, else 0666 less the umask. */
  mode?: number | undefined;
  /** Random part of the temp file's name. */
  nonce: string;
}

/**
 * Transfers of at least this many bytes that replace an existing file reserve the new file's
 * blocks first (see {@linkcode writeScript}; downloads do the same locally).
 */
export const PREALLOCATE_BYTES = 4 * 1024 * 1024;

/**
 * Copies stdin into a temp file beside the destination, checks that exactly `size` bytes came,
 * sets the mode, and renames it over the destination. A short count (the sender died: the remote
 * sees a clean EOF) removes the temp file and leaves the destination alone. Temp files of writers
 * that are gone (their pid is in the name) are removed first.
 */
export function writeScript(w: WriteScript): string {
  const mode = w.mode === undefined ? "" : w.mode.toString(8);
  const nonce = w.nonce.replace(/[^0-9a-zA-Z]/g, "").slice(0, 16);
  return script(w.path, [
    STAGE_FUNCS,
    `n=${Math.floor(w.size)}`,
    `case $p in */) echo "Is a directory" >&2; exit ${S.isDir};; esac`,
    `case $p in */*) d=\${p%/*}; b=\${p##*/}; [ -n "$d" ] || d=/;; *) d=.; b=$p;; esac`,
    `if [ ! -d "$d" ]; then`,
    `  if [ -e "$d" ] || [ -L "$d" ]; then echo "Not a directory" >&2; exit ${S.notDir}; fi`,
    w.mkdirs
      ? `  e=$(mkdir -p -- "$d" 2>&1) || { case $e in *"No space"*) yf_err "$e";; esac; yf_fail "$d" ${S.denied}; }`
      : `  echo "No such directory" >&2; yf_fail "$d"`,
    `fi`,
    `if [ -d "$p" ]; then echo "Is a directory" >&2; exit ${S.isDir}; fi`,
    `if [ \${#b} -gt 200 ]; then t="$d/.yonder-tmp-$$-${nonce}"; else t="$d/.$b.yonder-tmp-$$-${nonce}"; fi`,
    // What writers that no longer run left in this directory (temp files, staged trees).
    `yf_sweep "$d"`,
    // An interruption we can see (a signal: timeout, abort, a client gone) takes the temp file;
    // a channel that closed makes writes fail rather than end the script before its cleanup.
    `trap 'rm -f -- "$t"; exit 143' HUP INT TERM; trap '' PIPE`,
    // The temp file is private (umask 077) while it fills when the result gets a mode of its own
    // (given, or the old file's); a new file takes the default mode from the start, so it needs
    // no chmod. cat, not head -c: GNU head copies in 8 KiB pieces, which costs a sixth of the
    // throughput on a busy host; the count below catches a stream shorter or longer than announced.
    //
    // A large file replacing an existing one has its blocks reserved first (Linux `fallocate`,
    // where there is one): ext4 otherwise writes out the whole new file inside the final rename
    // over the old one (auto_da_alloc), which costs up to a tenth of the transfer; `1<>` keeps
    // the reservation that `>` would drop.
    `if [ -e "$p" ]; then yo=1; else yo=; fi`,
    w.size >= PREALLOCATE_BYTES
      ? `yc() { if [ -n "$yo" ]; then { : >> "$t" && { fallocate -n -l "$n" "$t" 2>/dev/null; ` +
        `cat 1<> "$t"; }; } 2>&1; else cat 2>&1 > "$t"; fi; }`
      : `yc() { cat 2>&1 > "$t"; }`,
    mode !== ""
      ? `e=$(umask 077; yc); s=$?`
      : `if [ -n "$yo" ]; then e=$(umask 077; yc); else e=$(yc); fi; s=$?`,
    `if [ "$s" -ne 0 ] && [ ! -e "$t" ] && [ ! -w "$d" ]; then exit ${S.denied}; fi`,
    // One stat for the count and (overwriting) the old file's mode and owner: "SIZE MODE U:G" of
    // the temp file, then of the old one (-L: what a symlink being replaced points to).
    `if [ "$s" -eq 0 ]; then`,
    `  if [ -n "$yo" ]; then set -- $(stat -L -c '%s %a %u:%g' -- "$t" "$p" 2>/dev/null || stat -L -f '%z %Lp %u:%g' -- "$t" "$p" 2>/dev/null)`,
    `  else set -- $(stat -c %s -- "$t" 2>/dev/null || stat -f %z -- "$t" 2>/dev/null); fi`,
    `  g=\${1:-}; case $g in ''|*[!0-9]*) g=$(wc -c < "$t" 2>/dev/null); set --;; esac; g=$((g + 0))`,
    `fi`,
    `if [ "$s" -ne 0 ] || [ "$g" -ne "$n" ]; then`,
    `  rm -f -- "$t"`,
    // 153 = 128 + SIGXFSZ (25 on Linux and the BSDs): the file size limit (ulimit -f) was hit.
    `  [ "$s" -eq 153 ] && { echo "File too large (file size limit)" >&2; exit ${S.noSpace}; }`,
    `  [ "$s" -eq 0 ] && [ "$g" -lt "$n" ] && { echo "Short input: expected $n bytes, got $g" >&2; exit ${S.short}; }`,
    `  [ "$s" -eq 0 ] && { echo "Long input: expected $n bytes, got $g" >&2; exit ${S.long}; }`,
    `  yf_err "$e"`,
    `fi`,
    mode !== ""
      ? `m=${mode}`
      : `m=; if [ $# -eq 6 ]; then case $5 in *[!0-7]*) ;; *) m=$5;; esac; ` +
        `case $6 in "$3"|*[!0-9:]*) ;; *) chown "$6" "$t" 2>/dev/null;; esac; fi`,
    `[ -z "$m" ] || e=$(chmod "$m" "$t" 2>&1) || { rm -f -- "$t"; yf_err "$e"; }`,
    `e=$(mv -f -- "$t" "$p" 2>&1) || { rm -f -- "$t"; yf_err "$e"; }`,
  ]);
}

/**
 * Prints `g HEXMODE SIZE MTIME` (GNU/busybox stat) or `b OCTMODE SIZE MTIME` (BSD stat) for the
 * path itself (a symlink is not followed).
 */
export function statScript(path: string): string {
  return script(path, [
    `[ -e "$p" ] || [ -L "$p" ] || yf_fail "$p"`,
    `if stat -c %s / >/dev/null 2>&1; then e=$(stat -c 'g %f %s %Y' -- "$p" 2>&1) || yf_err "$e"`,
    `else e=$(stat -f 'b %p %z %m' -- "$p" 2>&1) || yf_err "$e"; fi`,
    `printf '%s\\n' "$e"`,
  ]);
}

/**
 * The batch script `find -exec sh -c … {} +` runs: the batch's names, NUL-terminated, an empty
 * record, then `stat` of the same names (one line each, the name last), then a NUL.
 */
const LIST_BATCH = `for f; do printf '%s\\0' "$f"; done; printf '\\0'; ` +
  `stat "$YS" "$YF" -- "$@" 2>/dev/null; printf '\\0'`;

/**
 * Lists a directory. With GNU find: `f\0`, then one record per entry, `TYPE PERM SIZE MTIME
 * ./NAME\0` (`find -printf`). Elsewhere: `g\0` or `b\0` (the stat flavour), then batches as
 * described at {@linkcode LIST_BATCH}. Names are `./`-prefixed paths.
 */
export function listScript(
  path: string,
  opts: { recursive?: boolean; hidden?: boolean; portableOnly?: boolean },
): string {
  const filter = opts.recursive
    ? opts.hidden ? `! -name .` : `! -name . -name '.*' -prune -o ! -name .`
    : opts.hidden
    ? `! -name . -prune`
    : `! -name . -prune ! -name '.*'`;
  return script(path, [
    `[ -e "$p" ] || [ -L "$p" ] || yf_fail "$p"`,
    `[ -d "$p" ] || { echo "Not a directory" >&2; exit ${S.notDir}; }`,
    `cd -- "$p" 2>/dev/null || exit ${S.denied}`,
    // GNU find prints whole records itself (one process); elsewhere stat runs per batch.
    ...(opts.portableOnly ? [] : [
      `if find . -maxdepth 0 -printf '' >/dev/null 2>&1; then printf 'f\\0'; ` +
      `find . ${filter} -printf '%y %m %s %T@ %p\\0'; exit 0; fi`,
    ]),
    `if stat -c %s . >/dev/null 2>&1; then YS=-c; YF='%f %s %Y %n'; printf 'g\\0'; ` +
    `else YS=-f; YF='%p %z %m %N'; printf 'b\\0'; fi`,
    `export YS YF`,
    `find . ${filter} -exec sh -c ${shellQuote(LIST_BATCH)} sh {} +`,
    `exit 0`,
  ]);
}

/** Removes a path; a directory only when empty unless `recursive`. */
export function removeScript(path: string, opts: { recursive?: boolean; force?: boolean }): string {
  return script(path, [
    `if [ ! -e "$p" ] && [ ! -L "$p" ]; then ${opts.force ? "exit 0" : `yf_fail "$p"`}; fi`,
    `if [ -d "$p" ] && [ ! -L "$p" ]; then`,
    opts.recursive
      ? `  e=$(rm -rf -- "$p" 2>&1) || yf_err "$e"`
      : `  e=$(rmdir -- "$p" 2>&1) || { case $e in *mpty*|*"exists"*) printf '%s\\n' "$e" >&2; exit ${S.notEmpty};; esac; yf_err "$e"; }`,
    `else`,
    `  e=$(rm -f -- "$p" 2>&1) || yf_err "$e"`,
    `fi`,
  ]);
}

/** Creates a directory (with `recursive`: its parents too, and an existing one is fine). */
export function mkdirScript(path: string, opts: { recursive?: boolean; mode?: number }): string {
  const flags = [
    ...(opts.recursive ? ["-p"] : []),
    ...(opts.mode !== undefined ? ["-m", opts.mode.toString(8)] : []),
  ].join(" ");
  return script(path, [
    `if [ -d "$p" ]; then ${
      opts.recursive ? "exit 0" : `echo "File exists" >&2; exit ${S.exists}`
    }; fi`,
    `if [ -e "$p" ] || [ -L "$p" ]; then echo "File exists" >&2; exit ${S.exists}; fi`,
    `e=$(mkdir ${flags} -- "$p" 2>&1) || { case $e in *"No space"*) yf_err "$e";; esac; ` +
    `yf_fail "$p" ${S.denied}; }`,
  ]);
}
