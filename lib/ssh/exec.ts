/**
 * Runs one command over the master: a `ssh -S <socket>` client per call, the command wrapped in a
 * small POSIX sh script (`posix/remote_script.ts`) that reports the remote process group, the end
 * of stdout and the exact exit status in frames. The call is over when those frames are in: the
 * wrapper has hung up the command's group, and a client that lingers (a process that outlived the
 * call still holds the remote pipes) is closed, so nothing can write into the call afterwards.
 *
 * This module plans the call, repeats connection setup when the command provably never started,
 * and turns the verdict on the outcome into a result or an error. Running the client is
 * `channel_call.ts`; what its outcome means is the pure `classify` of `outcome.ts`.
 *
 * Every wait is bounded: stdin feeding stops when the call ends, output is drained until the
 * client exits (which the call's end forces), and timeout and abort share one kill path: the
 * remote process group is killed over the master (TERM, then KILL), then the local client if it
 * still lingers.
 *
 * @module
 */

import type { ExecOptions, ExecResult } from "../core/environment.ts";
import { prologue } from "../core/exec_pipeline.ts";
import { tail, YonderError } from "../core/errors.ts";
import { formatTarget } from "../core/target.ts";
import { sleep } from "../util/async.ts";
import { checkStdioFiles } from "../core/file_stream.ts";
import { abortedBeforeStart, cwdError, stoppedStatus } from "../core/kill_path.ts";
import { isTransient } from "../core/retry.ts";
import { newNonce } from "../posix/frames.ts";
import { buildWrapperScript } from "../posix/remote_script.ts";
import { FIRST_HOP, hopPreambleParts } from "../posix/first_hop.ts";
import { becomeFailure } from "./become.ts";
import { connectError, connectionLost, loginShellHint } from "./connect_error.ts";
import {
  type CallPlan,
  type ClientOutcome,
  runClient,
  type SshExecContext,
} from "./channel_call.ts";
import { type CallFacts, type CallPath, classify, needs, type Verdict } from "./outcome.ts";

export type { SshExecContext } from "./channel_call.ts";
export { KILL_GRACE_MS } from "../util/async.ts";

/**
 * One way to run a call: a channel of a master ({@linkcode channelRunner}) or a persistent
 * session (`SessionPool`). `run` resolves to null when the call cannot run there now (nothing
 * ran; the caller tries the next runner).
 */
export interface CallRunner {
  /** Runs the call, or resolves to null when it cannot run here. */
  run(command: readonly string[] | string, options: ExecOptions): Promise<ExecResult | null>;
}

/** Calls over a channel of `ctx`'s master (or a connection of their own without one). */
export function channelRunner(ctx: SshExecContext): CallRunner {
  return { run: (command, options) => sshExec(ctx, command, options) };
}

const encoder = new TextEncoder();

/** What a call sends: the wrapper script, and what goes on the client's stdin. */
function planCall(
  ctx: SshExecContext,
  command: readonly string[] | string,
  opts: ExecOptions,
  env: Record<string, string>,
): CallPlan {
  const nonce = newNonce();
  const userStdin = opts.stdin !== undefined || opts.stdinFile !== undefined;
  // A running keeper watches the call's group and hangs up what it leaves; without one (a
  // one-shot call's master is still coming up) the wrapper does both itself.
  // A call of another user (become) watches and hangs up itself: the keeper runs as the login
  // user and could not signal its group.
  const keeper = !ctx.become && (ctx.master?.keeperReady ?? false);
  const lifeline = !userStdin && !keeper;
  const endFrame = opts.stdoutFile === undefined;
  // Once a call showed a POSIX login shell on a server that makes each session a group leader,
  // the wrapper can be the command line itself (no first hop: no extra exec, no script to read,
  // a stdin file handed to ssh as it is), unless env values would show on that line.
  const withEnv = Object.keys(env).length > 0;
  const direct = (ctx.master?.directLine ?? false) && !withEnv && !ctx.become;
  const script = buildWrapperScript({
    nonce,
    command,
    cwd: opts.cwd,
    ...(withEnv ? { env } : {}),
    reportLogin: !direct && ctx.master !== null,
    nullStdin: !userStdin,
    lifeline,
    hangup: !keeper,
    endFrame,
  });
  if (direct) {
    const pipeStdin = opts.stdin !== undefined || lifeline;
    return {
      nonce,
      keeper,
      lifeline,
      command: script,
      preamble: null,
      rest: null,
      pipeStdin,
      endFrame,
    };
  }
  // stdin carries the wrapper script first (see first_hop.ts), then the caller's stdin or, held
  // open, the lifeline.
  const { head, rest } = hopPreambleParts(script, nonce, ctx.become);
  return {
    nonce,
    keeper,
    lifeline,
    command: FIRST_HOP,
    preamble: encoder.encode(head),
    rest: rest === "" ? null : encoder.encode(rest),
    pipeStdin: true,
    endFrame,
  };
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
  // The call's own become wins over the environment's (null: none for this call).
  if (opts.become !== undefined) ctx = { ...ctx, become: opts.become };
  const plan = planCall(ctx, command, opts, env);
  if (opts.signal?.aborted) return abortedBeforeStart(started);
  // Only connection setup is ever repeated, never a command: a stream given as stdin is spent.
  const replayable = !(opts.stdin instanceof ReadableStream);
  for (let attempt = 1;; attempt++) {
    const outcome = await attemptCall(ctx, plan, opts);
    if (outcome === null) return abortedBeforeStart(started);
    const verdict = classify(await gatherFacts(ctx, outcome));
    if (verdict.kind !== "retry") return await settle(ctx, verdict, outcome, opts, started);
    if (!replayable || attempt >= 3 || opts.signal?.aborted) {
      throw verdict.error ?? connectionLost(ctx.target, "before", outcome.stderrTail);
    }
    const delay = verdict.error ? 250 * 2 ** (attempt - 1) : 50 * attempt;
    ctx.log(
      verdict.error
        ? `connect failed (attempt ${attempt}: ${verdict.error.message}); retrying in ${delay} ms`
        : `channel could not open (attempt ${attempt}); the command did not start, retrying`,
    );
    if (!verdict.error) await ctx.master?.invalidate();
    await sleep(delay, opts.signal);
  }
}

