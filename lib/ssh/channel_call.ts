/**
 * One ssh client running one wrapped command (a channel of the master, the master's own
 * session, or a plain connection) until its frames are in: the call's output, its status, the
 * kill path, and a client that lingers closed. What the outcome means is decided elsewhere
 * (`outcome.ts`).
 *
 * @module
 */

import type { ExecOptions } from "../core/environment.ts";
import { CallOutput } from "../core/exec_pipeline.ts";
import { armKillPath, type KillPath, type KillReason } from "../core/kill_path.ts";
import { type Child, spawn } from "../util/process.ts";
import { feed, feedFile, pump } from "../util/output.ts";
import { abortable, deferred, sleep, withTimeout } from "../util/async.ts";
import { FrameScanner } from "../posix/frames.ts";
import { YonderError } from "../core/errors.ts";
import type { Master } from "./master.ts";
import { buildSshArgv, type SshConnectOptions } from "./options.ts";
import type { Logger } from "../core/environment.ts";
import type { Target } from "../core/target.ts";
import type { BecomeHop } from "../posix/first_hop.ts";
import { BECOME_GATE_MS, BecomeGate } from "./become_gate.ts";

/** Where and how to run. */
export interface SshExecContext {
  /** The target. */
  target: Target;
  /** Connection options. */
  options: SshConnectOptions;
  /** The master to multiplex over; null for a plain connection per call (Windows). */
  master: Master | null;
  /** Debug logger. */
  log: Logger;
  /** Who the call runs as, when not the login user (its kills then go through the same). */
  become?: BecomeHop | null;
  /**
   * When no master runs yet, let the call itself be the master (one ssh process for a one-shot
   * call) instead of starting a master and then a channel.
   */
  oneShot?: boolean;
}

/** What one call needs besides the caller's options. */
export interface CallPlan {
  /** The call's frame nonce. */
  nonce: string;
  /** stdin stays open (and empty) for the whole call: the wrapper's lifeline. */
  lifeline: boolean;
  /** The keeper watches the call and hangs up what it leaves (else the wrapper does). */
  keeper: boolean;
  /** ssh's remote command: the first hop, or (learned safe) the wrapper script itself. */
  command: string;
  /** What goes first on the client's stdin: the wrapper script behind the first hop, or null. */
  preamble: Uint8Array | null;
  /**
   * With a become password: the rest of the script, sent once sudo let the other user's shell
   * through (see `become_gate.ts`); null otherwise.
   */
  rest: Uint8Array | null;
  /** The client's stdin is a pipe from this process (else a local file, or nothing). */
  pipeStdin: boolean;
  /** The wrapper writes an end frame on stdout. */
  endFrame: boolean;
}

/** What a finished client leaves to interpret. */
export interface ClientOutcome {
  /** The ssh client's exit (code -1 when it did not exit: a carried call). */
  status: { code: number; signal: Deno.Signal | null };
  /** The call's output. */
  output: CallOutput;
  /** The command's process group, once its frame came. */
  pgid: number | null;
  /** The command's exit status, once its frame came. */
  exit: number | null;
  /** A working directory that could not be entered (its failure kind). */
  cwd: string | null;
  /** Why the kill path stopped the command, if it did. */
  killedBy: KillReason | null;
  /** The last bytes ssh wrote on stderr, as text. */
  stderrTail: string;
  /** The call ran as the master's own session. */
  carried: boolean;
  /** The master's start count when the call began (to tell a restarted master apart). */
  generation: number;
  /** Why a password-fed sudo did not let the call through (it did not run), if it did not. */
  becomeError?: unknown;
}

const STDERR_TAIL_BYTES = 8192;
/** How long a client may linger after its call ended before it is closed. */
const LINGER_MS = 250;

