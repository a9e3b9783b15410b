/**
 * The first hop: what yonder gives ssh as the remote command line, and how a script gets past the
 * account's login shell untouched.
 *
 * sshd hands the command line to the login shell (`$SHELL -c LINE`), and login shells disagree
 * on quoting: fish treats `\\` and `\'` inside single quotes as escapes, csh and tcsh expand `!`
 * inside them and refuse a newline in them, and neither knows `NAME=value` or `if …; then`. So
 * the line is always {@linkcode FIRST_HOP}, one single-quoted word of none of those characters,
 * which every family (sh, bash, dash, ash, ksh, zsh, fish, csh, tcsh) reads the same way: it
 * `exec`s `/bin/sh`, which reads the real script from stdin ({@linkcode hopPreamble}).
 *
 * The shell reads stdin a byte at a time with `read` (a shell reading its script from a pipe may
 * read ahead, and what it took would be lost to the command), so the script ends exactly where
 * the caller's stdin begins.
 *
 * The first line also makes the shell a process group leader (`setsid`, or perl's `setpgrp`)
 * where the server did not (Dropbear starts the login shell in the group of its own connection
 * process): the wrapper's `$$` is then the group every kill and hangup is sent to.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

const encoder = new TextEncoder();

/** The read-and-eval step: one line from stdin, run by the shell. */
const READ_EVAL = `IFS= read -r y && eval "$y"`;

/** The remote command line of every call: the same meaning in every login shell family. */
export const FIRST_HOP = `exec /bin/sh -c '${READ_EVAL}'`;

/**
 * Line 1 on stdin: note in `yg` that the server made this shell a group leader, or else leave
 * the server's process group for one of our own (`kill -0 -$$` fails), with `setsid`, or perl's `setpgrp` where there is no `setsid`
 * (macOS, the BSDs, a BusyBox without the applet), then read and run line 2. With neither, the
 * shell stays in the server's group (`yonder check` says so).
 */
const GROUP_LINE = `kill -0 -$$ 2>/dev/null&&yg=1||{ command -v setsid >/dev/null&&` +
  `exec setsid /bin/sh -c '${READ_EVAL}';command -v perl >/dev/null&&` +
  `exec perl -e 'setpgrp;exec @ARGV' /bin/sh -c '${READ_EVAL}'; };${READ_EVAL}`;

/** Who a call runs as, when not the login user (see `Become` in the core contract). */
export interface BecomeHop {
  /** `sudo` or `doas`. */
  readonly method: "sudo" | "doas";
  /** The user; default root. */
  readonly user?: string | undefined;
  /**
   * A password for sudo (never part of any script: the client sends it on stdin once sudo asked,
   * see {@linkcode becomePrompt}); its presence makes the hop `sudo -S` with a nonce prompt.
   */
  readonly password?: string | undefined;
}

/** The prompt a password-fed sudo prints (the call's nonce in it). */
export function becomePrompt(nonce: string): string {
  return `yonder-become-${nonce}: `;
}

/** The line the other user's shell writes on stderr first: sudo let it through. */
export function becomeMarker(nonce: string): string {
  return `\x1eY${nonce}:become\n`;
}

/** A user name as one word for the shell (refused unless it is a plain name). */
function userWord(user: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) {
    throw new UsageError(`Invalid become user ${JSON.stringify(user)}: expected a user name`);
  }
  return user;
}

/**
 * The line that hands the rest of stdin to a shell of `b.user`: sudo or doas, never asking
 * (`-n`), execs `/bin/sh` reading its next line, which is the group line again (the new shell is
 * not a group leader: sudo forked it), then the script.
 */
