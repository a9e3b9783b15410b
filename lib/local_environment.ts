/**
 * {@linkcode LocalEnvironment}: the {@linkcode Environment} of this machine, with the same
 * semantics as the remote one (argv or `sh -c`, cwd, filtered env, null stdin by default, a
 * timeout that kills the command's whole process group).
 *
 * @module
 */

import type { Environment, ExecOptions, ExecResult, Logger } from "./environment.ts";
import { filterEnv } from "./env_filter.ts";
import { UsageError, YonderError } from "./errors.ts";
import { type Child, killGroup, spawn } from "./process.ts";
import { feed, OutputSink, pump } from "./_output.ts";
import { abortedBeforeStart, armKillPath, cwdError, stoppedStatus } from "./_kill_path.ts";
import { KILL_GRACE_MS } from "./ssh/exec.ts";
import { withTimeout } from "./ssh/master.ts";
import type { LocalFiles } from "./local_files.ts";
import type * as F from "./files.ts";
import type { PullOptions, PullResult, PushOptions, TreeResult } from "./tree/types.ts";

/** Options of {@linkcode LocalEnvironment}. */
export interface LocalEnvironmentOptions {
  /** Default working directory (else the process's). */
  cwd?: string;
  /** Receives yonder's debug lines. */
  logger?: Logger;
}

/**
 * This machine, behind the same interface as a remote host.
 *
 * @example
 * ```ts
 * import { LocalEnvironment } from "./local_environment.ts";
 * await using env = new LocalEnvironment();
 * const r = await env.exec(["echo", "hi"]);
 * console.assert(r.code === 0);
 * ```
 */
export class LocalEnvironment implements Environment {
  /** Always `"local"`. */
  readonly kind = "local" as const;
  /** Always `"local"`. */
  readonly label = "local";
  #base: string | undefined;
  #log: Logger;
  #closed = false;
  #closing = new AbortController();
  #inflight = new Set<Promise<unknown>>();

  /** Creates the local environment. */
  constructor(options: LocalEnvironmentOptions = {}) {
    this.#base = options.cwd;
    this.#log = options.logger ?? (() => {});
  }

  /** Same as the constructor, for symmetry with `SshEnvironment.open`. */
  static open(options: LocalEnvironmentOptions = {}): Promise<LocalEnvironment> {
    return Promise.resolve(new LocalEnvironment(options));
  }

  /** Runs a command on this machine; see {@linkcode Environment.exec}. */
  exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.#closed) return Promise.reject(new YonderError("Local environment is closed"));
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const p = this.#exec(command, { ...options, signal });
    this.#inflight.add(p);
    p.finally(() => this.#inflight.delete(p)).catch(() => {});
    return p;
  }

  #resolveCwd(cwd: string | undefined): string | undefined {
    const home = Deno.env.get("HOME") ?? "";
    const expand = (p: string) =>
      p === "~" ? home : p.startsWith("~/") ? `${home}/${p.slice(2)}` : p;
    if (cwd === undefined) return this.#base === undefined ? undefined : expand(this.#base);
    const c = expand(cwd);
    if (this.#base === undefined || c.startsWith("/")) return c;
    return `${expand(this.#base).replace(/\/+$/, "")}/${c}`;
  }

