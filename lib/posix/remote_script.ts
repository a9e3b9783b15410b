/**
 * The POSIX sh text every remote command runs in.
 *
 * A call's life, on every path: the command runs in a child of the wrapper (a subshell that
 * `exec`s it, so `exit`, `exec` or a signal in it end only that child), in the wrapper's process
 * group. When the command's main process exits, the call ends: the end of its stdout and its exit
 * status are reported in frames, the call's pipes are closed, and what it left in its process
 * group gets SIGHUP a quarter second later (as when a terminal closes: background jobs end,
 * `nohup`ed ones survive). A process that outlives
 * the call on purpose (`nohup`, `setsid`) can no longer write into the call's output or any
 * other call's: its writes fail.
 *
 * The wrapper's own stderr is /dev/null (so no shell chatter such as "Killed" reaches the
 * command's stderr); the real stderr is fd 3 while it runs.
 */

import { shellJoin, shellQuote } from "../core/quote.ts";
import { framePrefix } from "./frames.ts";

/** What the wrapper runs. */
export interface RemoteCommand {
  /** Nonce of this call (from `newNonce()`). */
  nonce: string;
  /** argv (each word quoted) or a `sh -c` script. */
  command: readonly string[] | string;
  /** Working directory. */
  cwd?: string | undefined;
  /**
   * Variables to export (names validated already). The script travels on stdin (see
   * `first_hop.ts`), so their values never appear on a command line.
   */
  env?: Record<string, string>;
  /** The command reads /dev/null (the caller gave no stdin). */
  nullStdin?: boolean;
  /**
   * The client keeps stdin open for the whole call and sends nothing on it: stdin closing means
   * the client is gone, and the command's group is stopped (TERM, then KILL). Needs `nullStdin`.
   */
  lifeline?: boolean;
  /**
   * Report the login shell (`$SHELL`) and whether the server made the session a group leader
   * (`yg`, set by the first hop) in a `login` frame.
   */
  reportLogin?: boolean;
  /** Write an end frame on stdout after the command (not when stdout goes to a local file). */
  endFrame?: boolean;
  /**
   * The wrapper hangs up what the call left in its group itself (deferred). Off when the keeper
   * does it (it is told when the call ended).
   */
  hangup?: boolean;
}

/** printf format that writes one frame: `\036Y<nonce>:` is spelled with an octal escape. */
export function framePrintf(nonce: string, body: string): string {
  const prefix = framePrefix(nonce).slice(1); // without the \x1e byte
  return `printf '\\036${prefix}${body}\\n'`;
}

/**
 * Names a POSIX shell (or bash) runs without exec'ing a program: they run in the call's subshell
 * as they are, everything else is `exec`ed in its place.
 */
const BUILTINS = new Set([
  ".",
  ":",
  "[",
  "alias",
  "bg",
  "bind",
  "break",
  "builtin",
  "caller",
  "cd",
  "command",
  "compgen",
  "complete",
  "continue",
  "declare",
  "dirs",
  "disown",
  "echo",
  "enable",
  "eval",
  "exec",
  "exit",
  "export",
  "false",
  "fc",
  "fg",
  "getopts",
  "hash",
  "help",
  "history",
  "jobs",
  "kill",
  "let",
  "local",
  "logout",
  "mapfile",
  "popd",
  "printf",
  "pushd",
  "pwd",
  "read",
  "readarray",
  "readonly",
  "return",
  "set",
  "shift",
  "shopt",
  "source",
  "suspend",
  "test",
  "times",
  "trap",
  "true",
  "type",
  "typeset",
  "ulimit",
  "umask",
  "unalias",
  "unset",
  "wait",
]);

/** True when `name` is (or may be) a shell builtin rather than a program to exec. */
export function isShellBuiltin(name: string): boolean {
  return BUILTINS.has(name) || !/^[A-Za-z0-9_./+-]+$/.test(name);
}

/**
 * The shell text that runs `command` inside the call's subshell: a program is `exec`ed (one fork
 * and one exec per call), a builtin runs as it is, a script runs in `sh -c`.
 */
export function commandText(command: readonly string[] | string): string {
  if (typeof command === "string") return `exec sh -c ${shellQuote(command)}`;
  const words = shellJoin(command);
  return isShellBuiltin(command[0] ?? "") ? words : `exec ${words}`;
}

