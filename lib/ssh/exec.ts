/**
 * Runs one command over the master: a `ssh -S <socket>` client per call, the command wrapped in a
 * small POSIX sh script that reports the remote process group and the exact exit status in frames
 * on stderr. Timeout and abort share one kill path: the remote process group is killed over the
 * master (TERM, then KILL), then the local client if it still lingers.
 *
 * @module
 */

import type { ExecOptions, ExecResult, Logger } from "../environment.ts";
import { filterEnv } from "../env_filter.ts";
import { SshConnectionLost, tail, UsageError, YonderError } from "../errors.ts";
import { type Child, spawn } from "../process.ts";
import { formatTarget, type Target } from "../target.ts";
import { feed, OutputSink, pump } from "../_output.ts";
import { abortedBeforeStart, armKillPath, cwdError, stoppedStatus } from "../_kill_path.ts";
import { FrameScanner, newNonce } from "./_frames.ts";
import { buildKillScript, buildRemoteCommand } from "./_remote_script.ts";
import { connectError, type Master, withTimeout } from "./master.ts";
import { buildSshArgv, NO_MASTER_SENTINEL, type SshConnectOptions } from "./options.ts";

/** How long the remote command gets between TERM and KILL. */
export const KILL_GRACE_MS = 2000;

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const STDERR_TAIL_BYTES = 8192;

interface ClientOutcome {
  status: { code: number; signal: Deno.Signal | null };
  stdout: OutputSink;
  stderr: OutputSink;
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
  const started = performance.now();
  if (typeof command !== "string" && command.length === 0) {
    throw new UsageError("Empty command: give a program and its arguments");
  }
  const { env, dropped } = filterEnv(opts.env, opts.allowEnv);
  for (const name of dropped) {
    ctx.log(`env ${name} not sent: the name looks sensitive (allow it with allowEnv)`);
  }
  const nonce = newNonce();
  const remote = buildRemoteCommand({ nonce, command, cwd: opts.cwd, env });
  if (opts.signal?.aborted) return abortedBeforeStart(started);
  const replayable = !(opts.stdin instanceof ReadableStream);
  for (let attempt = 1;; attempt++) {
    const master = ctx.master;
    const mayCarry = master !== null && ctx.oneShot === true && !master.alive;
    if (master && !mayCarry) await master.ensure();
    const release = master ? await master.channels.acquire() : () => {};
    let outcome: ClientOutcome;
    try {
      outcome = await runClient(ctx, nonce, remote, opts, mayCarry);
    } finally {
      release();
    }
    const verdict = await interpret(ctx, outcome, opts, started);
    if (verdict !== "retry") return verdict;
    if (!replayable || attempt >= 3) {
      throw new SshConnectionLost({
        host: formatTarget(ctx.target),
        message: `Cannot open a channel to "${formatTarget(ctx.target)}" over the master`,
        stderrTail: outcome.stderrTail,
        hint: "The connection was lost before the command started; retry the call",
      });
    }
    ctx.log(`channel could not open (attempt ${attempt}); the command did not start, retrying`);
    await master?.invalidate();
    await sleep(50 * attempt);
  }
}

