/**
 * The one choke point: {@linkcode withHooks} wraps any {@linkcode Environment} so that every
 * operation a caller asks for — exec, spawn (and `$`, which runs through them), each file
 * operation, push and pull — passes `before` with its arguments (which may refuse it by
 * throwing) and `after` with its outcome. Policy, approval and audit are written as hooks.
 *
 * An operation is seen once, as the caller asked for it: the commands a push or a file operation
 * runs to do its work are the backend's business and are not seen separately.
 *
 * @module
 */

import type {
  ChildProcess,
  Environment,
  ExecOptions,
  ExecResult,
  ShellCommand,
  ShellValue,
  SpawnOptions,
} from "./environment.ts";
import type * as F from "./files.ts";
import { spawnOptionsOf, spawnVia } from "./spawn.ts";
import { shellTemplate, TemplateCommand } from "./template.ts";
import type { PullOptions, PullResult, PushOptions, TreeResult } from "./tree_types.ts";

/** The operations the choke point sees. */
export type OperationName =
  | "exec"
  | "spawn"
  | "readFile"
  | "readFileStream"
  | "writeFile"
  | "upload"
  | "download"
  | "stat"
  | "list"
  | "remove"
  | "mkdir"
  | "push"
  | "pull";

/**
 * One operation as the caller asked for it.
 *
 * @example
 * ```ts
 * import type { Operation } from "../../mod.ts";
 * // The program of an exec or spawn, for an audit line (never the output).
 * function program(op: Operation): string | null {
 *   if (op.name !== "exec" && op.name !== "spawn") return null;
 *   const command = op.args[0];
 *   return Array.isArray(command) ? String(command[0]) : "sh -c";
 * }
 * ```
 */
export interface Operation {
  /** Which operation. */
  readonly name: OperationName;
  /** The environment it runs on (`kind` and `label`). */
  readonly env: { readonly kind: Environment["kind"]; readonly label: string };
  /**
   * The call's arguments as given: for exec and spawn `[command, options]`, for file operations
   * the path(s) first (`upload`: local path, then remote; `download`: remote, then local).
   */
  readonly args: readonly unknown[];
}

/** How an operation ended. */
export type Outcome =
  | { readonly ok: true; readonly value: unknown; readonly durationMs: number }
  | {
    readonly ok: false;
    readonly error: unknown;
    readonly durationMs: number;
    /** True when `before` refused the operation (it did not run). */
    readonly refused: boolean;
  };

/**
 * What {@linkcode withHooks} calls around each operation.
 *
 * @example
 * ```ts
 * import type { Hooks } from "../../mod.ts";
 * const audit: Hooks = {
 *   after(op, outcome) {
 *     console.error(JSON.stringify({ op: op.name, on: op.env.label, ok: outcome.ok }));
 *   },
 * };
 * ```
 */
export interface Hooks {
  /** Sees an operation before it runs; a throw (or rejection) refuses it with that error. */
  before?(op: Operation): void | Promise<void>;
  /**
   * Sees how it ended (also when `before` refused it). For spawn, once the command has ended. A
   * throw here is not the caller's problem: it is reported to `onHookError`, else ignored.
   */
  after?(op: Operation, outcome: Outcome): void | Promise<void>;
  /** Receives errors thrown by `after`. */
  onHookError?(error: unknown, op: Operation): void;
  /**
   * Changes the command an exec or spawn runs, after `before` saw it as the caller asked (a
   * sandbox puts its program in front). Hooks wrapped around these still see the original.
   */
  rewrite?(command: readonly string[] | string): readonly string[] | string;
  /**
   * Called by the wrapper's `close()` before the environment closes: finish what the hooks still
   * do in the background (an audit log's queued lines).
   */
  close?(): void | Promise<void>;
}

/**
 * Wraps `env` so that every operation passes `hooks`. The wrapper is an `Environment` itself;
 * closing it closes `env`.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, UsageError, withHooks } from "../../mod.ts";
 * await using env = withHooks(new LocalEnvironment(), {
 *   before(op) {
 *     const command = op.args[0];
 *     if (op.name === "exec" && Array.isArray(command) && command[0] === "rm") {
 *       throw new UsageError("rm is not allowed here");
 *     }
 *   },
 *   after(op, outcome) {
 *     console.error(JSON.stringify({ op: op.name, ok: outcome.ok, ms: outcome.durationMs }));
 *   },
 * });
 * await env.exec(["echo", "hi"]);
 * ```
 */
export function withHooks(env: Environment, hooks: Hooks): Environment {
  return new HookedEnvironment(env, hooks);
}

