/** Pieces every CLI command shares: connection flags, the environment to use, error reporting. */

import { PolicyRefused, type PolicyRequest, type Verdict } from "../core/policy.ts";
import type { FlagSpec } from "./_args.ts";
import type { Become, Environment, Logger } from "../core/environment.ts";
import {
  FileError,
  NotFound,
  SshConnectError,
  SshConnectionLost,
  UsageError,
  YonderError,
} from "../core/errors.ts";
import { LocalEnvironment } from "../local/environment.ts";
import { SshEnvironment, type SshEnvironmentOptions } from "../ssh/environment.ts";
import { parseDuration } from "../core/duration.ts";
// Type only: erased at run time, so the start-up path loads no config code.
import type { Settings } from "../config/config.ts";

/** Exit codes (see the README). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  timeout: 124,
  policy: 77,
  connection: 255,
} as const;

/**
 * The signals the CLI handles: each stops the command, which then exits 128+n.
 *
 * @example
 * ```ts
 * import type { Interrupt } from "../../cli.ts";
 * const exitCodes: Record<Interrupt, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
 * console.log(exitCodes.SIGINT);
 * ```
 */
export type Interrupt = "SIGINT" | "SIGTERM" | "SIGHUP";

/** The exit code of a command stopped by `signal`: 128 plus its number. */
export function signalExit(signal: Interrupt): number {
  return 128 + { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal];
}

/**
 * Where a command writes; tests pass their own.
 *
 * @example
 * ```ts
 * import { type Io, main } from "../../cli.ts";
 * const out: Uint8Array[] = [];
 * const io: Io = {
 *   stdout: (bytes) => Promise.resolve(void out.push(bytes)),
 *   stderr: (bytes) => Deno.stderr.write(bytes).then(() => {}),
 *   env: (name) => Deno.env.get(name),
 *   stdin: () => ReadableStream.from<Uint8Array>([]),
 *   onSignal: () => () => {},
 * };
 * const code = await main(["--help"], io);
 * console.log(code, new TextDecoder().decode(out[0])); // 0 "Usage: yonder …"
 * ```
 */
export interface Io {
  /** Writes bytes to stdout. */
  stdout(bytes: Uint8Array): Promise<void>;
  /** Writes bytes to stderr. */
  stderr(bytes: Uint8Array): Promise<void>;
  /** The process environment. */
  env(name: string): string | undefined;
  /** Local stdin, for `--stdin`. */
  stdin(): ReadableStream<Uint8Array>;
  /** Subscribes to SIGINT, SIGTERM and SIGHUP; returns the unsubscribe function. */
  onSignal(handler: (signal: Interrupt) => void): () => void;
  /**
   * Aborted when the CLI was interrupted (set by `main` for the command it runs): every command
   * stops what it does through it, and `main` then exits 128+n.
   */
  signal?: AbortSignal;
  /** Writes bytes to stdout synchronously (holds a fast download back); optional. */
  stdoutSync?(bytes: Uint8Array): void;
  /** Whether stderr is a terminal (progress lines are shown only then); optional. */
  stderrIsTerminal?(): boolean;
}

const enc = new TextEncoder();

/** The real process's stdio. */
export const denoIo: Io = {
  async stdout(bytes) {
    await writeAll(Deno.stdout, bytes);
  },
  async stderr(bytes) {
    await writeAll(Deno.stderr, bytes);
  },
  env: (name) => Deno.env.get(name),
  stdin: () => Deno.stdin.readable,
  stdoutSync(bytes) {
    let at = 0;
    while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
  },
  stderrIsTerminal: () => Deno.stderr.isTerminal(),
  onSignal(handler) {
    if (Deno.build.os === "windows") {
      const h = () => handler("SIGINT");
      Deno.addSignalListener("SIGINT", h);
      return () => Deno.removeSignalListener("SIGINT", h);
    }
    const listeners = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => {
      const listener = () => handler(sig);
      Deno.addSignalListener(sig, listener);
      return [sig, listener] as const;
    });
    return () => {
      for (const [sig, listener] of listeners) Deno.removeSignalListener(sig, listener);
    };
  },
};

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  let at = 0;
  while (at < bytes.length) at += await w.write(bytes.subarray(at));
}

