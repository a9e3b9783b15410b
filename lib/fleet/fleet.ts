/**
 * Fan-out: one command (or any task) on many hosts, at most `forks` at once, in waves when asked,
 * stopping new starts after too many failures, with per-host events as they happen: whole output
 * lines while commands run, then each host's end.
 *
 * @module
 */

import type { Environment, ExecOptions, ExecResult } from "../core/environment.ts";
import { SshConnectError, UsageError } from "../core/errors.ts";
import { Semaphore } from "../util/async.ts";

/** One host's line of output (without its newline; `partial` when the stream ended without one). */
export interface LineEvent {
  /** Always `"line"`. */
  kind: "line";
  /** The host it came from. */
  host: string;
  /** The stream it came on. */
  stream: "stdout" | "stderr";
  /** The line's bytes, without the newline. */
  line: Uint8Array;
  /** True for a last line that had no newline. */
  partial: boolean;
}

/** A host whose command ended (any exit code, a timeout included). */
export interface DoneEvent {
  /** Always `"done"`. */
  kind: "done";
  /** The host. */
  host: string;
  /** Its result (output captured only as `maxOutputBytes` allows). */
  result: ExecResult;
}

/** A host that failed before or instead of a result: unreachable, refused, an error. */
export interface ErrorEvent {
  /** Always `"error"`. */
  kind: "error";
  /** The host. */
  host: string;
  /** What went wrong. */
  error: unknown;
  /** True when the host could not be reached or logged in to. */
  unreachable: boolean;
}

/** A host never started: too many failed first (`max-fail`), or the run was stopped. */
export interface SkippedEvent {
  /** Always `"skipped"`. */
  kind: "skipped";
  /** The host. */
  host: string;
  /** Why it was not started. */
  reason: "max-fail" | "interrupted";
}

/** What a fan-out reports, host by host, as it happens. */
export type FleetEvent = LineEvent | DoneEvent | ErrorEvent | SkippedEvent;

/** How a fan-out runs. */
export interface FanOutOptions {
  /** Hosts at work at once (default {@linkcode DEFAULT_FORKS}). */
  forks?: number;
  /** Waves of this many hosts: a wave starts once the one before it ended. */
  batch?: number;
  /**
   * Stop starting hosts once more than this many failed (a number), or more than this share of
   * all hosts (`"10%"`). A failure: an error, a non-zero exit, a timeout.
   */
  maxFail?: number | string;
  /** Stops the run: running commands are killed, hosts not started are skipped. */
  signal?: AbortSignal;
}

/** Options of {@linkcode Fleet.exec}: the exec options and how the fan-out runs. */
export interface FleetExecOptions
  extends FanOutOptions, Omit<ExecOptions, "signal" | "stdin" | "stdinFile" | "stdoutFile"> {
  /** Send each whole line as a {@linkcode LineEvent} (default true). */
  lines?: boolean;
  /** Options of one host's call on top of these (its own output callbacks, say). */
  optionsFor?: (host: string) => Partial<ExecOptions> | Promise<Partial<ExecOptions>>;
}

/**
 * Hosts at work at once unless told: pssh's and pdsh's default. A shared jump host's sshd starts
 * refusing unauthenticated connections at random beyond `MaxStartups` (10 by default): lower it
 * (`forks: 10`) behind one.
 */
export const DEFAULT_FORKS = 32;

/** Opens one host. */
export type HostOpener = (host: string, signal: AbortSignal | undefined) => Promise<Environment>;

