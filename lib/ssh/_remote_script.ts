/**
 * The POSIX sh wrapper every remote command runs in. It reports its process group (sshd starts
 * each session in a new session and process group, and `exec sh` keeps that pid), changes to the
 * working directory, sets the environment, runs the command in a child so that `exit` or `exec`
 * in it cannot skip the report, and reports the exit status in a frame on stderr.
 */

import { shellJoin, shellQuote } from "../quote.ts";
import { framePrefix } from "./_frames.ts";

/** What the wrapper runs. */
export interface RemoteCommand {
  /** Nonce of this call (from `newNonce()`). */
  nonce: string;
  /** argv (each word quoted) or a `sh -c` script. */
  command: readonly string[] | string;
  /** Working directory. */
  cwd?: string | undefined;
  /** Variables to export; names are validated already. */
  env?: Record<string, string>;
}

/** printf format that writes one frame: `\036Y<nonce>:` is spelled with an octal escape. */
function frame(nonce: string, body: string): string {
  const prefix = framePrefix(nonce).slice(1); // without the \x1e byte
  return `printf '\\036${prefix}${body}\\n'`;
}

/** POSIX special builtins, plus `cd`-like ones that change the shell itself. */
const SPECIAL_BUILTINS = new Set([
  "break",
  ":",
  "continue",
  ".",
  "eval",
  "exec",
  "exit",
  "export",
  "readonly",
  "return",
  "set",
  "shift",
  "times",
  "trap",
  "unset",
  "cd",
  "umask",
  "ulimit",
  "source",
  "alias",
  "unalias",
  "wait",
  "read",
  "command",
  "builtin",
  "local",
  "typeset",
  "declare",
  "shopt",
  "enable",
]);

/** A shell word for a remote path; a leading `~` or `~/` means the remote home. */
export function remotePathExpr(path: string): string {
  if (path === "~") return `"$HOME"`;
  if (path.startsWith("~/")) return `"$HOME"/${shellQuote(path.slice(2))}`;
  return shellQuote(path);
}

/** Builds the script run by `sh -c` on the remote. */
export function buildWrapperScript(c: RemoteCommand): string {
  const lines: string[] = [];
  lines.push(`${frame(c.nonce, "pid:%s")} "$$" >&2`);
  if (c.cwd !== undefined) {
    const d = remotePathExpr(c.cwd);
    lines.push(
      `cd -- ${d} 2>/dev/null || { if [ ! -e ${d} ]; then t=notfound; ` +
        `elif [ ! -d ${d} ]; then t=notdir; else t=denied; fi; ${
          frame(c.nonce, "cwd:%s")
        } "$t" >&2; exit 1; }`,
    );
  }
  for (const [name, value] of Object.entries(c.env ?? {})) {
    lines.push(`${name}=${shellQuote(value)}; export ${name}`);
  }
  // A special builtin (`exit`, `exec`, `trap`, …) could end the wrapper before it reports, so it
  // runs in a subshell; anything else runs directly (one fork less per call).
  const run = typeof c.command === "string"
    ? `sh -c ${shellQuote(c.command)}`
    : SPECIAL_BUILTINS.has(c.command[0] ?? "")
    ? `( ${shellJoin(c.command)} )`
    : shellJoin(c.command);
  lines.push(run);
  lines.push(`s=$?`);
  lines.push(`${frame(c.nonce, "exit:%s")} "$s" >&2`);
  lines.push(`exit "$s"`);
  return lines.join("\n");
}

/**
 * The remote command line for ssh. sshd hands it to the login shell (`$SHELL -c`), which must be
 * POSIX-compatible (sh, dash, bash, ksh, zsh); the wrapper uses only printf, cd, export and `$?`.
 */
export function buildRemoteCommand(c: RemoteCommand): string {
  return buildWrapperScript(c);
}

/**
 * A script that stops process group `pgid`: TERM, then KILL if it still lives after `graceMs`.
 */
export function buildKillScript(pgid: number | string, graceMs: number): string {
  const steps = Math.max(1, Math.ceil(graceMs / 100));
  // A group whose members are all zombies is done; an init that reaps late must not cost the
  // whole grace period, so liveness is read from ps (POSIX -o), with kill -0 as the fallback.
  return [
    `alive() { if command -v ps >/dev/null 2>&1 && command -v awk >/dev/null 2>&1; then ` +
    `ps -eo pgid=,stat= 2>/dev/null | awk -v g=${pgid} '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; ` +
    `else kill -0 -${pgid} 2>/dev/null; fi; }`,
    `kill -TERM -${pgid} 2>/dev/null || kill -TERM ${pgid} 2>/dev/null || exit 0`,
    `i=0`,
    `while alive; do`,
    `  i=$((i+1)); if [ "$i" -gt ${steps} ]; then kill -KILL -${pgid} 2>/dev/null; exit 0; fi`,
    `  sleep 0.1 2>/dev/null || sleep 1`,
    `done`,
  ].join("\n");
}