/** Prints `text` on stderr. */
export function say(io: Io, text: string): Promise<void> {
  return io.stderr(enc.encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Flag specs for the connection flags every remote command takes. */
export const CONNECTION_FLAGS = {
  remote: { type: "string", short: "r" },
  identity: { type: "string", short: "i" },
  port: { type: "string", short: "p" },
  "ssh-config": { type: "string", short: "F" },
  config: { type: "string" },
  approve: { type: "boolean" },
  sandbox: { type: "boolean" },
  "ask-pass": { type: "boolean" },
  become: { type: "string", optionalValue: true },
  "become-method": { type: "string" },
  "ask-become-pass": { type: "boolean" },
  jump: { type: "string", short: "J", multiple: true },
  option: { type: "string", short: "o", multiple: true },
  "known-hosts": { type: "string" },
  "strict-host-key": { type: "boolean" },
  "connect-timeout": { type: "string" },
  "no-session": { type: "boolean" },
  persist: { type: "string", optionalValue: true },
  verbose: { type: "boolean", short: "v", multiple: true },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, FlagSpec>;

/** Help text for the connection flags. */
export const CONNECTION_HELP = `Connection:
  -r, --remote TARGET       ssh://user@host:port/path, user@host, user@host:/path, [v6]:port or an
                            ssh_config alias (default: $YONDER_REMOTE; none: run locally)
  -i, --identity FILE       private key (sets IdentitiesOnly=yes)
  -p, --port PORT           port, when the target has none
  -F, --ssh-config FILE     ssh_config file
      --config FILE         yonder.yaml to use (default: $YONDER_CONFIG, ./yonder.yaml,
                            ~/.config/yonder/config.yaml); -r NAME and -r @GROUP name its hosts
      --approve             approve the commands the policy says need approval (else asked on
                            the terminal, or refused without one)
      --sandbox             run commands in a bubblewrap sandbox on the target: the config's
                            sandbox, else read-only root, private /tmp, no network
      --ask-pass            on a terminal, let ssh ask for a key passphrase, password or host key
                            confirmation (once per connection); never with --json or no terminal
      --become[=USER]       run as USER (default root) through sudo -n on the target (never
                            asks for a password: a rule that needs one is an error)
      --become-method M     sudo (default) or doas
      --ask-become-pass     ask for sudo's password on the terminal (else $YONDER_BECOME_PASSWORD
                            or the config's password_env); it only ever reaches sudo's stdin
  -J, --jump HOST           jump host (repeat for a chain)
  -o KEY=VALUE              extra ssh option (repeatable)
      --known-hosts FILE    known_hosts file to use
      --strict-host-key     require a known host key (default: trust on first use, refuse changes)
      --connect-timeout SEC connect timeout (default 10)
      --no-session          one ssh channel per remote command instead of a persistent shell
      --persist[=IDLE]      keep the connection after this command, for later ones to reuse, until
                            it is IDLE (default 300 s; 90s, 10m, 1h; also $YONDER_PERSIST); see
                            yonder status and yonder stop
  -v                        yonder's debug lines on stderr; -vv also ssh's own (-v)`;

/** The values of the connection flags. */
export type ConnValues = {
  remote?: string | undefined;
  identity?: string | undefined;
  port?: string | undefined;
  "ssh-config"?: string | undefined;
  config?: string | undefined;
  approve?: boolean | undefined;
  sandbox?: boolean | undefined;
  "ask-pass"?: boolean | undefined;
  become?: string | undefined;
  "become-method"?: string | undefined;
  "ask-become-pass"?: boolean | undefined;
  json?: boolean | undefined;
  jump?: string[] | undefined;
  option?: string[] | undefined;
  "known-hosts"?: string | undefined;
  "strict-host-key"?: boolean | undefined;
  "connect-timeout"?: string | undefined;
  "no-session"?: boolean | undefined;
  persist?: string | undefined;
  verbose?: boolean[] | undefined;
};

/** Parses a whole number flag; throws {@linkcode UsageError}. */
export function intFlag(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`Invalid --${name} "${value}": expected a whole number ${min}-${max}`);
  }
  return Number(value);
}

/** Parses a seconds flag (fractions allowed); throws {@linkcode UsageError}. */
export function secondsFlag(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`Invalid --${name} "${value}": expected a positive number of seconds`);
  }
  return n;
}

