/**
 * What a finished ssh client's call means, decided in one pure function: a result (the
 * command's status, or how yonder stopped it), a retry (the command provably never started), a
 * lost connection, a connect error, or a remote shell that did not run the command. The facts
 * come from the client's frames and exit, and, where they cannot tell, from the master.
 *
 * @module
 */

import type { KillReason } from "../core/kill_path.ts";
import { NO_MASTER_SENTINEL } from "./options.ts";

/** How the call was carried. */
export type CallPath =
  /** A plain connection of its own (no master; Windows). */
  | "direct"
  /** A channel of the master. */
  | "channel"
  /** The master's own session (a one-shot call that started the master). */
  | "carried";

/** What is known of a call once its client is done. */
export interface CallFacts {
  /** How the call was carried. */
  path: CallPath;
  /** The working directory could not be entered (`notfound`, `notdir`, `denied`). */
  cwd: string | null;
  /** The kill path stopped the command (before its status came). */
  killedBy: KillReason | null;
  /** The command's exit status, from the wrapper's frame. */
  exit: number | null;
  /** The command's process group, from the wrapper's frame (null: it never started). */
  pgid: number | null;
  /** The ssh client's exit code (-1 when it did not exit: a carried call). */
  sshCode: number;
  /** The last lines ssh wrote on stderr. */
  stderrTail: string;
  /** Carried, never started: why the master that was to carry it did not connect (or null). */
  carrierFailure?: unknown;
  /** That failure may pass by itself (refused, timed out): the call may be repeated. */
  transientCarrierFailure?: boolean;
  /** Carried: whether the master's log has anything (a connection problem). */
  masterLog?: string;
  /** Over a channel: whether the master that ran the call is still the one up. */
  masterAlive?: boolean;
}

/** What the facts mean. */
export type Verdict =
  | { kind: "cwd"; cwd: string }
  | { kind: "stopped"; reason: KillReason }
  | { kind: "exit"; code: number }
  | { kind: "retry"; error: Error | null }
  | { kind: "fail"; error: unknown }
  | { kind: "lost"; stderrTail: string }
  | { kind: "connect" }
  | { kind: "no-shell" };

const SESSION_REFUSED =
  /session request failed|Session open refused|open failed|administratively prohibited/i;

/** Which further facts {@linkcode classify} needs, given the ones from the client alone. */
export function needs(f: CallFacts): {
  carrierFailure: boolean;
  masterLog: boolean;
  masterAlive: boolean;
} {
  const open = f.cwd === null && f.killedBy === null && f.exit === null;
  const carried = open && f.path === "carried";
  return {
    carrierFailure: carried && f.pgid === null,
    masterLog: carried && f.pgid !== null,
    masterAlive: open && f.path === "channel" && !channelNeverOpened(f),
  };
}

/** The channel could not open, so the command never started: safe to repeat. */
function channelNeverOpened(f: Pick<CallFacts, "pgid" | "stderrTail">): boolean {
  return f.pgid === null &&
    (f.stderrTail.includes(NO_MASTER_SENTINEL) || SESSION_REFUSED.test(f.stderrTail));
}

/** Classifies a carried call whose status did not come. */
function carried(f: CallFacts): Verdict {
  if (f.pgid === null) {
    // The master that was to carry the call did not connect: nothing ran.
    const failure = f.carrierFailure;
    if (failure === null || failure === undefined) return { kind: "no-shell" };
    return f.transientCarrierFailure
      ? { kind: "retry", error: failure as Error }
      : { kind: "fail", error: failure };
  }
  if (f.masterLog) return { kind: "lost", stderrTail: f.masterLog };
  // The session closed without a status frame: as ssh itself reports such an end, 255.
  return { kind: "exit", code: f.sshCode === -1 ? 255 : f.sshCode };
}

/**
 * Decides what a call's facts mean. Pure: the caller gathers the facts (see {@linkcode needs})
 * and acts on the verdict.
 */
export function classify(f: CallFacts): Verdict {
  if (f.cwd !== null) return { kind: "cwd", cwd: f.cwd };
  if (f.killedBy) return { kind: "stopped", reason: f.killedBy };
  if (f.exit !== null) return { kind: "exit", code: f.exit };
  if (f.path === "carried") return carried(f);
  if (f.path === "direct") {
    if (f.pgid === null && f.sshCode === 255) return { kind: "connect" };
  } else {
    if (channelNeverOpened(f)) return { kind: "retry", error: null };
    if (f.masterAlive === false) return { kind: "lost", stderrTail: f.stderrTail };
  }
  // The wrapper itself was killed (the command signalled its own process group).
  if (f.pgid !== null) return { kind: "exit", code: f.sshCode };
  return { kind: "no-shell" };
}
