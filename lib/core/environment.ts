/**
 * The contract every backend implements: {@linkcode SshEnvironment} and
 * {@linkcode LocalEnvironment} behave the same way for the same calls, and one contract test suite
 * runs against both.
 *
 * @module
 */

import type { FileOps } from "./files.ts";
import type { TreeOps } from "./tree_types.ts";

/** Options of {@linkcode Environment.exec}. */
export interface ExecOptions {
  /** Working directory; a missing one is a `NotFound` error and the command does not run. */
  cwd?: string;
  /** Environment variables to set; names that look sensitive are dropped unless in `allowEnv`. */
  env?: Record<string, string>;
  /** Sensitive names that may be sent anyway. */
  allowEnv?: string[];
  /** Bytes (or text) for the command's stdin; without it stdin is empty (`/dev/null`). */
  stdin?: Uint8Array | string | ReadableStream<Uint8Array>;
  /**
   * A local file to use as the command's stdin instead of `stdin`; its bytes go to ssh directly,
   * without passing through this process.
   */
  stdinFile?: string;
  /**
   * A local file that receives the command's stdout directly (created or truncated); the result's
   * `stdout` is then empty and `onStdout` is not called.
   */
  stdoutFile?: string;
  /** Called with each chunk of stdout as it arrives. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Called with each chunk of stderr as it arrives. */
  onStderr?: (chunk: Uint8Array) => void;
  /** Keep at most this many bytes of each stream in the result (the rest is still drained). */
  maxOutputBytes?: number;
  /** Kill the command after this many milliseconds; the result then has `timedOut` and code 124. */
  timeoutMs?: number;
  /** Aborting kills the command the same way a timeout does; the result then has code 143. */
  signal?: AbortSignal;
}

/** What a command did. */
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

/** A place to run commands: a remote host over OpenSSH, or this machine. */
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
  /** Releases everything the environment holds; calling it twice is fine. */
  close(): Promise<void>;
}

/** A debug logger: receives one line per call. */
export type Logger = (line: string) => void;