/** A logger that prints `yonder: debug: +<ms since start> …` lines when verbose. */
export function debugLogger(io: Io, level: number): Logger {
  if (level === 0) return () => {};
  return (line) => {
    say(io, `yonder: debug: +${performance.now().toFixed(1)}ms ${line}`);
  };
}

/**
 * Checks the values of the connection flags before anything else, so `put -p a b` says the port
 * is bad rather than that LOCAL and REMOTE are missing.
 */
export function checkConnectionFlags(v: ConnValues): void {
  if (v.persist !== undefined) parseDuration(v.persist);
  if (v.port !== undefined) intFlag("port", v.port, 1, 65535);
  if (v["connect-timeout"] !== undefined) secondsFlag("connect-timeout", v["connect-timeout"]);
}

/** Exec defaults a config gives the command (flags win). */
export interface ExecDefaults {
  /** Timeout, seconds. */
  timeout?: number;
  /** Most bytes kept of each stream. */
  maxOutput?: number;
}

/** How a command opens its environment. */
export interface OpenExtra {
  /** One command: let it carry the connection. */
  oneShot?: boolean;
  /**
   * yonder's own fixed probes (`check`): the config's policy and path roots do not apply (the
   * audit log still does). Nothing the caller names runs this way.
   */
  ownProbes?: boolean;
  /**
   * Asks whether a command the policy sends for approval may run (the MCP server's elicitation or
   * out-of-band approval), instead of `--approve` and the terminal.
   */
  approver?: (req: PolicyRequest, verdict: Verdict, host: string) => Promise<boolean | string>;
}

/** Opens the environment the flags select: SSH when a target is given, else local. */
export async function openEnvironment(
  io: Io,
  v: ConnValues,
  extra: OpenExtra = {},
): Promise<Environment> {
  return (await openTarget(io, v, extra)).env;
}

/**
 * Opens the environment the flags (and the config, when there is one) select, fenced by the
 * config's policy and audit log; returns it with the config's exec defaults.
 */
export async function openTarget(
  io: Io,
  v: ConnValues,
  extra: OpenExtra = {},
): Promise<{ env: Environment; defaults: ExecDefaults }> {
  io.signal?.throwIfAborted();
  const remote = v.remote ?? io.env("YONDER_REMOTE");
  // The config code (YAML, schema) loads only when there is a config to read.
  const { findConfig } = await import("../config/find.ts");
  const file = await findConfig({ flag: v.config, env: io.env });
  if (file !== null || remote?.startsWith("@") || v.sandbox) {
    const { openConfigured } = await import("./_config.ts");
    return await openConfigured(io, v, extra, file);
  }
  return { env: await openPlain(io, v, remote, {}, extra), defaults: {} };
}

/** Connection settings a config gives a host (the flags win over them). */
export type ConfigSettings = Omit<Settings, "timeout" | "maxOutput" | "sandbox">;

/** Opens `target` (local when empty) with the config's `base` settings under the flags. */
export async function openPlain(
  io: Io,
  v: ConnValues,
  target: string | undefined | null,
  base: ConfigSettings,
  extra: { oneShot?: boolean } = {},
): Promise<Environment> {
  const level = v.verbose?.length ?? 0;
  const logger = debugLogger(io, level);
  if (target === undefined || target === null || target === "") {
    logger("no target: running locally");
    return new LocalEnvironment({ logger });
  }
  const options: SshEnvironmentOptions = { logger, ...connectOptions(v, base) };
  if (level >= 2) options.sshVerbose = true;
  if (v["no-session"]) options.session = false;
  else if (base.session !== undefined) options.session = base.session;
  const persist = v.persist ?? io.env("YONDER_PERSIST");
  if (persist !== undefined) {
    options.persist = parseDuration(
      persist,
      v.persist !== undefined ? "--persist" : "YONDER_PERSIST",
    );
  } else if (base.persist !== undefined && base.persist !== false) {
    options.persist = Math.ceil(base.persist);
  }
  if (extra.oneShot) options.oneShot = true;
  if (io.signal) options.signal = io.signal;
  const become = becomeFrom(v, base);
  if (become) options.become = await withBecomePassword(io, v, become, base.becomePasswordEnv);
  if (v["ask-pass"] || base.interactive) {
    const tty = v.json ? null : await terminalPath();
    if (tty !== null) options.askPassTty = tty;
    else logger("--ask-pass: no terminal (or --json): ssh will not ask (BatchMode=yes)");
  }
  return await SshEnvironment.open(target, options);
}

