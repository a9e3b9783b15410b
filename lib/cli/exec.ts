/** `yonder exec`: run one command, locally or on a target, streaming its output. */

import { type FlagSpec, type FlagValues, parseFlags } from "./_args.ts";
import type { ExecOptions, ExecResult } from "../core/environment.ts";
import { isSensitiveEnvName, validateEnvName } from "../core/env_filter.ts";
import { UsageError } from "../core/errors.ts";
import type { Environment } from "../core/environment.ts";
import { formatTarget, parseTarget } from "../core/target.ts";
import { FLEET_FLAGS, FLEET_HELP, fleetExec, fleetHosts } from "./fleet.ts";
import { resultJson } from "./_json.ts";
import {
  checkConnectionFlags,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  debugLogger,
  errorJson,
  EXIT,
  intFlag,
  type Io,
  openTarget,
  say,
  secondsFlag,
  splitDashDash,
} from "./_common.ts";

/** Help for `yonder exec`. */
export const EXEC_HELP = `Usage: yonder exec [options] -- CMD [ARG...]

Runs CMD with its arguments passed exactly (nothing is expanded) on the target, or locally when no
target is given. Output streams live; the exit code is the command's own.

Options:
      --cwd DIR             working directory (relative to the target's path, ~ = home)
  -e, --env NAME=VALUE      set a variable (repeatable); names that look secret are refused
      --allow-env NAME      allow sending a secret-looking name (repeatable)
      --timeout SEC         kill the command (its whole process group) after SEC seconds: exit 124
      --stdin               forward local stdin; without it the command reads /dev/null and
                            piped input is not sent (echo x | yonder exec -- cat prints nothing)
      --shell               run CMD as a sh -c script instead of an argv
      --json                print one JSON object with the result instead of streaming
      --max-output BYTES    keep at most BYTES of each stream (with --json); more sets truncated

${CONNECTION_HELP}

${FLEET_HELP}

Exit codes: the command's own; 124 timeout; 128+n interrupted by signal n; 255 cannot reach,
authenticate or lost the connection; 77 refused by the policy; 2 usage error.`;

const enc = new TextEncoder();

async function printJson(io: Io, value: Record<string, unknown>): Promise<void> {
  await io.stdout(enc.encode(JSON.stringify(value) + "\n"));
}

/** The target as `--json` names it (canonical, as the environment's label), or `local`. */
function targetLabel(io: Io, remote: string | undefined): string {
  const t = remote ?? io.env("YONDER_REMOTE");
  if (t === undefined || t === "") return "local";
  try {
    return formatTarget(parseTarget(t));
  } catch {
    return t;
  }
}

function ignoreBrokenPipe(e: unknown): void {
  // A reader that went away (`yonder exec … | head`) is not an error of the command.
  if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
}

