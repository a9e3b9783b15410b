/**
 * Finding `yonder.yaml` without loading the YAML and schema code (start-up stays cheap when there
 * is no config).
 *
 * @module
 */

import { ConfigError, fileIssue } from "./errors.ts";

/** Where to look: the environment's variables and home. */
export interface ConfigSearch {
  /** `--config FILE`. */
  flag?: string | undefined;
  /** Reads an environment variable. */
  env: (name: string) => string | undefined;
  /** The working directory (default: the process's). */
  cwd?: string;
}

/** The home directory. */
export function home(env: (name: string) => string | undefined): string {
  return env("HOME") ?? "/";
}

/**
 * The config file to read: `--config FILE`, else `$YONDER_CONFIG`, else `./yonder.yaml`, else
 * `$XDG_CONFIG_HOME/yonder/config.yaml` (`~/.config/yonder/config.yaml`); null when none of the
 * last two exists. A file named by the flag or the variable must exist.
 *
 * @example
 * ```ts
 * import { findConfig } from "./find.ts";
 * const file = await findConfig({ env: (n: string) => Deno.env.get(n) });
 * console.log(file ?? "no config");
 * ```
 */
export async function findConfig(search: ConfigSearch): Promise<string | null> {
  const named = search.flag ?? search.env("YONDER_CONFIG");
  if (named !== undefined && named !== "") {
    const where = search.flag !== undefined ? "--config" : "$YONDER_CONFIG";
    if (!await isFile(named)) {
      throw new ConfigError([fileIssue(named, "not found")], {
        hint: `${where} names a file that does not exist; yonder init writes one`,
      });
    }
    return named;
  }
  const cwd = search.cwd ?? Deno.cwd();
  const xdg = search.env("XDG_CONFIG_HOME") || `${home(search.env)}/.config`;
  for (const candidate of [`${cwd}/yonder.yaml`, `${xdg}/yonder/config.yaml`]) {
    if (await isFile(candidate)) return candidate;
  }
  return null;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