/** The become the flags ask for (they win over the config's). */
function becomeFrom(v: ConnValues, base: ConfigSettings): Become | null {
  const method = v["become-method"];
  if (method !== undefined && method !== "sudo" && method !== "doas") {
    throw new UsageError(`Invalid --become-method "${method}": expected sudo or doas`);
  }
  if (v.become === undefined) {
    if (!base.become) return null;
    return method ? { ...base.become, method } : base.become;
  }
  const user = v.become === "" ? undefined : v.become;
  if (user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) {
    throw new UsageError(`Invalid --become "${user}": expected a user name`);
  }
  return { method: method ?? base.become?.method ?? "sudo", ...(user ? { user } : {}) };
}

/** `become` with its password, when one is to be had: asked on the terminal, or from the env. */
async function withBecomePassword(
  io: Io,
  v: ConnValues,
  become: Become,
  passwordEnv: string | undefined,
): Promise<Become> {
  if (v["ask-become-pass"]) {
    const password = await askHidden(`[yonder] sudo password for the login user: `);
    if (password === null) {
      throw new UsageError("--ask-become-pass needs a terminal to ask on", {
        hint: "Set YONDER_BECOME_PASSWORD (or the config's password_env) instead",
      });
    }
    return { ...become, password };
  }
  const fromEnv = io.env(passwordEnv ?? "YONDER_BECOME_PASSWORD");
  return fromEnv !== undefined && fromEnv !== "" ? { ...become, password: fromEnv } : become;
}

/**
 * Reads a line from the terminal with echo off (through sh and stty on /dev/tty: the answer comes
 * back on a pipe); null without a terminal.
 */
