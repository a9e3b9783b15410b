/**
 * {@linkcode LocalEnvironment}: the {@linkcode Environment} of this machine, with the same
 * semantics as the remote one (argv or `sh -c`, cwd, filtered env, null stdin by default, a
 * timeout that kills the command's whole process group).
 *
 * @module
 */

import type { Environment, ExecOptions, ExecResult, Logger } from "../core/environment.ts";
import { CallOutput, prologue } from "../core/exec_pipeline.ts";
import { type Child, killGroup, signalName, spawn } from "../util/process.ts";
import { UsageError } from "../core/errors.ts";
import { feed, pump } from "../util/output.ts";
import { checkStdioFiles } from "../core/file_stream.ts";
import { FrameScanner, newNonce } from "../posix/frames.ts";
import { buildWrapperScript } from "../posix/remote_script.ts";
import {
  abortedBeforeStart,
  armKillPath,
  cwdError,
  type KillReason,
  stoppedStatus,
} from "../core/kill_path.ts";
import { deferred, KILL_GRACE_MS, withTimeout } from "../util/async.ts";
import type * as F from "../core/files.ts";
import { EnvironmentBase } from "../tree/environment_base.ts";

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
export class LocalEnvironment extends EnvironmentBase implements Environment {
  /** Always `"local"`. */
  readonly kind = "local" as const;
  /** Always `"local"`. */
  readonly label = "local";
  #base: string | undefined;
  #log: Logger;

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

  #resolveCwd(cwd: string | undefined): string | undefined {
    const home = Deno.env.get("HOME") ?? "";
    const expand = (p: string) =>
      p === "~" ? home : p.startsWith("~/") ? `${home}/${p.slice(2)}` : p;
    if (cwd === undefined) return this.#base === undefined ? undefined : expand(this.#base);
    const c = expand(cwd);
    if (this.#base === undefined || c.startsWith("/")) return c;
    return `${expand(this.#base).replace(/\/+$/, "")}/${c}`;
  }

