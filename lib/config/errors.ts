/**
 * The error of a config file (or an inventory it names) that cannot be used: every problem found,
 * each with its place (`file:line:col`) and its key path. The CLI exits 2 for it.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/** One problem of a config file: where it is and what is wrong. */
export interface ConfigIssue {
  /** The file, as given or found. */
  readonly file: string;
  /** 1-based line, or 0 when the problem has no place (an empty file). */
  readonly line: number;
  /** 1-based column, or 0. */
  readonly col: number;
  /** The key path, dotted (`hosts.web1.timeout`, `groups.web.hosts[2]`); "" for the whole file. */
  readonly path: string;
  /** What is wrong, and what would be right. */
  readonly message: string;
}

/** Formats one issue as `file:line:col: path: message`. */
export function formatIssue(i: ConfigIssue): string {
  const at = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return i.path === "" ? `${at}: ${i.message}` : `${at}: ${i.path}: ${i.message}`;
}

/**
 * An issue of the whole file (no place in it): it cannot be read, or a parser gave up.
 *
 * @example
 * ```ts
 * import { fileIssue } from "./errors.ts";
 * console.log(fileIssue("yonder.yaml", "cannot read: permission denied").line); // 0
 * ```
 */
export function fileIssue(file: string, message: string): ConfigIssue {
  return { file, line: 0, col: 0, path: "", message };
}

/**
 * A config file (or an inventory) that cannot be used. Nothing ran. The message lists every
 * issue, one per line, as `file:line:col: key.path: what is wrong`.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./errors.ts";
 * const e = new ConfigError([
 *   { file: "yonder.yaml", line: 3, col: 3, path: "defaults.timout", message: "unknown key" },
 * ]);
 * console.log(e.message); // "yonder.yaml:3:3: defaults.timout: unknown key"
 * ```
 */
export class ConfigError extends UsageError {
  /** Always `"ConfigError"`. */
  override readonly name = "ConfigError";
  /** Every problem found, in file order. */
  readonly issues: readonly ConfigIssue[];

  /** Creates the error for `issues` (at least one). */
  constructor(issues: readonly ConfigIssue[], options: { hint?: string } = {}) {
    super(issues.map(formatIssue).join("\n"), {
      hint: options.hint ?? "yonder config check prints the config as yonder reads it",
    });
    this.issues = issues;
  }
}
