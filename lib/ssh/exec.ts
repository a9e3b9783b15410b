/**
 * Runs one command over the master: a `ssh -S <socket>` client per call, the command wrapped in a
 * small POSIX sh script (`_remote_script.ts`) that reports the remote process group, the end of
 * stdout and the exact exit status in frames. The call is over when those frames are in: the
 * wrapper has hung up the command's group, and a client that lingers (a process that outlived the
 * call still holds the remote pipes) is closed, so nothing can write into the call afterwards.
 *
 * Every wait is bounded: stdin feeding stops when the call ends, output is drained until the
 * client exits (which the call's end forces), and timeout and abort share one kill path: the
 * remote process group is killed over the master (TERM, then KILL), then the local client if it
 * still lingers.
 *
 * @module
 */

import type { ExecOptions, ExecResult, Logger } from "../core/environment.ts";
import { CallOutput, prologue } from "../core/exec_pipeline.ts";
import { tail, YonderError } from "../core/errors.ts";
import { type Child, spawn } from "../util/process.ts";
import { formatTarget, type Target } from "../core/target.ts";
import { feed, pump } from "../util/output.ts";
import { deferred, sleep, withTimeout } from "../util/async.ts";
import { checkStdioFiles } from "../core/file_stream.ts";
import { abortedBeforeStart, armKillPath, cwdError, stoppedStatus } from "../core/kill_path.ts";
import { FrameScanner, newNonce } from "../posix/frames.ts";
import { buildWrapperScript, envHeader } from "../posix/remote_script.ts";
import { connectError, connectionLost } from "./connect_error.ts";
import type { Master } from "./master.ts";
import { isTransient } from "../core/retry.ts";
import { buildSshArgv, NO_MASTER_SENTINEL, type SshConnectOptions } from "./options.ts";

export { KILL_GRACE_MS } from "../util/async.ts";

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
  /**
   * When no master runs yet, let the call itself be the master (one ssh process for a one-shot
   * call) instead of starting a master and then a channel.
   */
  oneShot?: boolean;
}

const STDERR_TAIL_BYTES = 8192;
/** How long a client may linger after its call ended before it is closed. */
const LINGER_MS = 250;

/** What one call needs besides the caller's options. */
interface CallPlan {
  nonce: string;
  /** stdin stays open (and empty) for the whole call: the wrapper's lifeline. */
  lifeline: boolean;
  /** The keeper watches the call and hangs up what it leaves (else the wrapper does). */
  keeper: boolean;
  script: string;
  /** Environment sent first on stdin, or null. */
  header: Uint8Array | null;
  /** stdin of the ssh client is a pipe from this process (else a file, or nothing). */
  pipeStdin: boolean;
  /** The wrapper writes an end frame on stdout. */
  endFrame: boolean;
}

interface ClientOutcome {
  status: { code: number; signal: Deno.Signal | null };
  output: CallOutput;
  pgid: number | null;
  exit: number | null;
  cwd: string | null;
  killedBy: "timeout" | "abort" | null;
  stderrTail: string;
  /** The call ran as the master's own session. */
  carried: boolean;
  /** The master's start count when the call began (to tell a restarted master apart). */
  generation: number;
}

/**
 * Runs `command` on the target and reports exactly what it did.
 *
 * @example
 * ```ts ignore
 * const r = await sshExec(ctx, ["printf", "%s\\n", "a b"], { timeoutMs: 5000 });
 * ```
 */
