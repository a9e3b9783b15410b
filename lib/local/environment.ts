/**
 * {@linkcode LocalEnvironment}: the {@linkcode Environment} of this machine, with the same
 * semantics as the remote one (argv or `sh -c`, cwd, filtered env, null stdin by default, a
 * timeout that kills the command's whole process group).
 *
 * @module
 */

import { type ChildProcess, type SpawnOptions, spawnVia } from "../core/spawn.ts";
import { ShellCommand, shellTemplate, type ShellValue } from "../core/template.ts";
import type { Environment, ExecOptions, ExecResult, Logger } from "../core/environment.ts";
import { CallOutput, checked, prologue } from "../core/exec_pipeline.ts";
import { YonderError } from "../core/errors.ts";
import { type Child, killGroup, spawn } from "../util/process.ts";
import { feed, pump } from "../util/output.ts";
import { checkStdioFiles } from "../core/file_stream.ts";
import { FrameScanner, newNonce } from "../posix/frames.ts";
import { buildWrapperScript } from "../posix/remote_script.ts";
import { abortedBeforeStart, armKillPath, cwdError, stoppedStatus } from "../core/kill_path.ts";
import { deferred, KILL_GRACE_MS, withTimeout } from "../util/async.ts";
import type * as F from "../core/files.ts";
import { FileOpsHost } from "../tree/file_ops_host.ts";

/**
 * Options of {@linkcode LocalEnvironment}.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, type LocalEnvironmentOptions } from "../../mod.ts";
 * const options: LocalEnvironmentOptions = {
 *   cwd: Deno.makeTempDirSync(),
 *   logger: (line) => console.error(`[yonder] ${line}`),
 * };
 * await using env = new LocalEnvironment(options);
 * await env.writeFile("notes.txt", "relative paths start at cwd\n");
 * console.log((await env.exec(["ls", "-l"])).code);
 * ```
 */
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
 * import { LocalEnvironment } from "./environment.ts";
 * await using env = new LocalEnvironment();
 * const r = await env.exec(["echo", "hi"]);
 * console.assert(r.code === 0);
 * ```
 */
export class LocalEnvironment extends FileOpsHost implements Environment {
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
    super();
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
    const p = this.#exec(command, { ...options, signal }).then((r) =>
      checked(command, r, options.check, this.label)
    );
    this.#inflight.add(p);
    p.finally(() => this.#inflight.delete(p)).catch(() => {});
    return p;
  }

  /** Starts a command, streaming; see {@linkcode Environment.spawn}. */
  spawn(command: readonly string[] | string, options: SpawnOptions = {}): ChildProcess {
    return spawnVia((c, o) => this.exec(c, o), command, options);
  }

  /** A command from a template, every value one quoted word; see {@linkcode Environment.$}. */
  $(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
    return new ShellCommand(this, shellTemplate(strings, ...values));
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
    const { started, env } = prologue(command, opts, this.#log);
    const cwd = this.#resolveCwd(opts.cwd);
    if (cwd !== undefined) await checkDir(cwd);
    // Local files of the caller, relative to this process's directory, not to the command's.
    const abs = (p: string | undefined) =>
      p === undefined || p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
    opts = { ...opts, stdinFile: abs(opts.stdinFile), stdoutFile: abs(opts.stdoutFile) };
    await checkStdioFiles(opts);
    if (opts.signal?.aborted) return abortedBeforeStart(started);
    const userStdin = opts.stdin !== undefined || opts.stdinFile !== undefined;
    const nonce = newNonce();
    const endFrame = opts.stdoutFile === undefined;
    // The same wrapper as on a remote host: the command in a child of a shell that leads the
    // call's process group (detached), hangs the group up when the command ends, and reports;
    // without stdin of its own, stdin is the lifeline (it closes if this process dies).
    const script = buildWrapperScript({
      nonce,
      command,
      nullStdin: !userStdin,
      lifeline: !userStdin,
      hangup: true,
      endFrame,
    });
    const child = spawn("sh", {
      args: ["-c", script],
      stdin: opts.stdinFile === undefined ? "piped" : "null",
      ...(opts.stdinFile !== undefined ? { stdinFile: opts.stdinFile } : {}),
      ...(opts.stdoutFile !== undefined ? { stdoutFile: opts.stdoutFile } : {}),
      stdout: "piped",
      stderr: "piped",
      env,
      ...(cwd !== undefined ? { cwd } : {}),
      detached: true,
    });
    const output = new CallOutput(opts);
    let exit: number | null = null;
    const exitSeen = deferred();
    const endSeen = deferred();
    const outScanner = new FrameScanner(
      nonce,
      (c) => output.out(c),
      (kind) => kind === "end" && endSeen.resolve(),
    );
    const errScanner = new FrameScanner(nonce, (c) => output.err(c), (kind, value) => {
      if (kind !== "exit") return;
      exit = Number(value);
      exitSeen.resolve();
    });
    const ended = new AbortController();
    const drained = new AbortController();
    const feeding = child.stdin
      ? (opts.stdin !== undefined
        ? feed(child.stdin, opts.stdin, ended.signal)
        : holdOpen(child.stdin, ended.signal))
      : Promise.resolve();
    const pumping = Promise.all([
      pump(child.stdout, (c) => {
        outScanner.push(c);
        return output.backpressure("out");
      }, drained.signal).then(() => outScanner.end()),
      pump(child.stderr, (c) => {
        errScanner.push(c);
        return output.backpressure("err");
      }, drained.signal).then(() => errScanner.end()),
    ]);
    let killedBy: "timeout" | "abort" | null = null;
    const killPath = armKillPath(opts, (why) => {
      if (exit !== null) return Promise.resolve(); // It ended on its own already.
      killedBy = why;
      output.release();
      this.#log(`${why}: stopping process group ${child.pid}`);
      return stopGroup(child);
    }, output.guard);
    let status;
    try {
      status = await child.status;
      // The wrapper has reported (or was killed): its frames are in the pipes already, unless a
      // process the call left (setsid, nohup) holds them open; do not wait for that one.
      const framesIn = Promise.all([exitSeen.promise, endFrame ? endSeen.promise : null]);
      if (await withTimeout(Promise.race([pumping, framesIn]), LINGER_MS) === null) {
        this.#log("output pipes still held open after the call; closing them");
      }
      drained.abort();
      ended.abort();
      await pumping;
      await feeding;
      await killPath.done();
    } finally {
      drained.abort();
      ended.abort();
      killPath.disarm();
    }
    output.guard.rethrow();
    const result = (code: number, signal: Deno.Signal | null, timedOut: boolean): ExecResult =>
      output.result(started, code, signal, timedOut);
    if (killedBy) {
      const { code, signal } = stoppedStatus(killedBy);
      return result(code, signal, killedBy === "timeout");
    }
    if (exit !== null) return result(exit, null, false);
    // The wrapper itself was killed (the command signalled its own group).
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

  /** The local file operations (paths resolve like the working directory). */
  protected override async loadFiles(): Promise<F.FileOps> {
    const { LocalFiles } = await import("./files.ts");
    return new LocalFiles((p) => this.#resolveCwd(p) ?? p);
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

/** How long the output pipes may stay open after the wrapper exited. */
const LINGER_MS = 250;

/** Keeps `stdin` open, writing nothing, until `until` aborts: the command's lifeline. */
async function holdOpen(stdin: WritableStream<Uint8Array>, until: AbortSignal): Promise<void> {
  if (!until.aborted) {
    await new Promise<void>((r) => until.addEventListener("abort", () => r(), { once: true }));
  }
  await stdin.close().catch(() => {});
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