/** One attempt: a channel (or the starting master) and its client; null if aborted first. */
async function attemptCall(
  ctx: SshExecContext,
  plan: CallPlan,
  opts: ExecOptions,
): Promise<ClientOutcome | null> {
  const master = ctx.master;
  const mayCarry = master !== null && ctx.oneShot === true && !master.alive && !master.external;
  if (master && !mayCarry) await master.ensure(opts.signal);
  const release = master ? await master.channels.acquire(opts.signal) : () => {};
  // Aborted while waiting for a channel (or for the connection): nothing ran.
  if (!release) return null;
  try {
    return await runClient(ctx, plan, opts, mayCarry);
  } finally {
    release();
  }
}

/** The facts of an outcome, with what only the master can tell where the client cannot. */
async function gatherFacts(ctx: SshExecContext, o: ClientOutcome): Promise<CallFacts> {
  const path: CallPath = !ctx.master ? "direct" : o.carried ? "carried" : "channel";
  const facts: CallFacts = {
    path,
    cwd: o.cwd,
    killedBy: o.killedBy,
    exit: o.exit,
    pgid: o.pgid,
    sshCode: o.status.code,
    stderrTail: o.stderrTail,
  };
  const need = needs(facts);
  const master = ctx.master;
  if (!master) return facts;
  if (need.carrierFailure) {
    facts.carrierFailure = await master.carrierFailure();
    facts.transientCarrierFailure = facts.carrierFailure !== null &&
      isTransient(facts.carrierFailure);
  }
  if (need.masterLog) facts.masterLog = tail(await master.logText());
  if (need.masterAlive) facts.masterAlive = await master.check(o.generation);
  return facts;
}

/** sudo or doas refused before the wrapper ran (no group, no status): nothing ran. */
function becomeRefusal(
  ctx: SshExecContext,
  o: ClientOutcome,
  verdict: Exclude<Verdict, { kind: "retry" }>,
): unknown {
  if (o.becomeError !== undefined) return o.becomeError;
  if (!ctx.become || o.pgid !== null || o.exit !== null || verdict.kind === "stopped") return null;
  return becomeFailure(ctx.become, o.stderrTail);
}

/** Acts on a verdict: the result, or the error it means. */
async function settle(
  ctx: SshExecContext,
  verdict: Exclude<Verdict, { kind: "retry" }>,
  o: ClientOutcome,
  opts: ExecOptions,
  started: number,
): Promise<ExecResult> {
  const host = formatTarget(ctx.target);
  const refused = becomeRefusal(ctx, o, verdict);
  if (refused) throw refused;
  switch (verdict.kind) {
    case "cwd":
      throw cwdError(verdict.cwd, opts.cwd ?? "", host);
    case "stopped": {
      const { code, signal } = stoppedStatus(verdict.reason);
      return o.output.result(started, code, signal, verdict.reason === "timeout");
    }
    case "exit":
      if (o.exit === null) {
        ctx.log(`remote wrapper ended without a status (ssh exit ${o.status.code})`);
        // sudo or doas refused before the wrapper ran: nothing ran.
        const refused = ctx.become && o.pgid === null
          ? becomeFailure(ctx.become, o.stderrTail)
          : null;
        if (refused) throw refused;
      }
      return o.output.result(started, verdict.code, null, false);
    case "fail":
      throw verdict.error;
    case "lost":
      if (o.carried) throw connectionLost(ctx.target, "during-carried", verdict.stderrTail);
      await ctx.master?.invalidate();
      throw connectionLost(ctx.target, "during", tail(verdict.stderrTail));
    case "connect":
      throw connectError(ctx.target, ctx.options, o.stderrTail, 255);
    case "no-shell":
      throw new YonderError(`The remote shell on "${host}" did not run the command`, {
        hint: loginShellHint(o.stderrTail) ??
          `Check the account's login shell and startup files; ssh said: ${
            tail(o.stderrTail, 3) || "nothing"
          }`,
      });
  }
}