/** The failure limit as a count of hosts. */
function failLimit(maxFail: number | string | undefined, hosts: number): number {
  if (maxFail === undefined) return Number.POSITIVE_INFINITY;
  if (typeof maxFail === "number") {
    if (!Number.isInteger(maxFail) || maxFail < 0) {
      throw new UsageError(`max-fail ${maxFail}: expected a count of hosts or a share like 10%`);
    }
    return maxFail;
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(maxFail.trim());
  if (m) return Math.floor((Number(m[1]) / 100) * hosts);
  if (/^\d+$/.test(maxFail.trim())) return Number(maxFail);
  throw new UsageError(`max-fail "${maxFail}": expected a count of hosts or a share like 10%`);
}

/** Splits a stream into whole lines, sent as events. */
class LineSplitter {
  #rest = new Uint8Array(0);
  constructor(
    private readonly emit: (line: Uint8Array, partial: boolean) => void,
  ) {}

  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#rest.length > 0) {
      data = new Uint8Array(this.#rest.length + chunk.length);
      data.set(this.#rest);
      data.set(chunk, this.#rest.length);
    }
    let start = 0;
    for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, start)) {
      this.emit(data.slice(start, i), false);
      start = i + 1;
    }
    this.#rest = data.slice(start);
  }

  end(): void {
    if (this.#rest.length > 0) this.emit(this.#rest, true);
    this.#rest = new Uint8Array(0);
  }
}

/**
 * An async queue of events a consumer pulls while producers push; past `limit` unread events a
 * producer may wait for {@linkcode room} (the consumer's pace then holds the commands back).
 */
class EventQueue<T> {
  #items: T[] = [];
  #head = 0;
  #wake: (() => void) | null = null;
  #roomWaiters: (() => void)[] = [];
  #closed = false;

  constructor(private readonly limit = 4096) {}

  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }

  /** Resolves once the consumer has read the queue down to half its limit; undefined if it has. */
  room(): Promise<void> | undefined {
    if (this.#items.length - this.#head <= this.limit) return undefined;
    return new Promise((r) => this.#roomWaiters.push(r));
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  async *drain(): AsyncGenerator<T> {
    while (true) {
      while (this.#head < this.#items.length) {
        const item = this.#items[this.#head++]!;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        if (this.#roomWaiters.length > 0 && this.#items.length - this.#head <= this.limit / 2) {
          for (const w of this.#roomWaiters.splice(0)) w();
        }
        yield item;
      }
      for (const w of this.#roomWaiters.splice(0)) w();
      if (this.#closed) return;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = null;
    }
  }
}

/**
 * Many hosts, each opened once (on first use, under the fork bound) and kept for later fan-outs.
 *
 * @example
 * ```ts
 * import { Fleet, SshEnvironment } from "../../mod.ts";
 * await using fleet = new Fleet(["web1", "web2", "web3"], (host) => SshEnvironment.open(host));
 * for await (const e of fleet.exec(["uname", "-r"], { forks: 10 })) {
 *   if (e.kind === "line") console.log(`${e.host}: ${new TextDecoder().decode(e.line)}`);
 *   if (e.kind === "done") console.log(`${e.host}: exit ${e.result.code}`);
 *   if (e.kind === "error") console.log(`${e.host}: ${e.error}`);
 * }
 * ```
 */
export class Fleet implements AsyncDisposable {
  /** The hosts, in the order they start. */
  readonly hosts: readonly string[];
  readonly #open: HostOpener;
  readonly #envs = new Map<string, Promise<Environment>>();

  /** A fleet of `hosts`, each opened with `open` when first needed. */
  constructor(hosts: readonly string[], open: HostOpener) {
    if (hosts.length === 0) throw new UsageError("A fleet needs at least one host");
    this.hosts = [...hosts];
    this.#open = open;
  }

  /** The environment of `host` (opened once; a failed open is tried again next time). */
  env(host: string, signal?: AbortSignal): Promise<Environment> {
    let p = this.#envs.get(host);
    if (!p) {
      p = this.#open(host, signal);
      this.#envs.set(host, p);
      p.catch(() => this.#envs.delete(host));
    }
    return p;
  }

  /**
   * Runs `task` on every host under the options' bounds; yields each host's outcome as it ends
   * (`value`, or `error` with `unreachable`), and `skipped` for hosts never started. `failed`
   * tells whether a value counts as a failure (for `maxFail`).
   */
  async *run<T>(
    task: (env: Environment, host: string) => Promise<T>,
    o: FanOutOptions & { failed?: (value: T) => boolean } = {},
  ): AsyncGenerator<
    | { host: string; value: T }
    | { host: string; error: unknown; unreachable: boolean }
    | SkippedEvent
  > {
    type Out =
      | { host: string; value: T }
      | { host: string; error: unknown; unreachable: boolean }
      | SkippedEvent;
    const queue = new EventQueue<Out>();
    const driver = this.#drive(task, o, (e) => queue.push(e)).finally(() => queue.close());
    try {
      yield* queue.drain();
    } finally {
      await driver;
    }
  }

  /** Starts the hosts in waves under the fork bound; reports each end to `report`. */
  async #drive<T>(
    task: (env: Environment, host: string) => Promise<T>,
    o: FanOutOptions & { failed?: (value: T) => boolean },
    report: (
      e:
        | { host: string; value: T }
        | { host: string; error: unknown; unreachable: boolean }
        | SkippedEvent,
    ) => void,
  ): Promise<void> {
    const forks = o.forks ?? DEFAULT_FORKS;
    if (!Number.isInteger(forks) || forks < 1) {
      throw new UsageError(`forks ${forks}: expected 1 or more`);
    }
    const limit = failLimit(o.maxFail, this.hosts.length);
    const batch = o.batch ?? this.hosts.length;
    if (!Number.isInteger(batch) || batch < 1) {
      throw new UsageError(`batch ${batch}: expected 1 or more`);
    }
    const slots = new Semaphore(forks);
    let failures = 0;
    const stopped = () => o.signal?.aborted ? "interrupted" : failures > limit ? "max-fail" : null;
    for (let start = 0; start < this.hosts.length; start += batch) {
      const wave = this.hosts.slice(start, start + batch);
      await Promise.all(wave.map(async (host) => {
        const release = await slots.acquire();
        try {
          const why = stopped();
          if (why) return report({ kind: "skipped", host, reason: why });
          try {
            const value = await task(await this.env(host, o.signal), host);
            if (o.failed?.(value)) failures++;
            report({ host, value });
          } catch (error) {
            failures++;
            report({ host, error, unreachable: error instanceof SshConnectError });
          }
        } finally {
          release();
        }
      }));
    }
  }

  /**
   * Runs `command` on every host; yields whole output lines as they come (per host, never
   * mixed mid-line) and each host's end.
   */
  async *exec(
    command: readonly string[] | string,
    o: FleetExecOptions = {},
  ): AsyncGenerator<FleetEvent> {
    const { forks, batch, maxFail, signal, lines = true, optionsFor, ...execOpts } = o;
    const queue = new EventQueue<FleetEvent>();
    const task = async (env: Environment, host: string): Promise<ExecResult> => {
      const own = (await optionsFor?.(host)) ?? {};
      const split = (stream: "stdout" | "stderr") =>
        new LineSplitter((line, partial) =>
          queue.push({ kind: "line", host, stream, line, partial })
        );
      const out = lines ? split("stdout") : null;
      const err = lines ? split("stderr") : null;
      const both = (
        a: ExecOptions["onStdout"],
        b: ExecOptions["onStdout"],
        s: LineSplitter | null,
      ) =>
        a || b || s
          ? (c: Uint8Array) => {
            s?.push(c);
            // Lines wait for the reader of the events: a slow one holds the commands back,
            // never the memory.
            const waits = [a?.(c), b?.(c), s ? queue.room() : undefined]
              .filter((x) => x instanceof Promise);
            return waits.length > 0 ? Promise.all(waits) : undefined;
          }
          : undefined;
      const onStdout = both(execOpts.onStdout, own.onStdout, out);
      const onStderr = both(execOpts.onStderr, own.onStderr, err);
      const r = await env.exec(command, {
        ...execOpts,
        ...own,
        ...(signal ? { signal } : {}),
        ...(onStdout ? { onStdout } : {}),
        ...(onStderr ? { onStderr } : {}),
      });
      out?.end();
      err?.end();
      return r;
    };
    const driver = (async () => {
      const runs = this.run(task, {
        ...(forks !== undefined ? { forks } : {}),
        ...(batch !== undefined ? { batch } : {}),
        ...(maxFail !== undefined ? { maxFail } : {}),
        ...(signal ? { signal } : {}),
        failed: (r) => r.code !== 0,
      });
      for await (const e of runs) {
        if ("kind" in e) queue.push(e);
        else if ("value" in e) queue.push({ kind: "done", host: e.host, result: e.value });
        else {queue.push({
            kind: "error",
            host: e.host,
            error: e.error,
            unreachable: e.unreachable,
          });}
      }
    })().finally(() => queue.close());
    try {
      yield* queue.drain();
    } finally {
      await driver;
    }
  }

  /** Closes every host opened. */
  async close(): Promise<void> {
    const all = [...this.#envs.values()];
    this.#envs.clear();
    await Promise.all(all.map(async (p) => {
      try {
        await (await p).close();
      } catch {
        // An environment that never opened has nothing to close.
      }
    }));
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
