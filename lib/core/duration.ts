/** Durations as the CLI takes them: `--persist[=IDLE]`, `$YONDER_PERSIST`. */

import { UsageError } from "./errors.ts";

/** Default idle time of a persistent master, in seconds. */
export const DEFAULT_PERSIST_S = 300;

/**
 * Parses an idle duration: seconds, or a number with `s`, `m` or `h` (`300`, `90s`, `10m`, `1h`);
 * an empty text is the default ({@linkcode DEFAULT_PERSIST_S}).
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * console.assert(parseDuration("10m") === 600);
 * ```
 */
export function parseDuration(text: string, what = "--persist"): number {
  if (text === "") return DEFAULT_PERSIST_S;
  const m = /^(\d+)([smh]?)$/.exec(text.trim());
  const unit = { "": 1, s: 1, m: 60, h: 3600 }[(m?.[2] ?? "") as "" | "s" | "m" | "h"];
  const n = m ? Number(m[1]) * unit : NaN;
  if (!m || n <= 0 || n > 7 * 24 * 3600) {
    throw new UsageError(`Invalid ${what} "${text}": expected a duration like 300, 90s, 10m or 1h`);
  }
  return n;
}