/** The flags of `yonder exec`. */
const EXEC_FLAGS = {
  ...CONNECTION_FLAGS,
  cwd: { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  "allow-env": { type: "string", multiple: true },
  timeout: { type: "string" },
  stdin: { type: "boolean" },
  shell: { type: "boolean" },
  json: { type: "boolean" },
  "max-output": { type: "string" },
  ...FLEET_FLAGS,
} as const satisfies Record<string, FlagSpec>;

type ExecValues = FlagValues<typeof EXEC_FLAGS>;

/** Runs `yonder exec`; returns the exit code. */
export async function execCommand(argv: string[], io: Io): Promise<number> {
  const { flags, rest } = splitDashDash(argv);
  const { values, positionals } = parseFlags(flags, EXEC_FLAGS);
  if (values.help) {
    await io.stdout(enc.encode(EXEC_HELP + "\n"));
    return EXIT.ok;
  }
  checkConnectionFlags(values);
  const command = [...positionals, ...(rest ?? [])];
  if (command.length === 0) {
    throw new UsageError("No command given", { hint: "yonder exec [-r TARGET] -- CMD [ARG...]" });
  }
  const hosts = await fleetHosts(io, values);
  if (hosts !== null) {
    if (values.stdin) throw new UsageError("--stdin cannot go to several hosts");
    return await fleetExec(
      io,
      values,
      hosts,
      values.shell ? command.join(" ") : command,
      execOptions(io, values),
    );
  }
  const opts = execOptions(io, values);
  const written = values.json ? () => Promise.resolve() : streamOutput(io, opts);
  // One command: let it carry the connection (one ssh process instead of a master and a channel).
  let env2: Environment;
  try {
    const opened = await openTarget(io, values, { oneShot: true });
    env2 = opened.env;
    // The config's exec defaults, under the flags.
    if (opts.timeoutMs === undefined && opened.defaults.timeout !== undefined) {
      opts.timeoutMs = opened.defaults.timeout * 1000;
    }
    if (opts.maxOutputBytes === undefined && opened.defaults.maxOutput !== undefined) {
      opts.maxOutputBytes = opened.defaults.maxOutput;
    }
  } catch (e) {
    if (values.json && !io.signal?.aborted) {
      await printJson(io, errorJson(targetLabel(io, values.remote), e));
    }
    throw e;
  }
  try {
    return await runAndReport(io, env2, { command, opts, written, values });
  } finally {
    await env2.close();
    debugLogger(io, values.verbose?.length ?? 0)("closed");
  }
}

/** The `-e NAME=VALUE` variables, refusing names that look secret unless `--allow-env` names them. */
function envFromFlags(pairs: readonly string[], allow: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`Invalid --env "${pair}": expected NAME=VALUE`);
    const name = pair.slice(0, eq);
    validateEnvName(name);
    if (isSensitiveEnvName(name) && !allow.some((a) => a.toUpperCase() === name.toUpperCase())) {
      throw new UsageError(`Refusing to send "${name}": the name looks like a secret`, {
        hint: `Pass --allow-env ${name} to send it anyway`,
      });
    }
    env[name] = pair.slice(eq + 1);
  }
  return env;
}

/** The exec options the flags ask for (output callbacks aside). */
function execOptions(io: Io, values: ExecValues): ExecOptions {
  const allow = values["allow-env"] ?? [];
  for (const a of allow) validateEnvName(a);
  const env = envFromFlags(values.env ?? [], allow);
  const opts: ExecOptions = { env, allowEnv: allow };
  if (values.cwd !== undefined) opts.cwd = values.cwd;
  if (values.timeout !== undefined) opts.timeoutMs = secondsFlag("timeout", values.timeout) * 1000;
  if (values["max-output"] !== undefined) {
    opts.maxOutputBytes = intFlag("max-output", values["max-output"], 0, Number.MAX_SAFE_INTEGER);
  }
  if (values.stdin) opts.stdin = io.stdin();
  return opts;
}

/**
 * Streams the command's output to ours, in order, through `opts`' callbacks; the function returned
 * resolves once everything received so far is written.
 */
function streamOutput(io: Io, opts: ExecOptions): () => Promise<void> {
  let writes = Promise.resolve();
  opts.onStdout = (c) => {
    const copy = c.slice();
    writes = writes.then(() => io.stdout(copy)).catch(ignoreBrokenPipe);
  };
  opts.onStderr = (c) => {
    const copy = c.slice();
    writes = writes.then(() => io.stderr(copy)).catch(ignoreBrokenPipe);
  };
  return () => writes;
}

/** Runs the command and reports its end (JSON, or a timeout line); returns its exit code. */
async function runAndReport(
  io: Io,
  env: Environment,
  call: {
    command: string[];
    opts: ExecOptions;
    /** Resolves once the streamed output is written. */
    written: () => Promise<void>;
    values: ExecValues;
  },
): Promise<number> {
  const { command, opts, values } = call;
  let r: ExecResult;
  try {
    r = await env.exec(values.shell ? command.join(" ") : command, {
      ...opts,
      ...(io.signal ? { signal: io.signal } : {}),
    });
  } catch (e) {
    // A connection that failed is still one JSON object, so a script can tell it from a
    // remote exit 255 without reading stderr.
    if (values.json && !io.signal?.aborted) await printJson(io, errorJson(env.label, e));
    throw e;
  }
  await call.written();
  if (values.json) {
    await printJson(io, resultJson(env.label, r));
  } else if (r.timedOut) {
    await say(io, `yonder: timeout: command stopped after ${(opts.timeoutMs ?? 0) / 1000} s`);
  }
  return r.code;
}
