/**
 * A streaming child over any exec: `spawn` runs the command through the backend's own exec (so
 * every path — local, channel, session — keeps its semantics, timeouts and kill path) with its
 * output handed to ReadableStreams that push back: a reader that stops reading pauses the
 * command once the pipes fill, so memory stays bounded whatever the command writes.
 *
 * @module
 */

import type {
  ChildProcess,
  ExecOptions,
  ExecResult,
  SpawnOptions,
  StartedCommand,
} from "./environment.ts";
import { deferred } from "../util/async.ts";

/**
 * Marks the exec options of a spawn with the caller's spawn options, so that a hook layer below
 * (`withHooks` over `withHooks`) sees the call as the spawn it is.
 */
export const SPAWN_OPTIONS: unique symbol = Symbol("yonder.spawn");

/** The spawn options behind an exec call made by a spawn, if it is one. */
export function spawnOptionsOf(options: ExecOptions): SpawnOptions | undefined {
  return (options as { [SPAWN_OPTIONS]?: SpawnOptions })[SPAWN_OPTIONS];
}

/** Runs a command and resolves to what it did: a backend's exec. */
export type ExecFn = (
  command: readonly string[] | string,
  options: ExecOptions,
) => Promise<ExecResult>;

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;

/** An output stream fed by a callback that returns a wait while the stream's queue is full. */
class OutputStream {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #room: { promise: Promise<void>; resolve: () => void } | null = null;
  #open = true;

  constructor(highWaterMark: number, onCancel: () => void) {
    this.stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: () => this.#free(),
      cancel: () => {
        this.#open = false;
        this.#free();
        onCancel();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark }));
  }

  #free(): void {
    this.#room?.resolve();
    this.#room = null;
  }

  /** Queues a chunk; returns a promise while the queue is full (settles once a reader reads). */
  push = (chunk: Uint8Array): Promise<void> | undefined => {
    if (!this.#open) return undefined;
    this.#controller.enqueue(chunk);
    if ((this.#controller.desiredSize ?? 1) > 0) return undefined;
    this.#room ??= deferred();
    return this.#room.promise;
  };

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#free();
    this.#controller.close();
  }

  error(e: unknown): void {
    if (!this.#open) return;
    this.#open = false;
    this.#free();
    this.#controller.error(e);
  }
}

function closedStdin(): WritableStream<Uint8Array> {
  const w = new WritableStream<Uint8Array>();
  w.close().catch(() => {});
  return w;
}

/**
 * Starts `command` through `exec` and returns the child: output streams with backpressure,
 * stdin as a stream, a status, kill and dispose.
 */
export function spawnVia(
  exec: ExecFn,
  command: readonly string[] | string,
  options: SpawnOptions = {},
): ChildProcess {
  const { stdin: stdinMode, highWaterMark, ...rest } = options;
  const stop = new AbortController();
  const signal = rest.signal ? AbortSignal.any([rest.signal, stop.signal]) : stop.signal;
  const started = deferred<StartedCommand | null>();
  const kill = () => stop.abort();
  const hwm = highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const out = new OutputStream(hwm, kill);
  const err = new OutputStream(hwm, kill);
  let stdin: WritableStream<Uint8Array>;
  let input: ReadableStream<Uint8Array> | undefined;
  if (stdinMode === "piped") {
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    stdin = pipe.writable;
    input = pipe.readable;
  } else {
    stdin = closedStdin();
  }
  const execOptions: ExecOptions & { [SPAWN_OPTIONS]: SpawnOptions } = {
    ...rest,
    ...(input ? { stdin: input } : {}),
    signal,
    onStart: (command) => {
      started.resolve(command);
      return rest.onStart?.(command);
    },
    maxOutputBytes: 0,
    onStdout: out.push,
    onStderr: err.push,
    [SPAWN_OPTIONS]: options,
  };
  const status = exec(command, execOptions).then(
    (r) => {
      started.resolve(null);
      input?.cancel().catch(() => {});
      out.close();
      err.close();
      const { stdout: _o, stderr: _e, truncated: _t, ...s } = r;
      return s;
    },
    (e) => {
      started.resolve(null);
      // A call that never started never read its stdin: writes to it must fail, not wait.
      input?.cancel(e).catch(() => {});
      out.error(e);
      err.error(e);
      throw e;
    },
  );
  // A caller that only reads the streams must not see an unhandled rejection.
  status.catch(() => {});
  return {
    stdin,
    stdout: out.stream,
    stderr: err.stream,
    status,
    async kill(sig?: Deno.Signal) {
      if (sig === undefined) return kill();
      // Before the start there is no group to signal yet; after the end, nothing to signal.
      const command = await started.promise;
      await command?.signal(sig);
    },
    async [Symbol.asyncDispose]() {
      kill();
      await status.catch(() => {});
    },
  };
}
