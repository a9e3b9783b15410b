/**
 * The contract every backend implements: {@linkcode SshEnvironment} and
 * {@linkcode LocalEnvironment} behave the same way for the same calls, and one contract test suite
 * runs against both.
 *
 * @module
 */

import type { FileOps } from "./files.ts";
import type { TreeOps } from "./tree_types.ts";

/**
 * Privilege for a command on the host: `sudo -n -H -u USER` or `doas -n -u USER` (never asks
 * for a password; a rule that needs one is a `BecomeError` of kind `password_required`).
 *
 * @example
 * ```ts
 * import { SshEnvironment, type Become } from "../../mod.ts";
 * const root: Become = { method: "sudo" };
 * await using env = await SshEnvironment.open("deploy@build-box", { become: root });
 * await env.exec(["systemctl", "restart", "app"]);
 * ```
 */
export interface Become {
  /** `sudo` (default rules in sudoers) or `doas` (doas.conf). */
  readonly method: "sudo" | "doas";
  /** The user to become; default root. */
  readonly user?: string;
  /**
   * sudo's password for the login user (sudo only). It goes to sudo's stdin once sudo asked (a
   * prompt with the call's nonce), never into an argument, the environment, a file or a log;
   * without one, `sudo -n` fails at once where a password would be needed.
   */
  readonly password?: string;
}

/**
 * Options of {@linkcode Environment.exec}.
 *
 * @example
 * ```ts
 * import { type ExecOptions, SshEnvironment } from "../../mod.ts";
 * const options: ExecOptions = {
 *   cwd: "/srv/app",
 *   env: { CI: "1" },
 *   timeoutMs: 10 * 60_000,
 *   maxOutputBytes: 1 << 20,
 *   onStderr: (chunk) => Deno.stderr.write(chunk),
 * };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const r = await env.exec(["make", "test"], options);
 * if (r.timedOut) console.error("make test ran over 10 minutes and was stopped");
 * ```
 */
export interface ExecOptions {
  /**
   * Run as another user (root by default) through `sudo -n` or `doas -n` on the host, for this
   * call; `null` turns an environment's `become` off for it. Remote environments only.
   */
  become?: Become | null;
  /** Working directory; a missing one is a `NotFound` error and the command does not run. */
  cwd?: string;
  /** Environment variables to set; names that look sensitive are dropped unless in `allowEnv`. */
  env?: Record<string, string>;
  /** Sensitive names that may be sent anyway. */
  allowEnv?: string[];
  /** Bytes (or text) for the command's stdin; without it stdin is empty (`/dev/null`). */
  stdin?: Uint8Array | string | ReadableStream<Uint8Array>;
  /**
   * A local file to use as the command's stdin instead of `stdin` (read in large chunks; a local
   * command gets the file itself).
   */
  stdinFile?: string;
  /**
   * A local file that receives the command's stdout directly (created or truncated); the result's
   * `stdout` is then empty and `onStdout` is not called.
   */
  stdoutFile?: string;
  /**
   * Called with each chunk of stdout as it arrives. A returned `Promise` pauses the reading of
   * stdout until it settles (backpressure: the remote command blocks once the pipes fill), and
   * the call resolves only once every such promise has settled (a timeout or an abort cuts that
   * wait short); a throw or a rejection stops the command and the call rejects with that error.
   */
  onStdout?: (chunk: Uint8Array) => unknown;
  /** Called with each chunk of stderr as it arrives; like `onStdout`. */
  onStderr?: (chunk: Uint8Array) => unknown;
  /** Keep at most this many bytes of each stream in the result (the rest is still drained). */
  maxOutputBytes?: number;
  /** Kill the command after this many milliseconds; the result then has `timedOut` and code 124. */
  timeoutMs?: number;
  /** Aborting kills the command the same way a timeout does; the result then has code 143. */
  signal?: AbortSignal;
  /**
   * Throw {@linkcode CommandFailed} (with the result) when the command does not exit 0, instead
   * of resolving to the result.
   */
  check?: boolean;
  /**
   * Called once the command has started, with a handle that sends signals to its whole process
   * group while it runs (`spawn`'s `kill(signal)` is built on it). A throw or a rejected promise
   * stops the command, and the call rejects with that error.
   */
  onStart?: (command: StartedCommand) => unknown;
}

