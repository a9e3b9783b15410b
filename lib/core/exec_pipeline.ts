/**
 * The steps every exec path shares, written once: the prologue (argv checks, the environment
 * filter and its log), a call's output (capped buffers, the caller's callbacks guarded, and the
 * backpressure a callback asks for), and the result builder. Backends differ only in how they
 * start the command and learn how it ended.
 *
 * @module
 */

import type { ExecOptions, ExecResult, Logger } from "./environment.ts";
import { filterEnv } from "./env_filter.ts";
import { CommandFailed, UsageError } from "./errors.ts";
import { type CallbackGuard, guardCallbacks } from "./kill_path.ts";
import { shellJoin } from "./quote.ts";
import { OutputSink } from "../util/output.ts";

/** What the prologue hands on: when the call began and the environment that may be sent. */
export interface Prologue {
  /** `performance.now()` when the call began. */
  started: number;
  /** The variables to set (sensitive names dropped unless allowed). */
  env: Record<string, string>;
}

/**
 * Checks a command before anything runs and filters its environment: an empty argv and a NUL byte
 * are usage errors; each dropped variable name is logged once.
 */
export function prologue(
  command: readonly string[] | string,
  opts: Pick<ExecOptions, "env" | "allowEnv">,
  log: Logger,
): Prologue {
  const started = performance.now();
  if (typeof command !== "string") {
    if (command.length === 0) {
      throw new UsageError("Empty command: give a program and its arguments");
    }
    shellJoin(command); // Refuses NUL bytes.
  }
  const { env, dropped } = filterEnv(opts.env, opts.allowEnv);
  for (const name of dropped) {
    log(`env ${name} not sent: the name looks sensitive (allow it with allowEnv)`);
  }
  return { started, env };
}

/**
 * The output of one call: each stream kept up to `maxOutputBytes` and handed to the caller's
 * callback (guarded: a throw stops the command, see {@linkcode guardCallbacks}). A callback that
 * returns a promise pauses the reading of its stream until it settles; the reader asks for that
 * wait with {@linkcode CallOutput.backpressure}.
 */
export class CallOutput {
  /** Kept stdout. */
  readonly stdout: OutputSink;
  /** Kept stderr. */
  readonly stderr: OutputSink;
  /** The guarded callbacks. */
  readonly guard: CallbackGuard;
  #outWait: Promise<void> | undefined;
  #errWait: Promise<void> | undefined;
  /** Every promise a callback returned that has not settled yet. */
  #pending = new Set<Promise<void>>();
  #released: Promise<void> | undefined;
  #release: (() => void) | undefined;
  #free = false;

  constructor(opts: ExecOptions) {
    const cap = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    this.stdout = new OutputSink(cap);
    this.stderr = new OutputSink(cap);
    this.guard = guardCallbacks(opts);
  }

  #track(wait: Promise<void>): Promise<void> {
    this.#pending.add(wait);
    wait.finally(() => {
      this.#pending.delete(wait);
      this.#lastSettled = performance.now();
    });
    return wait;
  }

  #lastSettled = Number.NEGATIVE_INFINITY;

  /** Takes a chunk of the command's stdout. */
  out(chunk: Uint8Array): void {
    this.stdout.push(chunk);
    const wait = this.guard.onStdout?.(chunk);
    if (wait) this.#outWait = this.#track(wait);
  }

  /** Takes a chunk of the command's stderr. */
  err(chunk: Uint8Array): void {
    this.stderr.push(chunk);
    const wait = this.guard.onStderr?.(chunk);
    if (wait) this.#errWait = this.#track(wait);
  }

  /** Resolves on {@linkcode release}. */
  #whenReleased(): Promise<void> {
    return this.#released ??= new Promise<void>((r) => (this.#release = r));
  }

  /**
   * What the reader of `stream` should wait for before it reads on (once), if anything. Ends
   * early on {@linkcode release}.
   */
  backpressure(stream: "out" | "err"): Promise<void> | undefined {
    const wait = stream === "out" ? this.#outWait : this.#errWait;
    if (stream === "out") this.#outWait = undefined;
    else this.#errWait = undefined;
    if (!wait || this.#free) return undefined;
    return Promise.race([wait, this.#whenReleased()]);
  }

  /**
   * True while a callback's promise holds a reader back, or one did within the last `ms`: the
   * caller is behind, not the pipes.
   */
  heldBack(ms: number): boolean {
    if (this.#free) return false;
    return this.#pending.size > 0 || performance.now() - this.#lastSettled < ms;
  }

  /** Resolves once no callback's promise is pending (or on release). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0 && !this.#free) {
      await Promise.race([Promise.allSettled([...this.#pending]), this.#whenReleased()]);
    }
  }

  /**
   * Stops honouring backpressure: the command is being stopped and its last output must drain
   * whether the caller reads it or not.
   */
  release(): void {
    this.#free = true;
    this.#release?.();
  }

  /**
   * Tells the caller the command started (`onStart`), with `send` delivering a signal to its
   * process group; once the call has ended (`over` aborted) sending does nothing.
   */
  started(
    opts: ExecOptions,
    send: (signal: Deno.Signal) => Promise<void>,
    over: AbortSignal,
  ): void {
    const onStart = opts.onStart;
    if (!onStart) return;
    this.guard.run(() =>
      onStart({
        signal: async (signal) => {
          if (!over.aborted) await send(signal);
        },
      })
    );
  }

  /**
   * Ends the call's output: waits until the promises the callbacks returned have settled (the
   * kill path's release cuts the wait short), then throws the first error a callback threw.
   */
  async finish(): Promise<void> {
    await this.settled();
    this.guard.rethrow();
  }

  /** The call's result with this output. */
  result(started: number, code: number, signal: Deno.Signal | null, timedOut: boolean): ExecResult {
    return callResult(started, code, signal, timedOut, this.stdout, this.stderr);
  }
}

const EMPTY = new OutputSink(0);

/** The one result builder: status, kept output and the call's wall time. */
export function callResult(
  started: number,
  code: number,
  signal: Deno.Signal | null,
  timedOut: boolean,
  stdout: OutputSink = EMPTY,
  stderr: OutputSink = EMPTY,
): ExecResult {
  return {
    code,
    signal,
    stdout: stdout.bytes(),
    stderr: stderr.bytes(),
    timedOut,
    truncated: stdout.truncated || stderr.truncated,
    durationMs: performance.now() - started,
  };
}

/** The result, or (with `check`) a {@linkcode CommandFailed} when the command did not exit 0. */
export function checked(
  command: readonly string[] | string,
  result: ExecResult,
  check: boolean | undefined,
  where: string,
): ExecResult {
  if (check && result.code !== 0) throw new CommandFailed(command, result, where);
  return result;
}
