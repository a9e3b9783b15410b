/**
 * POSIX shell quoting. Every value yonder puts on a remote command line goes through
 * {@linkcode shellQuote}, because ssh joins its arguments with spaces and the remote shell parses
 * the result again.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/**
 * Quotes `value` for a POSIX shell: `'…'`, with each `'` written as `'\''`. A NUL byte cannot be
 * passed through a command line at all, so it is refused.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./quote.ts";
 * shellQuote("it's $HOME"); // => 'it'\''s $HOME'
 * ```
 */
export function shellQuote(value: string): string {
  if (value.includes("\0")) {
    throw new UsageError(`Invalid argument ${JSON.stringify(value)}: contains a NUL byte`, {
      hint: "Pass binary data through stdin instead of the command line",
    });
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Quotes every word of `argv` and joins them with spaces. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}