/**
 * A command that has started: see {@linkcode ExecOptions.onStart}.
 *
 * @example
 * ```ts
 * import { LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * const r = await env.exec("trap 'exit 7' INT; while :; do sleep 0.1; done", {
 *   onStart: (command) => setTimeout(() => command.signal("SIGINT"), 200),
 * });
 * console.log(r.code); // 7: the command's own INT handler ran
 * ```
 */
export interface StartedCommand {
  /**
   * Sends `signal` to the command's process group (once; no escalation). Resolves when it was
   * sent; after the call ended it does nothing.
   */
  signal(signal: Deno.Signal): Promise<void>;
}

/**
 * What a command did. A non-zero `code` is not an error: the call resolves to the result unless
 * `check` is set.
 *
 * @example
 * ```ts
 * import { type ExecResult, LocalEnvironment } from "../../mod.ts";
 * function describe(r: ExecResult): string {
 *   if (r.timedOut) return `timed out after ${r.durationMs} ms`;
 *   if (r.signal) return `stopped by ${r.signal}`;
 *   return `exit ${r.code}${r.truncated ? " (output truncated)" : ""}`;
 * }
 * await using env = new LocalEnvironment();
 * const r = await env.exec(["uname", "-a"]);
 * console.log(describe(r), new TextDecoder().decode(r.stdout));
 * ```
 */
export interface ExecResult {
  /** Exit code: the command's own; 124 on timeout; 128+n when yonder stopped it with signal n. */
  code: number;
  /** The signal yonder stopped the command with, or that killed a local command; else null. */
  signal: Deno.Signal | null;
  /** Captured stdout (at most `maxOutputBytes`). */
  stdout: Uint8Array;
  /** Captured stderr (at most `maxOutputBytes`). */
  stderr: Uint8Array;
  /** True when the timeout stopped the command. */
  timedOut: boolean;
  /** True when output past `maxOutputBytes` was left out. */
  truncated: boolean;
  /** Wall time of the call in milliseconds. */
  durationMs: number;
  /**
   * Set by session-backed calls: true when the session shell ended during this call (the command
   * killed it, say); the next call runs in a new session (a stateful session loses its state).
   */
  sessionRestarted?: boolean;
}

/**
 * Options of `Environment.spawn`: those of exec, less the ones about collecting output.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, type SpawnOptions } from "../../mod.ts";
 * const options: SpawnOptions = { stdin: "piped", timeoutMs: 60_000, cwd: "/tmp" };
 * await using env = new LocalEnvironment();
 * await using child = env.spawn(["wc", "-c"], options);
 * await child.stdin.close();
 * console.log(await new Response(child.stdout).text());
 * ```
 */
export interface SpawnOptions extends
  Omit<
    ExecOptions,
    "stdin" | "stdinFile" | "stdoutFile" | "onStdout" | "onStderr" | "maxOutputBytes" | "check"
  > {
  /**
   * `"piped"`: the child's `stdin` is a WritableStream to write the command's input to (close
   * it to send EOF). `"null"` (the default): the command's stdin is empty, as with exec.
   */
  stdin?: "piped" | "null";
  /** Bytes each output stream may queue unread before the command is paused (256 KiB). */
  highWaterMark?: number;
}

/** How a spawned command ended: {@linkcode ExecResult} without the output (that was streamed). */
export type SpawnStatus = Omit<ExecResult, "stdout" | "stderr" | "truncated">;

/**
 * A running command.
 *
 * @example
 * ```ts
 * import { LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * await using child = env.spawn(["cat"], { stdin: "piped" });
 * const w = child.stdin.getWriter();
 * await w.write(new TextEncoder().encode("hello\n"));
 * await w.close();
 * const text = await new Response(child.stdout).text();
 * console.log(text, (await child.status).code);
 * ```
 */
