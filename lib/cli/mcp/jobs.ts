/**
 * Commands of the MCP server, each a job: its output kept head and tail within a budget, its end
 * awaited for a while by the call that started it and by `job_wait`, killed (the remote process
 * group) by `job_kill`, a cancelled call, or the server's end.
 *
 * @module
 */

import { UsageError } from "../../core/errors.ts";
import type { Environment, ExecOptions, ExecResult } from "../../core/environment.ts";
import { HeadTail, render, type Rendered } from "./output.ts";

/** How a job stands. */
export type JobStatus = "running" | "exited" | "timed_out" | "killed" | "failed";

/** What a job ran, for listings. */
export interface JobInfo {
  /** `j1`, `j2`, … */
  id: string;
  /** The host name it runs on. */
  host: string;
  /** The argv, or the script. */
  command: readonly string[] | string;
  /** When it started (ISO 8601). */
  started: string;
  /** How it stands. */
  status: JobStatus;
}

/** The end of a job, as an agent sees it. */
export interface JobOutcome {
  status: JobStatus;
  /** Why it failed before or instead of running (`failed`): `Name: message`, hint after. */
  error?: string;
  exit_code: number | null;
  signal: string | null;
  stdout: Rendered;
  stderr: Rendered;
  truncated: boolean;
  duration_ms: number;
}

/** Options of {@linkcode Jobs.start}. */
export interface StartOptions {
  /** Bytes kept per stream, half head and half tail. */
  maxOutput: number;
  /** Kill after this many milliseconds. */
  timeoutMs?: number;
  /** The exec options (cwd, env, stdin, become…). */
  exec: ExecOptions;
  /** Told of every chunk (for progress). */
  onChunk?: (stream: "stdout" | "stderr", chunk: Uint8Array) => void;
  /** The job's own abort (made by the caller, so it can hand its signal on before the start). */
  abort?: AbortController;
}

/** An error as one line of text and its hint. */
export function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; hint?: string };
  return `${err.name ?? "Error"}: ${err.message ?? String(e)}` +
    (err.hint ? `\nhint: ${err.hint}` : "");
}

/** One command. */
export class Job {
  readonly info: JobInfo;
  readonly stdout: HeadTail;
  readonly stderr: HeadTail;
  readonly #abort: AbortController;
  readonly #started = performance.now();
  #killed = false;
  #result: ExecResult | null = null;
  #error: unknown = null;
  /** Settles when the command ended (never rejects). */
  readonly done: Promise<void>;

  constructor(
    id: string,
    host: string,
    env: Environment,
    command: readonly string[] | string,
    o: StartOptions,
  ) {
    this.#abort = o.abort ?? new AbortController();
    const half = Math.max(1, Math.floor(o.maxOutput / 2));
    this.stdout = new HeadTail(half, o.maxOutput - half);
    this.stderr = new HeadTail(half, o.maxOutput - half);
    this.info = { id, host, command, started: new Date().toISOString(), status: "running" };
    const run = env.exec(command, {
      ...o.exec,
      // The output goes to the head/tail buffers only: the result keeps none of it.
      maxOutputBytes: 0,
      signal: this.#abort.signal,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      onStdout: (c) => {
        this.stdout.push(c);
        o.onChunk?.("stdout", c);
      },
      onStderr: (c) => {
        this.stderr.push(c);
        o.onChunk?.("stderr", c);
      },
    });
    this.done = run.then(
      (r) => {
        this.#result = r;
        this.info.status = r.timedOut ? "timed_out" : this.#killed ? "killed" : "exited";
      },
      (e) => {
        this.#error = e;
        this.info.status = this.#killed ? "killed" : "failed";
      },
    );
  }

  /** The error the call failed with (refused, unreachable…), once it ended that way. */
  get error(): unknown {
    return this.#error;
  }

  /** Kills the command (its remote process group); resolves once it ended. */
  async kill(): Promise<void> {
    if (this.info.status === "running") {
      this.#killed = true;
      this.#abort.abort(new DOMException("Killed", "AbortError"));
    }
    await this.done;
  }

  /** Waits up to `ms` for the end; true when it ended. */
  async wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.info.status !== "running") return true;
    if (signal?.aborted) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const ended = await Promise.race([
      this.done.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, ms));
        onAbort = () => resolve(false);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    return ended;
  }

  /** The outcome so far (`running` while it runs). */
  outcome(): JobOutcome {
    const r = this.#result;
    const partial = this.info.status === "running";
    return {
      status: this.info.status,
      ...(this.#error !== null && !this.#killed ? { error: describeError(this.#error) } : {}),
      exit_code: r ? r.code : null,
      signal: r?.signal ?? null,
      stdout: render(this.stdout, partial),
      stderr: render(this.stderr, partial),
      truncated: this.stdout.omitted() > 0 || this.stderr.omitted() > 0,
      duration_ms: Math.round(r ? r.durationMs : performance.now() - this.#started),
    };
  }
}

/** The jobs of one server: ids, the bound on finished ones kept, the end of them all. */
export class Jobs {
  readonly #jobs = new Map<string, Job>();
  #next = 1;
  #closed = false;

  /**
   * Finished jobs kept for `job_output` (the oldest finished go first), and the most that may run
   * at once.
   */
  constructor(readonly keepFinished = 50, readonly maxRunning = 256) {}

  /** Starts `command` on `env`. */
  start(
    host: string,
    env: Environment,
    command: readonly string[] | string,
    o: StartOptions,
  ): Job {
    if (this.#closed) throw new Error("The server is closing: no new commands");
    const running = [...this.#jobs.values()].filter((j) => j.info.status === "running").length;
    if (running >= this.maxRunning) {
      throw new UsageError(`${running} commands are running already: wait for or kill some`, {
        hint: "jobs lists them; job_kill stops one",
      });
    }
    const job = new Job(`j${this.#next++}`, host, env, command, o);
    this.#jobs.set(job.info.id, job);
    void job.done.then(() => this.#prune());
    return job;
  }

  /** The job with `id`, or undefined. */
  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** Every job kept, oldest first. */
  list(): JobInfo[] {
    return [...this.#jobs.values()].map((j) => ({ ...j.info }));
  }

  /** Forgets a job the caller no longer needs a handle for (an exec that ended in its call). */
  forget(id: string): void {
    const job = this.#jobs.get(id);
    if (job && job.info.status !== "running") this.#jobs.delete(id);
  }

  #prune(): void {
    const finished = [...this.#jobs.values()].filter((j) => j.info.status !== "running");
    for (const j of finished.slice(0, Math.max(0, finished.length - this.keepFinished))) {
      this.#jobs.delete(j.info.id);
    }
  }

  /** Kills every running job and refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#jobs.values()].map((j) => j.kill()));
  }
}
