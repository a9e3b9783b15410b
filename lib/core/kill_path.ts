/**
 * What every exec path shares: the one kill path (a timeout and an abort both call the same
 * `kill`, once, with timers and listeners cleared in `finally`), the result of a call aborted
 * before it started, and the typed error for a working directory that cannot be entered.
 */

import type { ExecOptions, ExecResult } from "./environment.ts";
import { NotADirectory, NotFound, PermissionDenied } from "./errors.ts";

/** Why a command was stopped. */
export type KillReason = "timeout" | "abort";

/** The armed kill path of one call. */
export interface KillPath {
  /** Why the command was stopped, once it was. */
  readonly reason: KillReason | null;
  /** Resolves when the kill (if any) is done. */
  done(): Promise<void>;
  /** Clears the timer and the abort listener. */
  disarm(): void;
}

/** The caller's output callbacks, guarded: see {@linkcode guardCallbacks}. */
export interface CallbackGuard {
  /** The caller's `onStdout`, never throwing; returns the wait it asked for, if any. */
  onStdout: OutputCallback | undefined;
  /** The caller's `onStderr`, never throwing; returns the wait it asked for, if any. */
  onStderr: OutputCallback | undefined;
  /** The first error a callback threw, if one did. */
  readonly failure: { error: unknown } | null;
  /** Aborts when a callback throws. */
  readonly failed: AbortSignal;
  /** Throws the first error a callback threw, if one did. */
  rethrow(): void;
  /** Runs another callback of the caller (`onStart`) under the same guard (a rejection too). */
  run(callback: () => unknown): void;
}

/** A guarded output callback: the promise it returns (never rejecting) is a wait it asked for. */
export type OutputCallback = (chunk: Uint8Array) => Promise<void> | undefined;

/**
 * Wraps the output callbacks of `opts` so that a throw (or a rejected promise) never reaches the
 * pipes that feed them: the first error is kept, no later chunk is delivered, and `failed` aborts,
 * which stops the command through the kill path; the call then rejects with that error.
 */
export function guardCallbacks(opts: Pick<ExecOptions, "onStdout" | "onStderr">): CallbackGuard {
  const failed = new AbortController();
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    failure ??= { error };
    failed.abort();
  };
  const wrap = (cb: ExecOptions["onStdout"]): OutputCallback | undefined =>
    cb &&
    ((chunk: Uint8Array) => {
      if (failure) return undefined;
      try {
        const wait = cb(chunk);
        return wait instanceof Promise ? wait.catch(fail) : undefined;
      } catch (error) {
        fail(error);
        return undefined;
      }
    });
  return {
    onStdout: wrap(opts.onStdout),
    onStderr: wrap(opts.onStderr),
    get failure() {
      return failure;
    },
    failed: failed.signal,
    rethrow() {
      if (failure) throw failure.error;
    },
    run(callback: () => unknown) {
      if (failure) return;
      try {
        const result = callback();
        if (result instanceof Promise) result.catch(fail);
      } catch (error) {
        fail(error);
      }
    },
  };
}

/**
 * Arms the timeout and abort of `opts` (and the failure of `guard`'s callbacks) to call `kill`
 * once with the reason.
 *
 * @example
 * ```ts ignore
 * const k = armKillPath(opts, (why) => stopRemoteGroup(why));
 * try { await child.status; await k.done(); } finally { k.disarm(); }
 * ```
 */
export function armKillPath(
  opts: Pick<ExecOptions, "timeoutMs" | "signal">,
  kill: (reason: KillReason) => Promise<void>,
  guard?: CallbackGuard,
): KillPath {
  let reason: KillReason | null = null;
  let killing: Promise<void> = Promise.resolve();
  const fire = (why: KillReason) => {
    if (reason) return;
    reason = why;
    killing = kill(why);
  };
  const timer = opts.timeoutMs !== undefined
    ? setTimeout(() => fire("timeout"), opts.timeoutMs)
    : undefined;
  const onAbort = () => fire("abort");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  guard?.failed.addEventListener("abort", onAbort, { once: true });
  // An abort that came while the call was being set up (no listener yet) stops it now.
  if (opts.signal?.aborted || guard?.failed.aborted) fire("abort");
  return {
    get reason() {
      return reason;
    },
    done: () => killing,
    disarm() {
      // Touching clearTimeout loads Deno's timer module (10 ms) on a call that never set one.
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      guard?.failed.removeEventListener("abort", onAbort);
    },
  };
}

/** The result of a call whose signal was aborted before it started: nothing ran. */
export function abortedBeforeStart(started: number): ExecResult {
  return {
    code: 143,
    signal: "SIGTERM",
    stdout: new Uint8Array(0),
    stderr: new Uint8Array(0),
    timedOut: false,
    truncated: false,
    durationMs: performance.now() - started,
  };
}

/** Code and signal of a stopped call: 124 for a timeout, 143 (SIGTERM) for an abort. */
export function stoppedStatus(reason: KillReason): { code: number; signal: Deno.Signal | null } {
  return reason === "timeout" ? { code: 124, signal: null } : { code: 143, signal: "SIGTERM" };
}

/** The typed error for a working directory that could not be entered (`notfound`, …). */
export function cwdError(kind: string, dir: string, host: string): Error {
  const about = { where: host, role: "cwd" as const };
  if (kind === "notdir") {
    return new NotADirectory(
      dir,
      `Working directory "${dir}" on "${host}" is not a directory`,
      about,
    );
  }
  if (kind === "denied") {
    return new PermissionDenied(
      dir,
      `Working directory "${dir}" on "${host}": permission denied`,
      about,
    );
  }
  return new NotFound(dir, `Working directory "${dir}" does not exist on "${host}"`, about);
}