export interface ChildProcess extends AsyncDisposable {
  /** The command's stdin (with `stdin: "piped"`; otherwise already closed). */
  readonly stdin: WritableStream<Uint8Array>;
  /** The command's stdout. Cancelling it stops the command. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** The command's stderr. Cancelling it stops the command. */
  readonly stderr: ReadableStream<Uint8Array>;
  /**
   * How the command ended. Rejects as exec would (a connection that could not be set up, a
   * working directory that does not exist). Output is never dropped: as with `Deno.Command`, read
   * (or cancel) stdout and stderr, or the status waits for a reader once the pipes are full (a
   * `timeoutMs` or `signal` still ends it).
   */
  readonly status: Promise<SpawnStatus>;
  /**
   * Without a signal, stops the command: its whole process group gets SIGTERM, then SIGKILL after
   * the grace period (the same kill path as a timeout or an abort; the status then has code 143).
   * With one (`"SIGINT"`, `"SIGUSR1"`, …), sends that signal to the group once, as soon as the
   * command has started, and lets it end its own way (the status then is the command's: 130 if
   * SIGINT ended it, or its own handler's code). Resolves when it was sent.
   */
  kill(signal?: Deno.Signal): Promise<void>;
}

/** A value that may be interpolated: one word, or (an array) one word per element. */
export type ShellValue = string | number | bigint | readonly (string | number | bigint)[];

/**
 * A command built with ``env.$`…` ``. Awaiting it runs it and resolves to its result, throwing
 * `CommandFailed` on a non-zero exit; `exec` takes options (and `check: false` to get the result
 * whatever the status); `text` resolves to stdout as text; `spawn` streams.
 *
 * @example
 * ```ts
 * import { LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * const dir = "/tmp";
 * const listing = await env.$`ls -1 ${dir}`.text();
 * const r = await env.$`test -d ${dir}`.exec({ check: false });
 * console.log(listing.length, r.code);
 * ```
 */
export interface ShellCommand extends PromiseLike<ExecResult> {
  /** The `sh -c` script the template built. */
  readonly script: string;
  /** Runs it; rejects with `CommandFailed` on a non-zero exit unless `check: false`. */
  exec(options?: ExecOptions): Promise<ExecResult>;
  /** Runs it and resolves to its stdout as UTF-8 text, without one trailing newline. */
  text(options?: ExecOptions): Promise<string>;
  /** Starts it as a streaming child. */
  spawn(options?: SpawnOptions): ChildProcess;
}

/**
 * A place to run commands: a remote host over OpenSSH, or this machine. Code written against
 * `Environment` runs on either.
 *
 * @example
 * ```ts
 * import { type Environment, LocalEnvironment, SshEnvironment } from "../../mod.ts";
 * async function diskFree(env: Environment, path: string): Promise<string> {
 *   const r = await env.exec(["df", "-h", path]);
 *   return new TextDecoder().decode(r.stdout);
 * }
 * const target = Deno.args[0]; // e.g. "deploy@build.example.com"; none: this machine
 * await using env: Environment = target
 *   ? await SshEnvironment.open(target)
 *   : new LocalEnvironment();
 * console.log(env.label, await diskFree(env, "/"));
 * ```
 */
export interface Environment extends AsyncDisposable, FileOps, TreeOps {
  /** Which backend this is. */
  readonly kind: "ssh" | "local";
  /** A label for messages: the target, or `local`. */
  readonly label: string;
  /**
   * Runs a command. An array is an argv (each word passed exactly, nothing expanded); a string is
   * a POSIX `sh -c` script.
   */
  exec(command: readonly string[] | string, options?: ExecOptions): Promise<ExecResult>;
  /**
   * Starts a command and returns at once: stdin, stdout and stderr as streams (a reader that
   * falls behind pauses the command: memory stays bounded), its status as a promise, `kill()`.
   * Runs where exec would; with `stdin: "piped"` on a stateless session environment it takes a
   * channel of its own, and a stateful session refuses it.
   */
  spawn(command: readonly string[] | string, options?: SpawnOptions): ChildProcess;
  /**
   * A command as a template: literal text is shell, every `${value}` one quoted word (arrays,
   * one word per element). Awaiting it runs it and throws `CommandFailed` on a non-zero exit.
   */
  $(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand;
  /** Releases everything the environment holds; calling it twice is fine. */
  close(): Promise<void>;
}

/**
 * A debug logger: receives one line per call.
 *
 * @example
 * ```ts
 * import { type Logger, SshEnvironment } from "../../mod.ts";
 * const logger: Logger = (line) => console.error(`${new Date().toISOString()} yonder: ${line}`);
 * await using env = await SshEnvironment.open("deploy@build.example.com", { logger });
 * await env.exec(["true"]); // logs how the call was routed
 * ```
 */
export type Logger = (line: string) => void;