/** Starts the ssh client of a call (or hands the call to a master that is starting). */
async function startClient(
  ctx: SshExecContext,
  plan: CallPlan,
  opts: ExecOptions,
  mayCarry: boolean,
): Promise<{ child: Child; carried: boolean }> {
  const files = {
    ...(opts.stdinFile !== undefined && !plan.pipeStdin ? { stdinFile: opts.stdinFile } : {}),
    ...(opts.stdoutFile !== undefined ? { stdoutFile: opts.stdoutFile } : {}),
  };
  const hasStdin = plan.pipeStdin || opts.stdinFile !== undefined;
  const carried = mayCarry ? await ctx.master!.startCarrying(plan.command, hasStdin, files) : null;
  if (carried) return { child: carried, carried: true };
  if (mayCarry) await ctx.master!.ensure();
  const how = ctx.master
    ? { kind: "client" as const, controlPath: ctx.master.controlPath }
    : { kind: "direct" as const };
  const child = spawn(ctx.options.sshPath ?? "ssh", {
    args: buildSshArgv(ctx.target, ctx.options, { ...how, command: plan.command, stdin: hasStdin }),
    stdin: plan.pipeStdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...files,
    // Not detached: a new session costs a fork instead of a spawn (about 3 ms here). A terminal
    // Ctrl-C that reaches this client only closes its channel; the remote lifeline and the kill
    // path still stop the remote group.
  });
  return { child, carried: false };
}

/**
 * Feeds the client's stdin: the wrapper script, then the caller's stdin; without one, stdin
 * stays open (and empty) until the call ends when the wrapper's lifeline watches it. Ends when
 * `ended` aborts, whatever the source does.
 */
async function feedClient(
  child: Child,
  plan: CallPlan,
  opts: ExecOptions,
  ended: AbortSignal,
  gate: BecomeGate | null,
): Promise<void> {
  const stdin = child.stdin;
  if (!stdin) return;
  if (plan.preamble && !await writePreamble(stdin, plan.preamble, ended)) return;
  if (gate && plan.rest) {
    // sudo asks first (the gate answers it on this stream); the script follows once through.
    gate.limit(BECOME_GATE_MS);
    const through = gate.open.then(() => true, () => false);
    if (!await abortable(through, ended).catch(() => false)) return;
    if (!await writePreamble(stdin, plan.rest, ended)) return;
  }
  if (opts.stdin !== undefined) return await feed(stdin, opts.stdin, ended);
  if (opts.stdinFile !== undefined) return await feedFile(stdin, opts.stdinFile, ended);
  if (plan.lifeline && !ended.aborted) {
    await new Promise<void>((r) => ended.addEventListener("abort", () => r(), { once: true }));
  }
  await stdin.close().catch(() => {});
}

/** Writes `bytes` on the client's stdin (the become password, when sudo asks). */
async function sendOn(
  stdin: WritableStream<Uint8Array>,
  bytes: Uint8Array,
  ended: AbortSignal,
): Promise<void> {
  if (!await writePreamble(stdin, bytes, ended)) {
    throw new YonderError("The connection closed before sudo got its password");
  }
}

/** Writes the wrapper script; false when the client went away first or the call ended. */
async function writePreamble(
  stdin: WritableStream<Uint8Array>,
  preamble: Uint8Array,
  ended: AbortSignal,
): Promise<boolean> {
  const writer = stdin.getWriter();
  try {
    // Not waited for past the call's end: a reader that stopped reading never lets it settle.
    await abortable(writer.write(preamble), ended);
    writer.releaseLock();
    return true;
  } catch {
    writer.abort().catch(() => {});
    return false;
  }
}

function keepTail(prev: Uint8Array, chunk: Uint8Array): Uint8Array {
  if (chunk.length >= STDERR_TAIL_BYTES) return chunk.slice(chunk.length - STDERR_TAIL_BYTES);
  const keep = Math.min(prev.length, STDERR_TAIL_BYTES - chunk.length);
  const out = new Uint8Array(keep + chunk.length);
  out.set(prev.subarray(prev.length - keep));
  out.set(chunk, keep);
  return out;
}

/** One running client and what its frames said so far. */
class ChannelCall {
  readonly #ctx: SshExecContext;
  readonly #plan: CallPlan;
  readonly #opts: ExecOptions;
  readonly #child: Child;
  readonly #o: ClientOutcome;
  #errTail: Uint8Array = new Uint8Array(0);
  readonly #pgidKnown = deferred();
  readonly #exitSeen = deferred();
  readonly #endSeen = deferred();
  readonly #stopped = deferred();
  /** Aborts when the call is over: stdin feeding stops. */
  readonly #ended = new AbortController();
  /** Aborts when the output must not be waited for any longer. */
  readonly #drained = new AbortController();
  #status: ClientOutcome["status"] | null = null;
  /** The password-fed sudo's gate of this call, if it has one. */
  readonly #gate: BecomeGate | null;