async function askHidden(prompt: string): Promise<string | null> {
  try {
    if (!Deno.stdin.isTerminal() && !Deno.stderr.isTerminal()) return null;
    const script =
      `[ -r /dev/tty ] || exit 3; printf '%s' "$1" >/dev/tty; s=$(stty -g </dev/tty); ` +
      `stty -echo </dev/tty; IFS= read -r p </dev/tty; r=$?; stty "$s" </dev/tty; ` +
      `printf '\n' >/dev/tty; [ $r -eq 0 ] && printf '%s' "$p"`;
    const out = await new Deno.Command("sh", {
      args: ["-c", script, "sh", prompt],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.code === 0 ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/**
 * The terminal device of this process (stdin and stderr both a terminal), for ssh to ask on;
 * null otherwise.
 */
async function terminalPath(): Promise<string | null> {
  try {
    if (!Deno.stdin.isTerminal() || !Deno.stderr.isTerminal()) return null;
  } catch {
    return null;
  }
  try {
    const p = Deno.readLinkSync("/proc/self/fd/0");
    if (p.startsWith("/dev/")) return p;
  } catch {
    // No /proc: ask tty(1).
  }
  try {
    const out = await new Deno.Command("tty", { stdin: "inherit", stdout: "piped", stderr: "null" })
      .output();
    const t = new TextDecoder().decode(out.stdout).trim();
    return out.code === 0 && t.startsWith("/dev/") ? t : null;
  } catch {
    return null;
  }
}

/** How to reach the host: the flags, else the config's settings. */
function connectOptions(v: ConnValues, base: ConfigSettings): SshEnvironmentOptions {
  const options: SshEnvironmentOptions = {};
  const identity = v.identity ?? base.identityFile;
  if (identity !== undefined) options.identityFile = identity;
  if (v.port !== undefined) options.port = intFlag("port", v.port, 1, 65535);
  const sshConfig = v["ssh-config"] ?? base.sshConfig;
  if (sshConfig !== undefined) options.configFile = sshConfig;
  const jump = v.jump ?? base.jump;
  if (jump !== undefined) options.jump = jump;
  const sshOptions = [...(base.sshOptions ?? []), ...(v.option ?? [])];
  if (sshOptions.length > 0) options.options = sshOptions;
  const knownHosts = v["known-hosts"] ?? base.knownHosts;
  if (knownHosts !== undefined) options.knownHostsFile = knownHosts;
  if (v["strict-host-key"] || base.strictHostKey) options.hostKeyPolicy = "strict";
  if (v["connect-timeout"] !== undefined) {
    options.connectTimeout = Math.ceil(secondsFlag("connect-timeout", v["connect-timeout"]));
  } else if (base.connectTimeout !== undefined) {
    options.connectTimeout = Math.max(1, Math.ceil(base.connectTimeout));
  }
  return options;
}

/** The exit code for an error: 255 connection, 77 refused by policy, 2 usage, 1 anything else. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof SshConnectError || e instanceof SshConnectionLost) return EXIT.connection;
  if (e instanceof PolicyRefused) return EXIT.policy;
  // A working directory that cannot be entered is a bad argument, not the command's failure.
  if (e instanceof UsageError || (e instanceof FileError && e.role === "cwd")) return EXIT.usage;
  return EXIT.failure;
}

/** What kind of error `e` is, for `--json` output. */
export function errorKind(e: unknown): string {
  if (e instanceof SshConnectError) return e.kind;
  if (e instanceof SshConnectionLost) return "connection_lost";
  if (e instanceof UsageError && e.name === "ConfigError") return "config";
  if (e instanceof UsageError && e.name === "SandboxError") return "sandbox";
  if (e instanceof UsageError && e.name === "BecomeError") {
    return `become_${(e as { kind?: string }).kind}`;
  }
  if (e instanceof UsageError) return "usage";
  if (e instanceof PolicyRefused) return "refused";
  if (e instanceof NotFound) return "not_found";
  if (e instanceof FileError) return "file";
  return e instanceof YonderError ? "error" : "internal";
}

/** The `--json` object of a failure: the target, the exit code and what went wrong. */
export function errorJson(target: string, e: unknown): Record<string, unknown> {
  return {
    target,
    code: exitCodeFor(e),
    error: {
      kind: errorKind(e),
      message: e instanceof Error ? e.message : String(e),
      hint: e instanceof YonderError ? e.hint ?? null : null,
    },
  };
}

/**
 * Prints an error the GUIDE's way (`yonder: <what>: <detail>` plus `hint:`) and returns the exit
 * code for it.
 */
export async function reportError(io: Io, e: unknown): Promise<number> {
  if (e instanceof YonderError) {
    let line: string;
    if (e instanceof FileError && e.role === "cwd") line = `yonder: cwd: ${e.message}`;
    else if (e instanceof NotFound) {
      const where = e.where === "local" ? " (local)" : e.where ? ` on ${e.where}` : "";
      line = `yonder: ${e.path}: not found${where}`;
    } else if (e instanceof FileError) line = `yonder: ${e.path}: ${e.message}`;
    else if (e instanceof SshConnectError) line = `yonder: ${e.kind}: ${e.message}`;
    else if (e instanceof SshConnectionLost) line = `yonder: connection lost: ${e.message}`;
    else if (e instanceof PolicyRefused) line = `yonder: ${e.message}`;
    else if (e.name === "ConfigError") line = `yonder: config: ${e.message}`;
    else if (e.name === "SandboxError") line = `yonder: sandbox: ${e.message}`;
    else if (e.name === "BecomeError") line = `yonder: become: ${e.message}`;
    else if (e instanceof UsageError) line = `yonder: usage: ${e.message}`;
    else line = `yonder: error: ${e.message}`;
    await say(io, line);
    if (e instanceof SshConnectError && e.stderrTail) {
      // ssh's own lines mostly start with "ssh: " already.
      const lines = e.stderrTail.split("\n").map((l) =>
        `  ${l.startsWith("ssh: ") ? l : `ssh: ${l}`}`
      );
      await say(io, lines.join("\n"));
    }
    if (e.hint) await say(io, `hint: ${e.hint}`);
    return exitCodeFor(e);
  }
  const message = e instanceof Error ? e.message : String(e);
  await say(io, `yonder: internal error: ${message}`);
  return EXIT.failure;
}

/** Splits argv at the first `--`: flags before it, the command after it. */
export function splitDashDash(argv: readonly string[]): { flags: string[]; rest: string[] | null } {
  const i = argv.indexOf("--");
  if (i < 0) return { flags: [...argv], rest: null };
  return { flags: argv.slice(0, i), rest: argv.slice(i + 1) };
}