async function runClient(
  ctx: SshExecContext,
  nonce: string,
  remote: string,
  opts: ExecOptions,
  mayCarry: boolean,
): Promise<ClientOutcome> {
  const hasStdin = opts.stdin !== undefined || opts.stdinFile !== undefined;
  const files = {
    ...(opts.stdinFile !== undefined ? { stdinFile: opts.stdinFile } : {}),
    ...(opts.stdoutFile !== undefined ? { stdoutFile: opts.stdoutFile } : {}),
  };
  let child = mayCarry ? await ctx.master!.startCarrying(remote, hasStdin, files) : null;
  const carried = child !== null;
  if (!child) {
    if (mayCarry) await ctx.master!.ensure();
    const args = ctx.master
      ? buildSshArgv(ctx.target, ctx.options, {
        kind: "client",
        controlPath: ctx.master.controlPath,
        command: remote,
        stdin: hasStdin,
      })
      : buildSshArgv(ctx.target, ctx.options, { kind: "direct", command: remote, stdin: hasStdin });
    child = spawn(ctx.options.sshPath ?? "ssh", {
      args,
      stdin: hasStdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      ...files,
      // Not detached: a new session costs a fork instead of a spawn (about 3 ms here). A terminal
      // Ctrl-C that reaches this client only closes its channel; the kill path still stops the
      // remote group through the master, which is detached.
    });
  }
  const cap = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
  const stdout = new OutputSink(cap);
  const stderr = new OutputSink(cap);
  let errTail: Uint8Array = new Uint8Array(0);
  const o: ClientOutcome = {
    status: { code: -1, signal: null },
    stdout,
    stderr,
    pgid: null,
    exit: null,
    cwd: null,
    killedBy: null,
    stderrTail: "",
    carried,
    generation: ctx.master?.starts ?? 0,
  };
  let pgidSeen: () => void = () => {};
  const pgidKnown = new Promise<void>((r) => (pgidSeen = r));
  const scanner = new FrameScanner(nonce, (chunk) => {
    stderr.push(chunk);
    opts.onStderr?.(chunk);
    errTail = keepTail(errTail, chunk);
  }, (kind, value) => {
    if (kind === "pid") {
      o.pgid = Number(value);
      pgidSeen();
    } else if (kind === "exit") o.exit = Number(value);
    else if (kind === "cwd") o.cwd = value;
  });
  const feeding = opts.stdin !== undefined && child.stdin
    ? feed(child.stdin, opts.stdin)
    : Promise.resolve();
  const pumping = Promise.all([
    pump(child.stdout, (c) => {
      stdout.push(c);
      opts.onStdout?.(c);
    }),
    pump(child.stderr, (c) => scanner.push(c)).then(() => scanner.end()),
  ]);

  const killPath = armKillPath(opts, (why) => {
    o.killedBy = why;
    ctx.log(`${why}: stopping the remote command`);
    return killRemote(ctx, child, o, pgidKnown);
  });
  try {
    o.status = await child.status;
    ctx.log(`ssh exited (code ${o.status.code})`);
    await pumping;
    await feeding;
    await killPath.done();
  } finally {
    killPath.disarm();
  }
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

/** The one kill path: kill the remote process group over the master, then the local client. */
async function killRemote(
  ctx: SshExecContext,
  child: Child,
  o: ClientOutcome,
  pgidKnown: Promise<void>,
): Promise<void> {
  const exited = child.status.then(() => {});
  if (o.pgid === null) await withTimeout(Promise.race([pgidKnown, exited]), 2000);
  if (o.pgid !== null && o.exit === null) {
    const script = buildKillScript(o.pgid, KILL_GRACE_MS);
    const release = ctx.master ? await ctx.master.killChannels.acquire() : () => {};
    try {
      const args = ctx.master
        ? buildSshArgv(ctx.target, ctx.options, {
          kind: "client",
          controlPath: ctx.master.controlPath,
          command: script,
          stdin: false,
        })
        : buildSshArgv(ctx.target, ctx.options, { kind: "direct", command: script, stdin: false });
      const killer = spawn(ctx.options.sshPath ?? "ssh", { args });
      const done = await withTimeout(killer.status, KILL_GRACE_MS + 5000);
      if (!done) killer.kill("SIGKILL");
      ctx.log(`remote process group ${o.pgid} stopped (kill exit ${done?.code ?? "timeout"})`);
    } finally {
      release();
    }
  }
  if (await withTimeout(exited, 3000) === null) {
    ctx.log("local ssh client still running; killing it");
    child.kill("SIGKILL");
  }
}

async function interpret(
  ctx: SshExecContext,
  o: ClientOutcome,
  opts: ExecOptions,
  started: number,
): Promise<ExecResult | "retry"> {
  const result = (code: number, signal: Deno.Signal | null, timedOut: boolean): ExecResult => ({
    code,
    signal,
    stdout: o.stdout.bytes(),
    stderr: o.stderr.bytes(),
    timedOut,
    truncated: o.stdout.truncated || o.stderr.truncated,
    durationMs: performance.now() - started,
  });
  if (o.killedBy) {
    const { code, signal } = stoppedStatus(o.killedBy);
    return result(code, signal, o.killedBy === "timeout");
  }
  if (o.exit !== null) return result(o.exit, null, false);
  if (o.cwd !== null) throw cwdError(o.cwd, opts.cwd ?? "", formatTarget(ctx.target));
  const text = o.stderrTail;
  const host = formatTarget(ctx.target);
  const master = ctx.master;
  if (master && o.carried) {
    // The call was the master: ssh's own messages are in its log, not on stderr.
    if (o.pgid === null) {
      const failure = await master.carrierFailure();
      if (failure) throw failure;
    } else {
      const log = tail(await master.logText());
      if (log !== "") {
        throw new SshConnectionLost({
          host,
          message: `Connection to "${host}" was lost while the command ran; its outcome is unknown`,
          stderrTail: log,
          hint: "Check the command's effects before running it again",
        });
      }
      return result(o.status.code, null, false);
    }
  } else if (!master) {
    if (o.pgid === null && o.status.code === 255) {
      throw connectError(ctx.target, ctx.options, text, 255);
    }
  } else {
    if (o.pgid === null && text.includes(NO_MASTER_SENTINEL)) return "retry";
    if (
      o.pgid === null &&
      /session request failed|Session open refused|open failed|administratively prohibited/i.test(
        text,
      )
    ) return "retry";
    if (!await master.check(o.generation)) {
      await master.invalidate();
      throw new SshConnectionLost({
        host,
        message: `Connection to "${host}" was lost while the command ran; its outcome is unknown`,
        stderrTail: tail(text),
        hint: "The next call reconnects; check the command's effects before running it again",
      });
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
