/**
 * The one place where yonder starts processes. Every `ssh`, `sh` and `tar` goes through
 * {@linkcode spawn}, so unit tests can swap in a fake with {@linkcode setSpawner} and check the
 * argv that would have run.
 *
 * @module
 */

/** How a child's stdio stream is connected. */
export type Stdio = "piped" | "null" | "inherit";

/** What {@linkcode spawn} needs to start a process. */
export interface SpawnOptions {
  /** Arguments after the program name. */
  args: string[];
  /** Stdin of the child; `"null"` unless given. */
  stdin?: Stdio;
  /** Stdout of the child; `"null"` unless given. */
  stdout?: Stdio;
  /** Stderr of the child; `"null"` unless given. */
  stderr?: Stdio;
  /** Extra environment for the child (merged over the parent's). */
  env?: Record<string, string>;
  /** Working directory of the child. */
  cwd?: string;
  /** Start the child in its own session and process group (so a terminal Ctrl-C does not reach it). */
  detached?: boolean;
  /** Connect the child's stdin to this local file (no bytes pass through this process). */
  stdinFile?: string;
  /** Connect the child's stdout to this local file, created or truncated. */
  stdoutFile?: string;
}

/** The status of an exited child. */
export interface SpawnStatus {
  /** Exit code; 128+n when killed by signal n. */
  code: number;
  /** The signal that killed the child, if one did. */
  signal: Deno.Signal | null;
}

/** A running child, the part of `Deno.ChildProcess` yonder uses. */
export interface Child {
  /** Process id. */
  readonly pid: number;
  /** Writable stdin when spawned with `stdin: "piped"`. */
  readonly stdin: WritableStream<Uint8Array> | null;
  /** Readable stdout when spawned with `stdout: "piped"`. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** Readable stderr when spawned with `stderr: "piped"`. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves when the child exits. */
  readonly status: Promise<SpawnStatus>;
  /** Sends a signal to the child; a child that is gone already is not an error. */
  kill(signal?: Deno.Signal): void;
  /** Lets this process exit while the child still runs. */
  unref(): void;
  /** Undoes {@linkcode Child.unref}: awaiting `status` keeps this process alive again. */
  ref(): void;
}

/** A function that starts a process; the default wraps `Deno.Command`. */
export type Spawner = (program: string, options: SpawnOptions) => Child;

/** Starts `program` with `Deno.Command`. */
export const denoSpawner: Spawner = (program: string, options: SpawnOptions): Child => {
  let args = options.args;
  const inFile = options.stdinFile;
  const outFile = options.stdoutFile;
  if (inFile !== undefined || outFile !== undefined) {
    // Deno cannot hand a file descriptor to a child, so a tiny sh opens the files and execs the
    // program in its place: the bytes go straight between the file and the child.
    const script = `i=$1 o=$2; shift 2; exec "$@"${inFile !== undefined ? ' <"$i"' : ""}${
      outFile !== undefined ? ' >"$o"' : ""
    }`;
    args = ["-c", script, "yonder-redirect", inFile ?? "", outFile ?? "", program, ...args];
    program = "sh";
  }
  const child = new Deno.Command(program, {
    args,
    stdin: inFile !== undefined ? "null" : options.stdin ?? "null",
    stdout: outFile !== undefined ? "null" : options.stdout ?? "null",
    stderr: options.stderr ?? "null",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.detached ? { detached: true } : {}),
  }).spawn();
  const status = child.status.then((s) => ({ code: s.code, signal: s.signal }));
  return {
    pid: child.pid,
    stdin: options.stdin === "piped" && inFile === undefined ? child.stdin : null,
    stdout: options.stdout === "piped" && outFile === undefined ? child.stdout : null,
    stderr: options.stderr === "piped" ? child.stderr : null,
    status,
    kill(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // Already exited: nothing to kill.
      }
    },
    unref() {
      child.unref();
    },
    ref() {
      child.ref();
    },
  };
};

let current: Spawner = denoSpawner;

/** Starts a process through the current spawner. */
export function spawn(program: string, options: SpawnOptions): Child {
  return current(program, options);
}

/**
 * Replaces the spawner (for tests) and returns a function that puts the previous one back.
 *
 * @example
 * ```ts
 * import { setSpawner } from "./process.ts";
 * const calls: string[][] = [];
 * const restore = setSpawner((program, o) => {
 *   calls.push([program, ...o.args]);
 *   throw new Deno.errors.NotFound(`${program}: not started in this test`);
 * });
 * restore();
 * ```
 */
export function setSpawner(spawner: Spawner): () => void {
  const previous = current;
  current = spawner;
  return () => {
    current = previous;
  };
}

/** The name `kill -NAME` takes for `signal` (`SIGINT` → `INT`); null if it is not a signal name. */
export function signalName(signal: string): string | null {
  return /^SIG[A-Z0-9]{2,8}$/.test(signal) ? signal.slice(3) : null;
}

/** Sends `signal` to the process group `pgid`; a group that is gone already is not an error. */
export function killGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch {
    // The group is gone.
  }
}
