/**
 * Retry with backoff for what is safe to repeat: connection setup and idempotent transfers (an
 * atomic upload, a download, a listing). A user's command is never retried.
 *
 * @module
 */

import type { Logger } from "./environment.ts";
import { SshConnectError, SshConnectionLost } from "./errors.ts";
import { sleep } from "../util/async.ts";

/**
 * Options of {@linkcode withRetry}.
 *
 * @example
 * ```ts
 * import { isTransient, type RetryOptions, SshEnvironment, withRetry } from "../../mod.ts";
 * const patient: RetryOptions = {
 *   tries: 5,
 *   baseDelayMs: 1_000, // 1 s, 2 s, 4 s, 8 s between the attempts
 *   retryable: (e) => isTransient(e),
 *   log: (line) => console.error(line),
 *   signal: AbortSignal.timeout(60_000),
 * };
 * await using env = await withRetry(
 *   "connect to build",
 *   () => SshEnvironment.open("deploy@build.example.com"),
 *   patient,
 * );
 * console.log(env.label);
 * ```
 */
export interface RetryOptions {
  /** Attempts in all (default 3). */
  tries?: number;
  /** Delay before the second attempt in ms; it doubles for each later one (default 250). */
  baseDelayMs?: number;
  /** Which errors are worth another attempt (default {@linkcode isTransient}). */
  retryable?: (error: unknown) => boolean;
  /** Receives one line per retry. */
  log?: Logger;
  /** Aborting stops waiting and retrying. */
  signal?: AbortSignal | undefined;
}

/**
 * True for errors a later attempt may not meet: a connection lost mid-call, or a connection that
 * could not be set up for a reason that can pass (refused, timed out, unreachable, reset). Bad
 * credentials, host keys, names and configuration are not retried.
 *
 * @example
 * ```ts
 * import { isTransient } from "./retry.ts";
 * console.assert(!isTransient(new TypeError("x")));
 * ```
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof SshConnectionLost) return true;
  if (error instanceof SshConnectError) {
    return ["refused", "timeout", "unreachable", "unknown"].includes(error.kind);
  }
  return false;
}

/**
 * Runs `fn` until it succeeds, at most `tries` times, waiting `baseDelayMs`, then twice that, …
 * between attempts; errors that are not retryable are thrown at once.
 *
 * @example
 * ```ts
 * import { withRetry } from "./retry.ts";
 * let n = 0;
 * const v = await withRetry("demo", () => Promise.resolve(++n));
 * console.assert(v === 1);
 * ```
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const tries = options.tries ?? 3;
  const base = options.baseDelayMs ?? 250;
  const retryable = options.retryable ?? isTransient;
  let lost: SshConnectionLost | null = null;
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (e instanceof SshConnectionLost) lost ??= e;
      if (attempt >= tries || !retryable(e) || options.signal?.aborted) {
        // A connection that was lost and could not be set up again for a reason that can pass:
        // the loss is the news, the failed reconnect its detail. A reason that will not pass by
        // itself (a changed host key, a refused key) is the news then, with its own kind.
        if (lost && e instanceof SshConnectError && isTransient(e)) {
          throw new SshConnectionLost({
            host: lost.host,
            message: `${lost.message}; reconnecting failed: ${e.message}`,
            stderrTail: lost.stderrTail,
            hint: lost.hint ?? e.hint,
          });
        }
        throw e;
      }
      const delay = base * 2 ** (attempt - 1);
      options.log?.(
        `${what}: attempt ${attempt} failed (${
          e instanceof Error ? e.message : String(e)
        }); retrying in ${delay} ms`,
      );
      await sleep(delay, options.signal);
    }
  }
}