class HookedEnvironment implements Environment {
  readonly #inner: Environment;
  readonly #hooks: Hooks;

  constructor(inner: Environment, hooks: Hooks) {
    this.#inner = inner;
    this.#hooks = hooks;
  }

  get kind(): Environment["kind"] {
    return this.#inner.kind;
  }

  get label(): string {
    return this.#inner.label;
  }

  /** Calls `after`; what it (or `onHookError`) throws never reaches the caller. */
  async #after(op: Operation, outcome: Outcome): Promise<void> {
    if (!this.#hooks.after) return;
    try {
      await this.#hooks.after(op, outcome);
    } catch (e) {
      try {
        this.#hooks.onHookError?.(e, op);
      } catch {
        // A broken error handler must not turn the operation's outcome into its own.
      }
    }
  }

  async #run<T>(name: OperationName, args: unknown[], run: () => Promise<T>): Promise<T> {
    const op: Operation = { name, env: { kind: this.kind, label: this.label }, args };
    const started = performance.now();
    const ms = () => performance.now() - started;
    try {
      await this.#hooks.before?.(op);
    } catch (error) {
      await this.#after(op, { ok: false, error, durationMs: ms(), refused: true });
      throw error;
    }
    let value: T;
    try {
      value = await run();
    } catch (error) {
      await this.#after(op, { ok: false, error, durationMs: ms(), refused: false });
      throw error;
    }
    await this.#after(op, { ok: true, value, durationMs: ms() });
    return value;
  }

  exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecResult> {
    // A spawn is exec with streamed output: its exec call carries the spawn's own options, so the
    // hooks (at every layer) see one "spawn" operation with what the caller gave.
    const spawned = spawnOptionsOf(options);
    const run = () => this.#inner.exec(this.#hooks.rewrite?.(command) ?? command, options);
    return spawned
      ? this.#run("spawn", [command, spawned], run)
      : this.#run("exec", [command, options], run);
  }

  spawn(command: readonly string[] | string, options: SpawnOptions = {}): ChildProcess {
    // A refusal rejects its status (and errors its streams) before anything runs.
    return spawnVia((c, o) => this.exec(c, o), command, options);
  }

  $(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
    return new TemplateCommand(this, shellTemplate(strings, ...values));
  }

  readFile(path: string, options?: F.ReadFileOptions): Promise<Uint8Array> {
    return this.#run("readFile", [path, options], () => this.#inner.readFile(path, options));
  }

  readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options?: F.DownloadOptions,
  ): Promise<number> {
    return this.#run(
      "readFileStream",
      [path, options],
      () => this.#inner.readFileStream(path, sink, options),
    );
  }

  writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options?: F.WriteFileOptions,
  ): Promise<void> {
    return this.#run(
      "writeFile",
      [path, data, options],
      () => this.#inner.writeFile(path, data, options),
    );
  }

  upload(localPath: string, path: string, options?: F.WriteFileOptions): Promise<number> {
    return this.#run(
      "upload",
      [localPath, path, options],
      () => this.#inner.upload(localPath, path, options),
    );
  }

  download(path: string, localPath: string, options?: F.DownloadOptions): Promise<number> {
    return this.#run(
      "download",
      [path, localPath, options],
      () => this.#inner.download(path, localPath, options),
    );
  }

  stat(path: string, options?: F.StatOptions): Promise<F.FileInfo> {
    return this.#run("stat", [path, options], () => this.#inner.stat(path, options));
  }

  list(path: string, options?: F.ListOptions): Promise<F.FileInfo[]> {
    return this.#run("list", [path, options], () => this.#inner.list(path, options));
  }

  remove(path: string, options?: F.RemoveOptions): Promise<void> {
    return this.#run("remove", [path, options], () => this.#inner.remove(path, options));
  }

  mkdir(path: string, options?: F.MkdirOptions): Promise<void> {
    return this.#run("mkdir", [path, options], () => this.#inner.mkdir(path, options));
  }

  push(localDir: string, remoteDir: string, options?: PushOptions): Promise<TreeResult> {
    return this.#run(
      "push",
      [localDir, remoteDir, options],
      () => this.#inner.push(localDir, remoteDir, options),
    );
  }

  pull(remoteDir: string, localDir: string, options?: PullOptions): Promise<PullResult> {
    return this.#run(
      "pull",
      [remoteDir, localDir, options],
      () => this.#inner.pull(remoteDir, localDir, options),
    );
  }

  async close(): Promise<void> {
    try {
      await this.#hooks.close?.();
    } finally {
      await this.#inner.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