/** A shell word for a remote path; a leading `~` or `~/` means the remote home. */
export function remotePathExpr(path: string): string {
  if (path === "~") return `"$HOME"`;
  if (path.startsWith("~/")) return `"$HOME"/${shellQuote(path.slice(2))}`;
  return shellQuote(path);
}

/**
 * Enters `dir`, or reports why not (`notfound`, `notdir`, `denied`) in a `cwd` frame on fd
 * `fd` and exits 1.
 */
export function cwdCheck(nonce: string, dir: string, fd: number): string {
  const d = remotePathExpr(dir);
  return `cd -- ${d} 2>/dev/null || { if [ ! -e ${d} ]; then t=notfound; ` +
    `elif [ ! -d ${d} ]; then t=notdir; else t=denied; fi; ${
      framePrintf(nonce, "cwd:%s")
    } "$t" >&${fd}; exit 1; }`;
}

/** `NAME='value'; export NAME` lines; names are validated already. */
export function envAssignments(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => `${name}=${shellQuote(value)}; export ${name}`);
}

/** How long after a call's end what it left in its group gets SIGHUP. */
export const HANGUP_DELAY_S = 0.25;

/**
 * Sends SIGHUP to process group GROUP after {@linkcode HANGUP_DELAY_S}, from a helper that holds
 * none of the call's pipes and ignores the hangup itself.
 */
const DEFERRED_HANGUP =
  `( trap '' HUP; sleep ${HANGUP_DELAY_S}; kill -HUP -GROUP ) </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- &`;

/** The deferred hangup of process group `group` (a shell word). */
export function deferredHangup(group: string): string {
  return DEFERRED_HANGUP.replaceAll("GROUP", () => group);
}

/** Builds the script the remote shell runs for one call over its own channel. */
export function buildWrapperScript(c: RemoteCommand): string {
  const frame = (body: string) => framePrintf(c.nonce, body);
  const lines: string[] = [];
  // A command that signals its own process group (`kill 0`, a cleanup trap doing so), or a
  // signal sent to the call (spawn's `kill("SIGUSR1")`), reaches this shell too: caught (not
  // ignored, so the command still gets the default), the shell lives on to report the
  // command's status. Only a KILL ends it early; the client copes with that.
  lines.push(`exec 3>&2 2>/dev/null; trap : HUP INT QUIT TERM USR1 USR2 ALRM`);
  lines.push(`${frame("pid:%s")} "$$" >&3`);
  if (c.reportLogin) lines.push(`${frame("login:%s:%s")} "\${yg:-0}" "\${SHELL:-}" >&3`);
  if (c.env) lines.push(...envAssignments(c.env));
  if (c.cwd !== undefined) lines.push(cwdCheck(c.nonce, c.cwd, 3));
  if (c.lifeline) {
    // The watcher ends with stdin: then the client is gone, so it says so (USR1), stops the
    // group, KILL after 2 s; it ignores what is sent to the group, its own TERM included. Once
    // the command ends it is killed, unless it fired: then it stays to finish its work. It
    // holds none of the call's output.
    lines.push(
      `exec 4<&0; yf=; trap 'yf=1' USR1`,
      `( trap '' HUP INT QUIT TERM; while IFS= read -r _; do :; done <&4; kill -USR1 $$; ` +
        `kill -TERM -$$; sleep 2; kill -KILL -$$ ) >/dev/null 3>&- & yw=$!`,
    );
  }
  lines.push(
    `( exec 2>&3 3>&-${c.lifeline ? " 4<&-" : ""}${c.nullStdin ? " </dev/null" : ""}; ${
      commandText(c.command)
    } )`,
  );
  lines.push(`s=$?`);
  if (c.lifeline) lines.push(`[ -n "$yf" ] || { kill -KILL $yw; wait $yw; }`);
  // The call is over: what it left running in its group gets a hangup, a moment later so that a
  // `nohup` started last has ignored it by then.
  if (c.hangup) lines.push(deferredHangup("$$"));
  if (c.endFrame) lines.push(frame("end"));
  lines.push(`${frame("exit:%s")} "$s" >&3`);
  lines.push(`exit "$s"`);
  return joinOnOneLine(lines);
}

/**
 * Joins commands into one line (`;` between them, or nothing after a `&`): a one-line script is
 * read in one `read` behind the first hop. A newline left inside a quoted word stays.
 */
function joinOnOneLine(lines: readonly string[]): string {
  let out = "";
  for (const line of lines) {
    if (out !== "") out += out.endsWith("&") ? " " : "; ";
    out += line;
  }
  return out;
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