  async #exec(command: readonly string[] | string, opts: ExecOptions): Promise<ExecResult> {
    const started = performance.now();
    if (typeof command !== "string" && command.length === 0) {
      throw new UsageError("Empty command: give a program and its arguments");
    }
    const { env, dropped } = filterEnv(opts.env, opts.allowEnv);
    for (const name of dropped) {
      this.#log(`env ${name} not set: the name looks sensitive (allow it with allowEnv)`);
    }
    const cwd = this.#resolveCwd(opts.cwd);
    if (cwd !== undefined) await checkDir(cwd);
    const args = typeof command === "string" ? ["-c", command] : ["-c", '"$@"', "sh", ...command];
    for (const a of args) {
      if (a.includes("\0")) throw new UsageError("Invalid argument: contains a NUL byte");
    }
    const cap = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    const stdout = new OutputSink(cap);
    const stderr = new OutputSink(cap);
    if (opts.signal?.aborted) return abortedBeforeStart(started);
    const hasStdin = opts.stdin !== undefined;
    const files = {
      ...(opts.stdinFile !== undefined ? { stdinFile: opts.stdinFile } : {}),
      ...(opts.stdoutFile !== undefined ? { stdoutFile: opts.stdoutFile } : {}),
    };
    const child = spawn("sh", {
      args,
      stdin: hasStdin ? "piped" : "null",
      ...files,
      stdout: "piped",
      stderr: "piped",
      env,
      ...(cwd !== undefined ? { cwd } : {}),
      detached: true,
    });
    const feeding = hasStdin && child.stdin ? feed(child.stdin, opts.stdin!) : Promise.resolve();
    const pumping = Promise.all([
      pump(child.stdout, (c) => {
        stdout.push(c);
        opts.onStdout?.(c);
      }),
      pump(child.stderr, (c) => {
        stderr.push(c);
        opts.onStderr?.(c);
      }),
    ]);
    const killPath = armKillPath(opts, (why) => {
      this.#log(`${why}: stopping process group ${child.pid}`);
      return stopGroup(child);
    });
    let status;
    try {
      status = await child.status;
      await pumping;
      await feeding;
      await killPath.done();
    } finally {
      killPath.disarm();
    }
    const result = (code: number, signal: Deno.Signal | null, timedOut: boolean): ExecResult => ({
      code,
      signal,
      stdout: stdout.bytes(),
      stderr: stderr.bytes(),
      timedOut,
      truncated: stdout.truncated || stderr.truncated,
      durationMs: performance.now() - started,
    });
    if (killPath.reason) {
      const { code, signal } = stoppedStatus(killPath.reason);
      return result(code, signal, killPath.reason === "timeout");
    }
    return result(status.code, status.signal, false);
  }

  /** Stops commands still running, through the same kill path as a timeout. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    await Promise.allSettled([...this.#inflight]);
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // Files and trees: lib/local_files.ts and lib/tree/ (paths resolve like the working directory).
  // Loaded on first use: the file and tree code is not needed to run commands, and every module
  // costs start-up time.
  #filesImpl: Promise<LocalFiles> | undefined;
  #files(): Promise<LocalFiles> {
    return this.#filesImpl ??= import("./local_files.ts").then((m) =>
      new m.LocalFiles((p) => this.#resolveCwd(p) ?? p)
    );
  }

  /** Reads a whole file; see {@linkcode F.FileOps.readFile}. */
  async readFile(path: string, options?: F.ReadFileOptions): Promise<Uint8Array> {
    return (await this.#files()).readFile(path, options);
  }

  /** Streams a file; see {@linkcode F.FileOps.readFileStream}. */
  async readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options?: F.DownloadOptions,
  ): Promise<number> {
    return (await this.#files()).readFileStream(path, sink, options);
  }

  /** Writes a file atomically; see {@linkcode F.FileOps.writeFile}. */
  async writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options?: F.WriteFileOptions,
  ): Promise<void> {
    return (await this.#files()).writeFile(path, data, options);
  }

  /** Copies a local file to `path`; see {@linkcode F.FileOps.upload}. */
  async upload(localPath: string, path: string, options?: F.WriteFileOptions): Promise<number> {
    return (await this.#files()).upload(localPath, path, options);
  }

  /** Copies `path` to a local file; see {@linkcode F.FileOps.download}. */
  async download(path: string, localPath: string, options?: F.DownloadOptions): Promise<number> {
    return (await this.#files()).download(path, localPath, options);
  }

  /** Describes a path; see {@linkcode F.FileOps.stat}. */
  async stat(path: string): Promise<F.FileInfo> {
    return (await this.#files()).stat(path);
  }

  /** Lists a directory; see {@linkcode F.FileOps.list}. */
  async list(path: string, options?: F.ListOptions): Promise<F.FileInfo[]> {
    return (await this.#files()).list(path, options);
  }

  /** Removes a path; see {@linkcode F.FileOps.remove}. */
  async remove(path: string, options?: F.RemoveOptions): Promise<void> {
    return (await this.#files()).remove(path, options);
  }

  /** Creates a directory; see {@linkcode F.FileOps.mkdir}. */
  async mkdir(path: string, options?: F.MkdirOptions): Promise<void> {
    return (await this.#files()).mkdir(path, options);
  }

  /** Copies a tree with the same manifest logic as over SSH; see {@linkcode PushOptions}. */
  async push(localDir: string, remoteDir: string, options?: PushOptions): Promise<TreeResult> {
    const { push } = await import("./tree/push.ts");
    return push(this, localDir, remoteDir, options);
  }

  /** Copies a tree back; see {@linkcode PullOptions}. */
  async pull(remoteDir: string, localDir: string, options?: PullOptions): Promise<PullResult> {
    const { pull } = await import("./tree/pull.ts");
    return pull(this, remoteDir, localDir, options);
  }
}

async function checkDir(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw cwdError(
      e instanceof Deno.errors.PermissionDenied ? "denied" : "notfound",
      path,
      "local",
    );
  }
  if (!info.isDirectory) throw cwdError("notdir", path, "local");
}

/** TERM the child's process group, then KILL it if it outlives the grace period. */
async function stopGroup(child: Child): Promise<void> {
  killGroup(child.pid, "SIGTERM");
  if (!await withTimeout(child.status, KILL_GRACE_MS)) {
    killGroup(child.pid, "SIGKILL");
    await child.status;
  } else {
    // The leader is gone; make sure nothing else in its group stays behind.
    killGroup(child.pid, "SIGKILL");
  }
}