export async function sshExec(
  ctx: SshExecContext,
  command: readonly string[] | string,
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const { started, env } = prologue(command, opts, ctx.log);
  await checkStdioFiles(opts);
  const nonce = newNonce();
  const userStdin = opts.stdin !== undefined || opts.stdinFile !== undefined;
  const withEnv = Object.keys(env).length > 0;
  // A running keeper watches the call's group and hangs up what it leaves; without one (a
  // one-shot call's master is still coming up) the wrapper does both itself.
  const keeper = ctx.master?.keeperReady ?? false;
  const plan: CallPlan = {
    nonce,
    keeper,
    lifeline: !userStdin && !keeper,
    script: buildWrapperScript({
      nonce,
      command,
      cwd: opts.cwd,
      envOnStdin: withEnv,
      nullStdin: !userStdin,
      lifeline: !userStdin && !keeper,
      hangup: !keeper,
      endFrame: opts.stdoutFile === undefined,
    }),
    header: withEnv ? envHeader(nonce, env) : null,
    // stdin carries the environment block, the caller's stdin, or (held open) the lifeline; a
    // local stdin file goes to ssh directly, unless the environment must come first.
    pipeStdin: withEnv || opts.stdin !== undefined || (!userStdin && !keeper),
    endFrame: opts.stdoutFile === undefined,
  };
  if (opts.signal?.aborted) return abortedBeforeStart(started);
  const replayable = !(opts.stdin instanceof ReadableStream);
  for (let attempt = 1;; attempt++) {
    const master = ctx.master;
    const mayCarry = master !== null && ctx.oneShot === true && !master.alive &&
      !master.external;
    if (master && !mayCarry) await master.ensure(opts.signal);
    const release = master ? await master.channels.acquire(opts.signal) : () => {};
    // Aborted while waiting for a channel (or for the connection): nothing ran.
    if (!release) return abortedBeforeStart(started);
    let outcome: ClientOutcome;
    try {
      outcome = await runClient(ctx, plan, opts, mayCarry);
    } finally {
      release();
    }
    const verdict = await interpret(ctx, outcome, opts, started);
    if (!("retry" in verdict)) return verdict;
    // The command provably never started: only connection setup is repeated, never a command.
    if (!replayable || attempt >= 3 || opts.signal?.aborted) {
      throw verdict.retry ?? connectionLost(ctx.target, "before", outcome.stderrTail);
    }
    const delay = verdict.retry ? 250 * 2 ** (attempt - 1) : 50 * attempt;
    ctx.log(
      verdict.retry
        ? `connect failed (attempt ${attempt}: ${verdict.retry.message}); retrying in ${delay} ms`
        : `channel could not open (attempt ${attempt}); the command did not start, retrying`,
    );
    if (!verdict.retry) await master?.invalidate();
    await sleep(delay, opts.signal);
  }
}

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
  const carried = mayCarry ? await ctx.master!.startCarrying(plan.script, hasStdin, files) : null;
  if (carried) return { child: carried, carried: true };
  if (mayCarry) await ctx.master!.ensure();
  const args = ctx.master
    ? buildSshArgv(ctx.target, ctx.options, {
      kind: "client",
      controlPath: ctx.master.controlPath,
      command: plan.script,
      stdin: hasStdin,
    })
    : buildSshArgv(ctx.target, ctx.options, {
      kind: "direct",
      command: plan.script,
      stdin: hasStdin,
    });
  const child = spawn(ctx.options.sshPath ?? "ssh", {
    args,
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
 * Feeds the client's stdin: the environment block, then the caller's stdin; without one, stdin
 * stays open (and empty) until the call ends when the wrapper's lifeline watches it. Ends when
 * `ended` aborts, whatever the source does.
 */
async function feedClient(
  child: Child,
  plan: CallPlan,
  opts: ExecOptions,
  ended: AbortSignal,
): Promise<void> {
  const stdin = child.stdin;
  if (!stdin) return;
  if (plan.header) {
    const writer = stdin.getWriter();
    const stop = () => writer.abort().catch(() => {});
    ended.addEventListener("abort", stop, { once: true });
    try {
      await writer.write(plan.header);
      writer.releaseLock();
    } catch {
      return;
    } finally {
      ended.removeEventListener("abort", stop);
    }
  }
  if (opts.stdin !== undefined) return await feed(stdin, opts.stdin, ended);
  if (opts.stdinFile !== undefined) {
    const file = await Deno.open(opts.stdinFile);
    return await feed(stdin, file.readable, ended);
  }
  if (plan.lifeline && !ended.aborted) {
    await new Promise<void>((r) => ended.addEventListener("abort", () => r(), { once: true }));
  }
  await stdin.close().catch(() => {});
}

async function runClient(
  ctx: SshExecContext,
  plan: CallPlan,
  opts: ExecOptions,
  mayCarry: boolean,
): Promise<ClientOutcome> {
  const { child, carried } = await startClient(ctx, plan, opts, mayCarry);
  const output = new CallOutput(opts);
  let errTail: Uint8Array = new Uint8Array(0);
  const o: ClientOutcome = {
    status: { code: -1, signal: null },
    output,
    pgid: null,
    exit: null,
    cwd: null,
    killedBy: null,
    stderrTail: "",
    carried,
    generation: ctx.master?.starts ?? 0,
  };
  const pgidKnown = deferred();
  const exitSeen = deferred();
  const endSeen = deferred();
  const master = ctx.master;
  const errScanner = new FrameScanner(plan.nonce, (chunk) => {
    output.err(chunk);
    errTail = keepTail(errTail, chunk);
  }, (kind, value) => {
    if (kind === "pid") {
      o.pgid = Number(value);
      master?.watchGroup(o.pgid);
      pgidKnown.resolve();
    } else if (kind === "exit") {
      o.exit = Number(value);
      exitSeen.resolve();
    } else if (kind === "cwd") o.cwd = value;
  });
  const outScanner = new FrameScanner(plan.nonce, (chunk) => output.out(chunk), (kind) => {
    if (kind === "end") endSeen.resolve();
  });
  const ended = new AbortController();
  const drained = new AbortController();
  const feeding = feedClient(child, plan, opts, ended.signal).catch(() => {});
  const outPumped = pump(child.stdout, (c) => {
    outScanner.push(c);
    return output.backpressure("out");
  }, drained.signal).then(() => outScanner.end());
  const pumping = Promise.all([
    outPumped,
    pump(child.stderr, (c) => {
      errScanner.push(c);
      return output.backpressure("err");
    }, drained.signal).then(() => errScanner.end()),
  ]);
  // A carried call's ssh (the master) outlives the session, and so does its stderr; its stdout
  // closes with the session. Ended without frames, the wrapper was killed (a command that
  // SIGKILLs its own process group): then this is the only end the call gets.
  const sessionClosed = carried && child.stdout
    ? outPumped.then(() => sleep(LINGER_MS, ended.signal))
    : new Promise<void>(() => {});
  const stopped = deferred();
  const killPath = armKillPath(opts, async (why) => {
    if (o.exit !== null) return; // The command ended on its own already.
    o.killedBy = why;
    output.release();
    ctx.log(`${why}: stopping the remote command`);
    await killRemote(ctx, child, o, pgidKnown.promise, carried);
    stopped.resolve();
  }, output.guard);
  const exited = child.status;
  let status: ClientOutcome["status"] | null = null;
  exited.then((s) => (status = s));
  try {
    const framesIn = Promise.all([exitSeen.promise, plan.endFrame ? endSeen.promise : null]);
    await Promise.race([
      exited,
      framesIn,
      stopped.promise,
      sessionClosed,
    ]);
    if (carried) {
      // The call was the master's own session: the master stays (its keeper and later calls
      // use it) and so do its pipes, which carry nothing of this call after its frames.
    } else if (await withTimeout(exited, LINGER_MS) === null) {
      // The call is over, but something it left (setsid, nohup) still holds the remote pipes:
      // close the channel so it cannot write into anything.
      ctx.log("the call ended but its channel stays open; closing it");
      child.kill("SIGTERM");
      if (await withTimeout(exited, 2000) === null) child.kill("SIGKILL");
      await exited;
    }
    if (status === null || carried) drained.abort();
    await pumping;
    o.status = status ?? { code: -1, signal: null };
    ctx.log(status ? `ssh exited (code ${o.status.code})` : "call done; the master stays");
    ended.abort();
    await feeding;
    await killPath.done();
  } catch (e) {
    // Nothing reads the output any more: stop the command.
    if (o.exit === null && o.pgid !== null && master) await master.killGroup(o.pgid);
    if (!carried) child.kill("SIGKILL");
    throw e;
  } finally {
    ended.abort();
    drained.abort();
    killPath.disarm();
    if (o.pgid !== null) {
      if (plan.keeper) master?.endedGroup(o.pgid);
      else master?.unwatchGroup(o.pgid);
    }
  }
  // A callback of the caller threw: the command was stopped through the kill path; the call
  // rejects with that error.
  output.guard.rethrow();
  o.stderrTail = new TextDecoder().decode(errTail);
  return o;
}

function keepTail(prev: Uint8Array, chunk: Uint8Array): Uint8Array {
  if (chunk.length >= STDERR_TAIL_BYTES) return chunk.slice(chunk.length - STDERR_TAIL_BYTES);
  const keep = Math.min(prev.length, STDERR_TAIL_BYTES - chunk.length);
  const out = new Uint8Array(keep + chunk.length);
  out.set(prev.subarray(prev.length - keep));
  out.set(chunk, keep);
  return out;
}

/**
 * The one kill path: kill the remote process group over the master, then the local client. A
 * command whose group is not known yet has not started (or only just): closing the client is
 * enough then, and the remote lifeline stops anything that did start.
 */
async function killRemote(
  ctx: SshExecContext,
  child: Child,
  o: ClientOutcome,
  pgidKnown: Promise<void>,
  carried: boolean,
): Promise<void> {
  const exited = child.status.then(() => {});
  if (o.pgid === null && ctx.master?.alive) {
    await withTimeout(Promise.race([pgidKnown, exited]), 250);
  }
  if (o.pgid !== null && o.exit === null && ctx.master) {
    await ctx.master.killGroup(o.pgid);
  } else if (o.pgid !== null && o.exit === null) {
    ctx.log(`no master: closing the connection of process group ${o.pgid}`);
  }
  if (o.pgid !== null && carried) return; // The group is gone; the master stays.
  // The group is gone (or never started): the client exits unless something that left the group
  // holds the remote pipes; closing the client closes the channel.
  if (o.pgid !== null && await withTimeout(exited, LINGER_MS) !== null) return;
  child.kill("SIGTERM");
  if (await withTimeout(exited, 1000) === null) {
    ctx.log("local ssh client still running; killing it");
    child.kill("SIGKILL");
  }
}

async function interpret(
  ctx: SshExecContext,
  o: ClientOutcome,
  opts: ExecOptions,
  started: number,
): Promise<ExecResult | { retry: Error | null }> {
  const result = (code: number, signal: Deno.Signal | null, timedOut: boolean): ExecResult =>
    o.output.result(started, code, signal, timedOut);
  if (o.cwd !== null) throw cwdError(o.cwd, opts.cwd ?? "", formatTarget(ctx.target));
  // Stopped by the kill path (which fires only while no status was in).
  if (o.killedBy) {
    const { code, signal } = stoppedStatus(o.killedBy);
    return result(code, signal, o.killedBy === "timeout");
  }
  if (o.exit !== null) return result(o.exit, null, false);
  const text = o.stderrTail;
  const host = formatTarget(ctx.target);
  const master = ctx.master;
  if (master && o.carried) {
    // The call was the master: ssh's own messages are in its log, not on stderr.
    if (o.pgid === null) {
      // The master that was to carry the call did not connect: nothing ran.
      const failure = await master.carrierFailure();
      if (failure && isTransient(failure)) return { retry: failure as Error };
      if (failure) throw failure;
    } else {
      const log = tail(await master.logText());
      if (log !== "") throw connectionLost(ctx.target, "during", log);
      if (o.status.code === -1) {
        // The session closed without a status frame: as ssh itself reports such an end, 255.
        ctx.log("remote wrapper ended without a status (its session closed)");
        return result(255, null, false);
      }
      return result(o.status.code, null, false);
    }
  } else if (!master) {
    if (o.pgid === null && o.status.code === 255) {
      throw connectError(ctx.target, ctx.options, text, 255);
    }
  } else {
    if (o.pgid === null && text.includes(NO_MASTER_SENTINEL)) return { retry: null };
    if (
      o.pgid === null &&
      /session request failed|Session open refused|open failed|administratively prohibited/i.test(
        text,
      )
    ) return { retry: null };
    if (!await master.check(o.generation)) {
      await master.invalidate();
      throw connectionLost(ctx.target, "during", tail(text));
    }
  }
  if (o.pgid !== null) {
    // The wrapper itself was killed (e.g. the command signalled its own process group).
    ctx.log(`remote wrapper ended without a status (ssh exit ${o.status.code})`);
    return result(o.status.code, null, false);
  }
  throw new YonderError(`The remote shell on "${host}" did not run the command`, {
    hint: `Check the account's login shell and startup files; ssh said: ${
      tail(text, 3) || "nothing"
    }`,
  });
}
