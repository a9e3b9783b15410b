/**
 * Command-line flag parsing for the CLI. `node:util`'s `parseArgs` would do, but loading
 * `node:util` costs about 13 ms of start-up on every call, which is a third of what yonder may
 * add to a cold `ssh host true`. This parser does the subset the commands use, with the same
 * result shape, and throws {@linkcode UsageError} naming the flag for every bad input.
 *
 * Accepted: `--name VALUE`, `--name=VALUE`, `-n VALUE`, `-nVALUE`, boolean groups like `-vv`,
 * positionals anywhere, a lone `-` as a positional, and `--` ending the flags.
 *
 * @module
 */

import { UsageError, YonderError } from "../core/errors.ts";

const HELP_HINT = "the command's --help lists its flags";

/** One flag's description. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /**
   * A string flag whose value is optional: `--name=VALUE`, or a bare `--name` (value "") that does
   * not take the next argument.
   */
  optionalValue?: boolean;
}

type ValueOf<S extends FlagSpec> = S["type"] extends "string" ? string : boolean;

/** The parsed values of a set of flags: arrays for `multiple`, else the last value given. */
export type FlagValues<T extends Record<string, FlagSpec>> = {
  -readonly [K in keyof T]?: T[K]["multiple"] extends true ? ValueOf<T[K]>[] : ValueOf<T[K]>;
};

/**
 * Parses `args` against `options`. A string flag takes the next argument as its value unless
 * that argument looks like a flag (write `--name=-x` to mean it).
 *
 * @example
 * ```ts
 * import { parseFlags } from "./_args.ts";
 * const { values, positionals } = parseFlags(["-r", "host", "x"], {
 *   remote: { type: "string", short: "r" },
 * });
 * // values.remote === "host", positionals = ["x"]
 * ```
 */
export function parseFlags<T extends Record<string, FlagSpec>>(
  args: readonly string[],
  options: T,
  allowPositionals = true,
): { values: FlagValues<T>; positionals: string[] } {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) {
    if (!spec.short) continue;
    const other = byShort.get(spec.short);
    // Which flag a letter means must never depend on the order of a spread.
    if (other) throw new YonderError(`-${spec.short} is given to both --${other} and --${name}`);
    byShort.set(spec.short, name);
  }
  const label = (name: string) => {
    const short = options[name]?.short;
    return short ? `-${short}, --${name}` : `--${name}`;
  };
  const set = (name: string, value: string | boolean) => {
    if (options[name]!.multiple) ((values[name] ??= []) as unknown[]).push(value);
    else values[name] = value;
  };
  const looksLikeFlag = (a: string | undefined) => a !== undefined && a.length > 1 && a[0] === "-";
  const positional = (a: string) => {
    if (!allowPositionals) throw new UsageError(`Unexpected argument "${a}"`);
    positionals.push(a);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      for (const rest of args.slice(i + 1)) positional(rest);
      break;
    }
    if (!looksLikeFlag(arg)) {
      positional(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = Object.hasOwn(options, name) ? options[name] : undefined;
      if (!spec) throw new UsageError(`Unknown option "--${name}"`, { hint: HELP_HINT });
      if (spec.type === "boolean") {
        if (eq >= 0) throw new UsageError(`Option "${label(name)}" takes no value`);
        set(name, true);
      } else if (eq >= 0) {
        set(name, arg.slice(eq + 1));
      } else if (spec.optionalValue) {
        set(name, "");
      } else {
        set(name, takeValue(args, ++i, label(name), looksLikeFlag));
      }
      continue;
    }
    // One or more short flags: `-v`, `-vv`, `-rHOST`, `-r HOST`.
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const name = byShort.get(letter);
      if (name === undefined) {
        throw new UsageError(`Unknown option "-${letter}"`, { hint: HELP_HINT });
      }
      if (options[name]!.type === "boolean") {
        set(name, true);
        continue;
      }
      if (j + 1 < arg.length) set(name, arg.slice(j + 1));
      else set(name, takeValue(args, ++i, label(name), looksLikeFlag));
      break;
    }
  }
  return { values: values as FlagValues<T>, positionals };
}

function takeValue(
  args: readonly string[],
  i: number,
  label: string,
  looksLikeFlag: (a: string | undefined) => boolean,
): string {
  const value = args[i];
  if (value === undefined) throw new UsageError(`Option "${label}" needs a value`);
  if (looksLikeFlag(value)) {
    throw new UsageError(`Option "${label}" needs a value, not the option "${value}"`, {
      hint: `To pass a value that starts with "-", write it as --${
        label.replace(/^.*--/, "")
      }=${value}`,
    });
  }
  return value;
}