  constructor(ctx: SshExecContext, plan: CallPlan, opts: ExecOptions, started: ClientStart) {
    this.#ctx = ctx;
    this.#plan = plan;
    this.#opts = opts;
    this.#child = started.child;
    this.#o = {
      status: { code: -1, signal: null },
      output: new CallOutput(opts),
      pgid: null,
      exit: null,
      cwd: null,
      killedBy: null,
      stderrTail: "",
      carried: started.carried,
      generation: ctx.master?.starts ?? 0,
    };
    this.#child.status.then((s) => (this.#status = s));
    const stdin = started.child.stdin;
    this.#gate = plan.rest && ctx.become && stdin
      ? new BecomeGate(ctx.become, plan.nonce, (bytes) => sendOn(stdin, bytes, this.#ended.signal))
      : null;
    // A refusal ends the call: nothing ran, and the client goes.
    this.#gate?.open.catch((e) => {
      this.#o.becomeError = e;
      this.#child.kill("SIGTERM");
    });
  }

  /** Scanners for the wrapper's frames on stdout (end) and stderr (pid, exit, cwd). */
  #scanners(): { out: FrameScanner; err: FrameScanner } {
    const o = this.#o;
    const err = new FrameScanner(this.#plan.nonce, (chunk) => {
      o.output.err(chunk);
      this.#errTail = keepTail(this.#errTail, chunk);
    }, (kind, value) => {
      if (kind === "pid") {
        const pgid = o.pgid = Number(value);
        this.#ctx.master?.watchGroup(pgid);
        this.#pgidKnown.resolve();
        o.output.started(this.#opts, (sig) => this.#signal(pgid, sig), this.#ended.signal);
      } else if (kind === "exit") {
        o.exit = Number(value);
        this.#exitSeen.resolve();
      } else if (kind === "cwd") o.cwd = value;
      else if (kind === "login") this.#ctx.master?.learnLogin(value);
    });
    const out = new FrameScanner(this.#plan.nonce, (chunk) => o.output.out(chunk), (kind) => {
      if (kind === "end") this.#endSeen.resolve();
    });
    return { out, err };
  }

  /** Reads both pipes through the scanners; `outDone` settles when stdout closed. */
  #pump(): { outDone: Promise<void>; all: Promise<unknown> } {
    const { out, err } = this.#scanners();
    const output = this.#o.output;
    const outDone = pump(this.#child.stdout, (c) => {
      out.push(c);
      return output.backpressure("out");
    }, this.#drained.signal).then(() => out.end());
    const gate = this.#gate;
    const errDone = pump(this.#child.stderr, (c) => {
      // Until sudo let the other shell through, stderr is sudo's (kept by the gate).
      const own = gate ? gate.push(c) : c;
      if (own) err.push(own);
      return output.backpressure("err");
    }, this.#drained.signal).then(() => {
      gate?.end();
      err.end();
    });
    return { outDone, all: Promise.all([outDone, errDone]) };
  }

  /** Sends a signal to the command's group (over the master: a plain connection cannot). */
  async #signal(pgid: number, signal: Deno.Signal): Promise<void> {
    const master = this.#ctx.master;
    if (!master) {
      throw new YonderError("Signals need a master connection (not available on this platform)");
    }
    await master.signalGroup(pgid, signal, this.#ctx.become);
  }

  /** The kill path's action: stop the remote group, then the client. */
  async #kill(why: KillReason): Promise<void> {
    const o = this.#o;
    // Whatever happens, nothing may hold the readers back any more.
    o.output.release();
    if (o.exit !== null) return; // The command ended on its own already.
    o.killedBy = why;
    this.#ctx.log(`${why}: stopping the remote command`);
    await killRemote(this.#ctx, this.#child, o, this.#pgidKnown.promise);
    this.#stopped.resolve();
  }

  /** Waits until the call is over: frames in, client gone, kill done, or session closed. */
  async #over(outDone: Promise<void>): Promise<void> {
    // A carried call's ssh (the master) outlives the session, and so does its stderr; its stdout
    // closes with the session. Ended without frames, the wrapper was killed (a command that
    // SIGKILLs its own process group): then this is the only end the call gets.
    const sessionClosed = this.#o.carried && this.#child.stdout
      ? outDone.then(() => sleep(LINGER_MS, this.#ended.signal))
      : new Promise<void>(() => {});
    const framesIn = Promise.all([
      this.#exitSeen.promise,
      this.#plan.endFrame ? this.#endSeen.promise : null,
    ]);
    await Promise.race([this.#child.status, framesIn, this.#stopped.promise, sessionClosed]);
  }

  /** Closes a client that lingers after its call (something it left holds the remote pipes). */
  async #closeLingering(): Promise<void> {
    const exited = this.#child.status;
    if (this.#o.carried || await withTimeout(exited, LINGER_MS) !== null) return;
    this.#ctx.log("the call ended but its channel stays open; closing it");
    this.#child.kill("SIGTERM");
    if (await withTimeout(exited, 2000) === null) this.#child.kill("SIGKILL");
    await exited;
  }

  /** Runs the call to its end and returns its outcome. */
  async run(): Promise<ClientOutcome> {
    const o = this.#o;
    const feeding = feedClient(this.#child, this.#plan, this.#opts, this.#ended.signal, this.#gate)
      .catch(() => {});
    const pumps = this.#pump();
    const killPath = armKillPath(this.#opts, (why) => this.#kill(why), o.output.guard);
    try {
      await this.#over(pumps.outDone);
      await this.#closeLingering();
      // A client still running (a master that carried the call and lives on) never closes its
      // pipes: stop reading them. One that exited closes them once read to the end: read on, for
      // its last output may still wait in the pipes behind a caller that held the reader back.
      if (this.#status === null) this.#drained.abort();
      await pumps.all;
      o.status = this.#status ?? { code: -1, signal: null };
      this.#ctx.log(this.#status ? `ssh exited (code ${o.status.code})` : "call done");
      this.#ended.abort();
      await feeding;
      // The caller's callbacks may still hold chunks (their promises): the call ends after them.
      await o.output.settled();
      await killPath.done();
    } catch (e) {
      // Nothing reads the output any more: stop the command.
      if (o.exit === null && o.pgid !== null) {
        await this.#ctx.master?.killGroup(o.pgid, this.#ctx.become);
      }
      if (!o.carried) this.#child.kill("SIGKILL");
      throw e;
    } finally {
      this.#finish(killPath);
    }
    // A callback of the caller threw: the command was stopped through the kill path; the call
    // rejects with that error.
    o.output.guard.rethrow();
    o.stderrTail = new TextDecoder().decode(this.#errTail);
    return o;
  }

  #finish(killPath: KillPath): void {
    this.#ended.abort();
    this.#drained.abort();
    killPath.disarm();
    const pgid = this.#o.pgid;
    if (pgid === null) return;
    if (this.#plan.keeper) this.#ctx.master?.endedGroup(pgid);
    else this.#ctx.master?.unwatchGroup(pgid);
  }
}

/** A started client: its process, and whether it is the master carrying the call. */
interface ClientStart {
  child: Child;
  carried: boolean;
}

/**
 * Runs one call's client to its end. With `mayCarry`, a master that is not up yet carries the
 * call as its own session (one ssh process for a one-shot call).
 */
export async function runClient(
  ctx: SshExecContext,
  plan: CallPlan,
  opts: ExecOptions,
  mayCarry: boolean,
): Promise<ClientOutcome> {
  const started = await startClient(ctx, plan, opts, mayCarry);
  return await new ChannelCall(ctx, plan, opts, started).run();
}

/**
 * The one kill path of a channel call: kill the remote process group over the master, then the
 * local client. A command whose group is not known yet has not started (or only just): closing
 * the client is enough then, and the remote lifeline stops anything that did start.
 */
async function killRemote(
  ctx: SshExecContext,
  child: Child,
  o: ClientOutcome,
  pgidKnown: Promise<void>,
): Promise<void> {
  const exited = child.status.then(() => {});
  if (o.pgid === null && ctx.master?.alive) {
    await withTimeout(Promise.race([pgidKnown, exited]), 250);
  }
  if (o.pgid !== null && o.exit === null && ctx.master) {
    await ctx.master.killGroup(o.pgid, ctx.become);
  } else if (o.pgid !== null && o.exit === null) {
    ctx.log(`no master: closing the connection of process group ${o.pgid}`);
  }
  if (o.pgid !== null && o.carried) return; // The group is gone; the master stays.
  // The group is gone (or never started): the client exits unless something that left the group
  // holds the remote pipes; closing the client closes the channel.
  if (o.pgid !== null && await withTimeout(exited, LINGER_MS) !== null) return;
  child.kill("SIGTERM");
  if (await withTimeout(exited, 1000) === null) {
    ctx.log("local ssh client still running; killing it");
    child.kill("SIGKILL");
  }
}