  /** Runs a command on this machine; see {@linkcode Environment.exec}. */
  protected async run(
    command: readonly string[] | string,
    opts: ExecOptions,
  ): Promise<ExecResult> {
    if (opts.become) {
      throw new UsageError("become runs commands as another user on a remote host only", {
        hint: "Run yonder itself as that user here, or give a target (-r)",
      });
    }
    const { started, env } = prologue(command, opts, this.#log);
    const cwd = this.#resolveCwd(opts.cwd);
    if (cwd !== undefined) await checkDir(cwd);
    // Local files of the caller, relative to this process's directory, not to the command's.
    const abs = (p: string | undefined) =>
      p === undefined || p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
    opts = { ...opts, stdinFile: abs(opts.stdinFile), stdoutFile: abs(opts.stdoutFile) };
    await checkStdioFiles(opts);
    if (opts.signal?.aborted) return abortedBeforeStart(started);
    const nonce = newNonce();
    const child = startWrapper(command, opts, { env, cwd, nonce });
    const call = await runLocalCall(child, nonce, opts, this.#log);
    const { output } = call;
    if (call.killedBy) {
      const { code, signal } = stoppedStatus(call.killedBy);
      return output.result(started, code, signal, call.killedBy === "timeout");
    }
    if (call.exit !== null) return output.result(started, call.exit, null, false);
    // The wrapper itself was killed (the command signalled its own group).
    return output.result(started, call.status.code, call.status.signal, false);
  }

  /** Nothing else to release: `close()` has stopped the running commands already. */
  protected release(): Promise<void> {
    return Promise.resolve();
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

/**
 * Starts the same wrapper as on a remote host: the command in a child of a shell that leads the
 * call's process group (detached), hangs the group up when the command ends, and reports; without
 * stdin of its own, stdin is the lifeline (it closes if this process dies).
 */
function startWrapper(
  command: readonly string[] | string,
  opts: ExecOptions,
  how: { env: Record<string, string>; cwd: string | undefined; nonce: string },
): Child {
  const userStdin = opts.stdin !== undefined || opts.stdinFile !== undefined;
  const script = buildWrapperScript({
    nonce: how.nonce,
    command,
    nullStdin: !userStdin,
    lifeline: !userStdin,
    hangup: true,
    endFrame: opts.stdoutFile === undefined,
  });
  return spawn("sh", {
    args: ["-c", script],
    stdin: opts.stdinFile === undefined ? "piped" : "null",
    ...(opts.stdinFile !== undefined ? { stdinFile: opts.stdinFile } : {}),
    ...(opts.stdoutFile !== undefined ? { stdoutFile: opts.stdoutFile } : {}),
    stdout: "piped",
    stderr: "piped",
    env: how.env,
    ...(how.cwd !== undefined ? { cwd: how.cwd } : {}),
    detached: true,
  });
}

/** How a local call ended. */
interface LocalCall {
  output: CallOutput;
  exit: number | null;
  killedBy: KillReason | null;
  status: { code: number; signal: Deno.Signal | null };
}

/** Reads the wrapper's pipes through frame scanners; resolves the exit and end frames. */
function readFrames(
  child: Child,
  nonce: string,
  output: CallOutput,
  drained: AbortSignal,
  on: { exit: (code: number) => void; pid: () => void },
) {
  const exitSeen = deferred<number>();
  const endSeen = deferred();
  const out = new FrameScanner(nonce, (c) => output.out(c), (kind) => {
    if (kind === "end") endSeen.resolve();
  });
  const err = new FrameScanner(nonce, (c) => output.err(c), (kind, value) => {
    if (kind === "pid") return on.pid();
    if (kind !== "exit") return;
    on.exit(Number(value));
    exitSeen.resolve(Number(value));
  });
  const pumping = Promise.all([
    pump(child.stdout, (c) => {
      out.push(c);
      return output.backpressure("out");
    }, drained).then(() => out.end()),
    pump(child.stderr, (c) => {
      err.push(c);
      return output.backpressure("err");
    }, drained).then(() => err.end()),
  ]);
  return { exitSeen: exitSeen.promise, endSeen: endSeen.promise, pumping };
}

/**
 * Waits for the wrapper's frames once it exited. Its output is in the pipes already, unless a
 * process the call left (setsid, nohup) holds them open: that one gets {@linkcode LINGER_MS}.
 * While the caller's callbacks hold the readers back, the caller is behind, not the pipes: that
 * wait is not counted (a timeout or an abort releases it).
 */
async function framesOrLinger(
  framesIn: Promise<unknown>,
  output: CallOutput,
  log: (line: string) => void,
): Promise<void> {
  while (await withTimeout(framesIn, LINGER_MS) === null) {
    if (!output.heldBack(LINGER_MS)) {
      log("output pipes still held open after the call; closing them");
      return;
    }
    await Promise.race([framesIn, output.settled()]);
  }
}

/** Runs a started wrapper to its end: output, frames, kill path, stdin. */
async function runLocalCall(
  child: Child,
  nonce: string,
  opts: ExecOptions,
  log: (line: string) => void,
): Promise<LocalCall> {
  const output = new CallOutput(opts);
  const call: LocalCall = {
    output,
    exit: null,
    killedBy: null,
    status: { code: -1, signal: null },
  };
  const ended = new AbortController();
  const drained = new AbortController();
  const feeding = !child.stdin
    ? Promise.resolve()
    : opts.stdin !== undefined
    ? feed(child.stdin, opts.stdin, ended.signal)
    : holdOpen(child.stdin, ended.signal);
  const frames = readFrames(child, nonce, output, drained.signal, {
    exit: (code) => (call.exit = code),
    // The wrapper leads the call's group; once it reports, it catches what the group is sent.
    pid: () => output.started(opts, (sig) => signalLocalGroup(child.pid, sig), ended.signal),
  });
  const killPath = armKillPath(opts, (why) => {
    output.release();
    if (call.exit !== null) return Promise.resolve(); // It ended on its own already.
    call.killedBy = why;
    log(`${why}: stopping process group ${child.pid}`);
    return stopGroup(child);
  }, output.guard);
  try {
    call.status = await child.status;
    // The wrapper has reported (or was killed): its frames are in the pipes already, unless a
    // process the call left (setsid, nohup) holds them open; do not wait for that one.
    const endFrame = opts.stdoutFile === undefined;
    const framesIn = Promise.all([frames.exitSeen, endFrame ? frames.endSeen : null]);
    await framesOrLinger(Promise.race([frames.pumping, framesIn]), output, log);
    drained.abort();
    ended.abort();
    await frames.pumping;
    await feeding;
    // The caller's callbacks may still hold chunks (their promises): the call ends after them.
    await output.settled();
    await killPath.done();
  } finally {
    drained.abort();
    ended.abort();
    killPath.disarm();
  }
  output.guard.rethrow();
  return call;
}

/** Keeps `stdin` open, writing nothing, until `until` aborts: the command's lifeline. */
async function holdOpen(stdin: WritableStream<Uint8Array>, until: AbortSignal): Promise<void> {
  if (!until.aborted) {
    await new Promise<void>((r) => until.addEventListener("abort", () => r(), { once: true }));
  }
  await stdin.close().catch(() => {});
}

/** Sends `signal` to a local process group once. */
function signalLocalGroup(pgid: number, signal: Deno.Signal): Promise<void> {
  if (signalName(signal) === null) {
    return Promise.reject(new UsageError(`Not a signal name: ${JSON.stringify(signal)}`));
  }
  killGroup(pgid, signal);
  return Promise.resolve();
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