function becomeLine(b: BecomeHop, nonce: string): string {
  const user = userWord(b.user ?? "root");
  if (b.password !== undefined) {
    if (b.method !== "sudo") {
      throw new UsageError("Only sudo can take a become password (doas reads it from a terminal)", {
        hint: "Allow the command without a password in doas.conf (nopass), or use sudo",
      });
    }
    // sudo reads the password from stdin (a byte at a time) after its prompt; the new shell's
    // first words say it got through, and only then does the client send the rest.
    const mark = `printf "\\036Y%s:become\\n" ${nonce} >&2`;
    return `exec sudo -S -p '${
      becomePrompt(nonce)
    }' -H -u ${user} -- /bin/sh -c '${mark}; ${READ_EVAL}'`;
  }
  return b.method === "doas"
    ? `exec doas -n -u ${user} /bin/sh -c '${READ_EVAL}'`
    : `exec sudo -n -H -u ${user} -- /bin/sh -c '${READ_EVAL}'`;
}

/** The line that ends a multi-line script on stdin. */
function terminator(nonce: string): string {
  return `:yonder-end-${nonce}`;
}

/**
 * Line 2 on stdin for a script of several lines: collect them up to the terminator and run
 * them. The newline is taken from the shell's default `IFS` (space, tab, newline) rather than
 * `$(printf …)`, which would cost a fork.
 */
function loaderLine(nonce: string): string {
  const end = terminator(nonce);
  return `yn=\${IFS#??}; [ "\${#IFS}" = 3 ] || { yn=$(printf '\\nx'); yn=\${yn%x}; }; ys=; ` +
    `while IFS= read -r yl && [ "$yl" != ${end} ]; do ys="$ys$yl$yn"; done; ` +
    // A stream cut short runs nothing: only a script that arrived whole is run.
    `[ "$yl" = ${end} ] || exit 126; unset yl yn; eval "$ys"`;
}

/**
 * The bytes sent on stdin before anything else when ssh runs {@linkcode FIRST_HOP}: the group
 * line, then `script` itself as line 2 when it is one line (the common case: one `read`), else
 * a loader, the script's lines and a terminator carrying `nonce` (so no line of the script can
 * end it early). Whatever follows on stdin is the script's own stdin.
 */
export function hopPreamble(script: string, nonce: string, become?: BecomeHop | null): Uint8Array {
  return encoder.encode(hopPreambleText(script, nonce, become));
}

/** {@linkcode hopPreamble} as text. */
export function hopPreambleText(script: string, nonce: string, become?: BecomeHop | null): string {
  const { head, rest } = hopPreambleParts(script, nonce, become);
  return head + rest;
}

/**
 * {@linkcode hopPreambleText} in two parts: with a become password, `head` ends where sudo
 * takes over (the client waits for its prompt or the other shell's marker before `rest`);
 * otherwise `head` is all of it and `rest` is empty.
 */
export function hopPreambleParts(
  script: string,
  nonce: string,
  become?: BecomeHop | null,
): { head: string; rest: string } {
  // Under become, the login user's shell hands over to the other user's, which makes its own
  // group: the script then runs there, and its kills and hangups come from that user.
  const body = !/[\n\r]/.test(script)
    ? `${script}\n`
    : `${loaderLine(nonce)}\n${script}\n${terminator(nonce)}\n`;
  if (!become) return { head: `${GROUP_LINE}\n${body}`, rest: "" };
  const handOver = `${GROUP_LINE}\n${becomeLine(become, nonce)}\n`;
  const theirs = `${GROUP_LINE}\n${body}`;
  return become.password !== undefined
    ? { head: handOver, rest: theirs }
    : { head: handOver + theirs, rest: "" };
}

/**
 * Login shells that run yonder's one-line wrapper as it is, as POSIX sh: on a master whose calls
 * showed one of these (and a server that makes each session a group leader), later calls may
 * send the wrapper as the command line itself and skip the first hop.
 */
const POSIX_LOGIN = /^-?(sh|bash|dash|ash|ksh|mksh)$/;

/**
 * Whether the `login` frame of a call (`<1 if the server made the shell a group leader>:<$SHELL>`)
 * allows the direct command line for later calls on the same connection.
 */
export function allowsDirectLine(loginFrame: string): boolean {
  const sep = loginFrame.indexOf(":");
  if (sep < 0 || loginFrame.slice(0, sep) !== "1") return false;
  const shell = loginFrame.slice(sep + 1).split("/").at(-1) ?? "";
  return POSIX_LOGIN.test(shell);
}
