/**
 * Which environment variables may be sent to a remote host. Names that usually hold secrets are
 * never sent unless the caller allows them by name.
 *
 * Sensitive names (case-insensitive):
 * - ending in `_KEY`, `_TOKEN`, `_SECRET`, `_PASS`, `_PASSWD`, `_DSN`
 * - containing `PASSWORD`, `CREDENTIAL`, `SECRET`, `PRIVATE_KEY`
 * - starting with `AWS_`
 * - exactly `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GITHUB_TOKEN`, `GH_TOKEN`, `NPM_TOKEN`,
 *   `DATABASE_URL`, `SSH_AUTH_SOCK`
 *
 * @module
 */

import { UsageError } from "./errors.ts";

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SUFFIXES = ["_KEY", "_TOKEN", "_SECRET", "_PASS", "_PASSWD", "_DSN"];
const INFIXES = ["PASSWORD", "CREDENTIAL", "SECRET", "PRIVATE_KEY"];
const PREFIXES = ["AWS_"];
const EXACT = new Set([
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "GITHUB_TOKEN",
  "GH_TOKEN",
  "NPM_TOKEN",
  "DATABASE_URL",
  "SSH_AUTH_SOCK",
]);

/**
 * Tells whether `name` usually holds a secret.
 *
 * @example
 * ```ts
 * import { isSensitiveEnvName } from "./env_filter.ts";
 * isSensitiveEnvName("GITHUB_TOKEN"); // true
 * isSensitiveEnvName("PATH"); // false
 * ```
 */
export function isSensitiveEnvName(name: string): boolean {
  const n = name.toUpperCase();
  return EXACT.has(n) || SUFFIXES.some((s) => n.endsWith(s)) ||
    INFIXES.some((s) => n.includes(s)) || PREFIXES.some((p) => n.startsWith(p));
}

/** Checks that `name` is a valid environment variable name; throws {@linkcode UsageError}. */
export function validateEnvName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new UsageError(
      `Invalid environment variable name ${JSON.stringify(name)}: use letters, digits and _`,
    );
  }
}

/**
 * The result of {@linkcode filterEnv}.
 *
 * @example
 * ```ts
 * import { filterEnv, type FilteredEnv } from "../../mod.ts";
 * const { env, dropped }: FilteredEnv = filterEnv({ STAGE: "prod", AWS_SECRET_ACCESS_KEY: "…" });
 * if (dropped.length) console.warn(`not sent: ${dropped.join(", ")}`);
 * console.log(env); // { STAGE: "prod" }
 * ```
 */
export interface FilteredEnv {
  /** Variables to send. */
  env: Record<string, string>;
  /** Names that were left out because they look sensitive. */
  dropped: string[];
}

/**
 * Validates names and values and splits off sensitive names not in `allow`.
 *
 * @example
 * ```ts
 * import { filterEnv } from "./env_filter.ts";
 * filterEnv({ A: "1", API_TOKEN: "x" }, []); // { env: { A: "1" }, dropped: ["API_TOKEN"] }
 * ```
 */
export function filterEnv(
  env: Record<string, string> | undefined,
  allow: readonly string[] = [],
): FilteredEnv {
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  const allowed = new Set(allow.map((a) => a.toUpperCase()));
  for (const [name, value] of Object.entries(env ?? {})) {
    validateEnvName(name);
    if (typeof value !== "string" || value.includes("\0")) {
      throw new UsageError(`Invalid value for environment variable "${name}": contains a NUL byte`);
    }
    if (isSensitiveEnvName(name) && !allowed.has(name.toUpperCase())) {
      dropped.push(name);
    } else {
      out[name] = value;
    }
  }
  return { env: out, dropped };
}
