/**
 * Persistent sessions: one long-lived shell on the remote, started once over the master, that
 * takes framed requests on its stdin. A call then costs a write and a few forks on the remote
 * instead of a new ssh process and channel.
 *
 * The session shell is bash (4.4 or later: job control and process substitutions with `$!`);
 * where there is none, exec uses a channel per call instead. Each call:
 * - gets fresh pipes: two relays (`cat`, started as process substitutions) carry its stdout and
 *   stderr to the session's own, and are killed when the next call starts, so a process that
 *   outlives its call (`setsid`, `nohup`) can never write into a later call; whatever such a
 *   process writes before that is dropped, because each call's output starts with a start frame
 *   written after the last call's relays are gone;
 * - runs in a child that leads its own process group, with `</dev/null` as stdin, so `exit`,
 *   `exec`, `kill -9 $$` or `exec >&-` in the command end only that child;
 * - ends when that child exits: the exit status and the end of stdout go through the relays,
 *   after everything the command wrote, and what the call left in its group gets SIGHUP a quarter
 *   second later (background jobs end, as on a closed terminal).
 *
 * Frames carry a fresh 128-bit nonce per call. cwd and env travel inside the request over the
 * channel (set by `cd` and `export` in the child), never on a command line.
 *
 * @module
 */

import type { ExecOptions, ExecResult, Logger } from "../core/environment.ts";
import { CallOutput, prologue } from "../core/exec_pipeline.ts";
import { YonderError } from "../core/errors.ts";
import { abortedBeforeStart, armKillPath, cwdError, stoppedStatus } from "../core/kill_path.ts";
import { deferred, withTimeout } from "../util/async.ts";
import { type Child, spawn } from "../util/process.ts";
import { shellQuote } from "../core/quote.ts";
import { formatTarget, type Target } from "../core/target.ts";
import { framePrefix, FrameScanner, newNonce } from "../posix/frames.ts";
import { type BecomeHop, FIRST_HOP, hopPreambleText } from "../posix/first_hop.ts";
import {
  commandText,
  cwdCheck,
  deferredHangup,
  envAssignments,
  remotePathExpr,
} from "../posix/remote_script.ts";
import { connectionLost } from "./connect_error.ts";
import type { CallRunner } from "./exec.ts";
import type { Master } from "./master.ts";
import { buildSshArgv, type SshConnectOptions } from "./options.ts";

const encoder = new TextEncoder();

/** No channel of the master is free for another session right now. */
class NoFreeChannel extends YonderError {
  override readonly name = "NoFreeChannel";

  constructor() {
    super("No channel of the master is free for another session");
  }
}

/**
 * What becomes the session shell (sent behind the first hop): bash if present, else sh (which
 * declines).
 */
export const SESSION_BOOT =
  "if command -v bash >/dev/null 2>&1; then exec bash --noprofile --norc; else exec sh; fi";

/** Rounds a relay serves before it is replaced (its argument list: the FIFO, repeated). */
const RELAY_ROUNDS = 128;

/**
 * The first request: check the shell, make the relays, define the call functions, say ready
 * (`ok PID fifo` or `ok PID procsub`, or `no WHY`). The session's own stderr moves to fd 7 and
 * fd 2 becomes /dev/null, so no message of the shell (a job's "Killed") reaches a call's output.
 *
 * Relays, where there is a /proc (Linux): two long-lived `cat`s (under the name `yonder-relay`,
 * so a `pkill cat` spares them, unless `cat` is BusyBox, which goes by its name) read a FIFO each, one round per call, the FIFO listed over and over
 * in their arguments: a round ends when every writer closed the FIFO. When the command has ended,
 * the session makes sure both relays hold the FIFO (their fd 3 is open: their open returned),
 * closes its own ends and waits until both are back to opening them (fd 3 closed: everything of
 * the call has been copied), then writes the exit status and the end of stdout itself. A relay still in its round after 50 ms means something the call left holds the
 * FIFO open: relays and FIFOs are replaced (that process keeps a FIFO nobody reads; its writes
 * fail). The wait polls /proc with a timed read on a private FIFO as a sleep without a fork.
 *
 * Without /proc, relays are process substitutions made for each call (bash 4.4: `$!`), killed
 * when the next call begins, which first writes start frames: what came before them on the
 * session's streams came after the last call's end, and is dropped.
 *
 * The relays run in the session shell's process group, which the keeper ends if this shell dies.
 */
export function setupScript(
  nonce: string,
  stateful: boolean,
  cwd?: string,
  relays: "auto" | "procsub" = "auto",
): string {
  const f = framePrefix(nonce).slice(1);
  const ready: Ready = (what) => `printf '\\036${f}ready:${what}\\n'`;
  return [
    ...shellSetup(ready, cwd),
    SWEEP_DEAD_SESSIONS,
    ...sessionDirSetup(ready, stateful),
    ...relaySetup(ready, relays),
    HANGUP_FUNCTION,
    `${ready("ok %s %s")} "$$" "$YM" >&7`,
    ``,
  ].join("\n");
}

/** Formats the setup's ready line (`what` is a printf format) under the session nonce's prefix. */
type Ready = (what: string) => string;

/** A printf of a call's frame of `kind`; the call's nonce is its first argument. */
function callFrame(kind: string): string {
  return `printf '\\036Y%s:${kind}\\n'`;
}

/** Setup, first lines: cd to `cwd`, stderr to fd 7, job control, and decline unless bash 4+. */
function shellSetup(ready: Ready, cwd: string | undefined): string[] {
  return [
    cwd !== undefined ? `cd -- ${remotePathExpr(cwd)} 2>/dev/null` : `:`,
    `exec 7>&2 2>/dev/null`,
    `set -m; trap '' PIPE`,
    `case $-:$BASH_VERSION in *m*:[4-9].*) ;; *) ${
      ready("no %s")
    } "\${BASH_VERSION:-sh}" >&7; exit 0;; esac`,
  ];
}

/** Setup: removes what killed sessions (no EXIT trap ran) left: dirs named after a gone shell. */
const SWEEP_DEAD_SESSIONS =
  `for d in "\${TMPDIR:-/tmp}"/yonder-s.*.*; do [ -d "$d" ] && [ -O "$d" ] || continue; ` +
  `p=\${d##*/yonder-s.}; p=\${p%%.*}; case $p in ''|*[!0-9]*) continue;; esac; ` +
  `case $(kill -0 "$p" 2>&1) in *"No such process"*) rm -rf -- "$d";; esac; done`;

/** Setup: the session's dir `$YD` (removed on exit), `$YS` when stateful, the relay variables. */
function sessionDirSetup(ready: Ready, stateful: boolean): string[] {
  return [
    `YD=$(mktemp -d "\${TMPDIR:-/tmp}/yonder-s.$$.XXXXXX") || { ${
      ready("no mktemp")
    } >&7; exit 0; }`,
    stateful ? `YS=$YD; export YS` : `YS=`,
    `yo=; ye=; yn=0`,
    `trap 'yk; rm -rf "$YD"' EXIT`,
  ];
}

/** Setup: the relays: over FIFOs where there is a /proc (and `relays` is auto), else procsub. */
function relaySetup(ready: Ready, relays: "auto" | "procsub"): string[] {
  return [
    `if [ ${relays} = auto ] && [ -r /proc/$$/stat ] && mkfifo "$YD/z" && exec 8<>"$YD/z" && ` +
    `ln -s "$(command -v cat)" "$YD/yonder-relay"; then YM=fifo`,
    ...FIFO_RELAY_FUNCTIONS,
    ...FIFO_CALL_FUNCTIONS,
    `ym || { ${ready("no fifo")} >&7; exit 0; }`,
    `else`,
    ...procsubRelays(ready),
    `fi`,
  ];
}

/** FIFO relays: the relay program `$YR`, and `yl`, `yk`, `ym` to check, kill and replace relays. */
const FIFO_RELAY_FUNCTIONS = [
  // A cat that picks what it does by its name (BusyBox) is no relay under another name.
  `YR=./yonder-relay; "$YD/yonder-relay" /dev/null </dev/null >/dev/null 2>&1 || YR=$(command -v cat)`,
  // yl PID: is relay PID ours and alive (not reaped with its pid reused, not a zombie)?
  `yl() { local s p; read -r _ _ s p _ < /proc/$1/stat && [ "$p" = "$$" ] && [ "$s" != Z ]; }`,
  // yk: kill the relays that still run (ones that ended by themselves may have had their
  // pids reused), and reap them.
  `yk() { [ -z "$yo" ] && return; yl $yo && kill -KILL $yo; yl $ye && kill -KILL $ye; wait $yo $ye; }`,
  // ym: new FIFOs and relays (the old FIFOs go: whatever still holds one cannot reach us).
  `ym() { yk; rm -f "$YD/o$yn" "$YD/e$yn"; ` +
  `yn=$((yn+1)); mkfifo "$YD/o$yn" "$YD/e$yn" || return 1; local i a=() b=(); ` +
  `for ((i=0;i<${RELAY_ROUNDS};i++)); do a[i]=o$yn; b[i]=e$yn; done; yr=0; set +m; ` +
  `( cd "$YD" && exec "$YR" "\${a[@]}" ) 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- & yo=$!; ` +
  `( cd "$YD" && exec "$YR" "\${b[@]}" ) >&7 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- & ye=$!; set -m; }`,
];

/** FIFO relays: `yq` and `yd`, which begin and end a call. */
const FIFO_CALL_FUNCTIONS = [
  // yq NONCE: begin a call: live relays with rounds left, then open the FIFOs (they wait).
  `yq() { if [ $yr -ge ${RELAY_ROUNDS} ] || ! yl $yo || ! yl $ye; then ym; fi; yr=$((yr+1)); ` +
  `exec 5>"$YD/o$yn" 6>"$YD/e$yn"; }`,
  // yd NONCE PGID STATUS: end a call: close the FIFOs, wait until both rounds ended (all the
  // call's output is out), then its status and the end of its stdout.
  // A relay's fd 3 shows up once its open of the FIFO returned: only then does closing ours
  // mean it will read all the call wrote before its end of file.
  `yd() { local n=0; yh "$2"; while ! { [ -e /proc/$yo/fd/3 ] && [ -e /proc/$ye/fd/3 ]; }; do ` +
  `n=$((n+1)); if [ $n -gt 250 ] && ! { yl $yo && yl $ye; }; then break; fi; read -t 0.0002 -u 8; done; ` +
  // The relays finish within microseconds: check without sleeping first, then sleep between.
  `exec 5>&- 6>&-; n=0; while [ -e /proc/$yo/fd/3 ] || [ -e /proc/$ye/fd/3 ]; do ` +
  `n=$((n+1)); if [ $n -gt 400 ]; then ym; break; elif [ $n -gt 150 ]; then read -t 0.0002 -u 8; fi; done; ` +
  `${callFrame("exit:%s")} "$1" "$3" >&7; ${callFrame("end")} "$1"; }`,
];

/** Relays made per call as process substitutions (bash 4.4+), with their `yk`, `yq` and `yd`. */
function procsubRelays(ready: Ready): string[] {
  return [
    `case $BASH_VERSION in [5-9].*|4.[4-9]*) ;; *) ${
      ready("no %s")
    } "$BASH_VERSION" >&7; exit 0;; esac`,
    `YM=procsub`,
    `yk() { [ -z "$yo" ] || kill -KILL $yo $ye; }`,
    // yq NONCE: begin a call: the last call's relays go (with whatever they still carry: that
    // came after its end), the start frames, fresh relays.
    `yq() { if [ -n "$yo" ]; then kill -KILL $yo $ye; wait $yo $ye; fi; exec 5>&- 6>&-; ` +
    `${callFrame("start")} "$1"; ${callFrame("start")} "$1" >&7; ` +
    `exec 5> >(exec cat); yo=$!; exec 6> >(exec cat >&7 5>&-); ye=$!; }`,
    // yd NONCE PGID STATUS: end a call: its status and the end of its stdout through the relays,
    // after all its output (straight out if a relay is gone).
    `yd() { yh "$2"; { ${callFrame("exit:%s")} "$1" "$3" >&6 && ${
      callFrame("end")
    } "$1" >&5; } || ` +
    `{ ${callFrame("exit:%s")} "$1" "$3" >&7; ${callFrame("end")} "$1"; }; }`,
  ];
}

/**
 * yh PGID: the deferred hangup, if the call left something in its group.
 *
 * Both `disown`s keep the shell's job table small. The call's job was waited for, which marks it
 * for removal at the next fork; but `kill -0 -PGID` finds that job by its pid and clears the mark,
 * and a shell reading a script never reports a finished background job by itself. The job then
 * stayed until after the next call's job had taken the slot above it, so the table's last slot
 * moved up by one a call, and bash's scans of the table (at each fork and wait) made every call
 * slower and the shell bigger. Dropped first, the job cannot come back; the group check then is a
 * plain killpg. The hangup helper, never waited for, is dropped for the same reason.
 */
const HANGUP_FUNCTION = `yh() { disown "$1"; if kill -0 -"$1"; then ${
  deferredHangup('"$1"')
} disown $!; fi; }`;

/** What one request runs. */
export interface SessionRequest {
  /** Nonce of the call. */
  nonce: string;
  /** argv or a script. */
  command: readonly string[] | string;
  /** Working directory. */
  cwd?: string | undefined;
  /** Variables to export. */
  env: Record<string, string>;
  /** The session keeps cwd and exports across calls. */
  stateful: boolean;
}

/** The shell text of one request, written to the session's stdin. */
export function requestScript(r: SessionRequest): string {
  // The session shell ignores SIGPIPE; the command gets the default back, as over a channel.
  const inner: string[] = ["trap - PIPE"];
  if (r.cwd !== undefined) inner.push(cwdCheck(r.nonce, r.cwd, 2));
  inner.push(...envAssignments(r.env));
  if (!r.stateful) {
    inner.push(commandText(r.command));
  } else {
    // A stateful call runs in its own sh, which saves its cwd and exports when it exits. A
    // program given as argv cannot change either, so that sh execs it, as the other paths do:
    // no sh then waits for it, and none adds a job message ("Killed") to its output.
    const script = typeof r.command === "string" ? r.command : commandText(r.command);
    const body = `trap 'pwd >"$YS/cwd"; export -p >"$YS/env"' EXIT; eval "$1"`;
    inner.push(`exec sh -c ${shellQuote(body)} sh ${shellQuote(script)}`);
  }
  const f = framePrefix(r.nonce).slice(1);
  const run = `yq ${r.nonce}; ( ${inner.join("\n")}\n) </dev/null >&5 2>&6 5>&- 6>&- 7>&- 8>&- & ` +
    `yc=$!; printf '\\036${f}pid:%s\\n' $yc >&7; wait $yc;`;
  const lines = r.stateful
    ? [
      `${run} ys=$?`,
      `if [ -s "$YS/cwd" ]; then cd -- "$(cat "$YS/cwd")"; . "$YS/env"; rm -f "$YS/cwd" "$YS/env"; fi`,
      `yd ${r.nonce} $yc "$ys"`,
      ``,
    ]
    : [`${run} yd ${r.nonce} $yc $?`, ``];
  return lines.join("\n");
}

interface Call {
  output: CallOutput;
  out: FrameScanner;
  err: FrameScanner;
  outStarted: boolean;
  errStarted: boolean;
  outDone: boolean;
  errDone: boolean;
  exit: number | null;
  cwd: string | null;
  pgid: number | null;
  pgidKnown: Promise<void>;
  finished: Promise<void>;
  /** Aborts when the call is over (signals to its group are no longer sent). */
  over: AbortController;
}

/** One long-lived remote shell. Calls on it run one at a time. */
export class Session {
  /** The session keeps cwd and exports across calls. */
  readonly stateful: boolean;
  #master: Master;
  #target: Target;
  #log: Logger;
  #child: Child;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #release: () => void;
  #call: Call | null = null;
  #alive = true;
  #exited: Promise<void>;
  #pumps: Promise<unknown>;
  /** The master's start count when this session started. */
  readonly generation: number;
  #shellPid = 0;
  /** Calls begin with start frames (per-call relays): what comes before them is dropped. */
  #startFrames = false;
  #endCall: (() => void) | null = null;
  /** Whom the session shell runs as, when not the login user (its calls' kills go the same way). */
  #become: BecomeHop | null = null;

  private constructor(
    master: Master,
    target: Target,
    log: Logger,
    child: Child,
    release: () => void,
    stateful: boolean,
  ) {
    this.#master = master;
    this.#target = target;
    this.#log = log;
    this.#child = child;
    this.#release = release;
    this.stateful = stateful;
    this.generation = master.starts;
    this.#writer = child.stdin!.getWriter();
    this.#exited = child.status.then(async () => {
      this.#alive = false;
      // What the shell wrote before it ended (the call's last frames, perhaps) is still in the
      // pipes: let the readers take it first, unless something else holds them open.
      await withTimeout(this.#pumps, 250);
      this.#endCall?.();
    });
    this.#pumps = Promise.all([
      this.#pump(child.stdout!, "out"),
      this.#pump(child.stderr!, "err"),
    ]).finally(() => {
      this.#alive = false;
      this.#endCall?.();
    });
  }

  /** True while the session shell runs. */
  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Starts a session over `master` (which must be running). Holds one of the master's channels
   * for as long as it lives.
   */
  static async start(
    master: Master,
    target: Target,
    options: SshConnectOptions,
    log: Logger,
    how: {
      stateful: boolean;
      cwd?: string | undefined;
      signal?: AbortSignal | undefined;
      become?: BecomeHop | null;
    },
  ): Promise<Session> {
    // A stateless session only starts on a channel that is free now: sessions hold their channel
    // for good, and waiting here could starve the channel path of every environment on this
    // master. A stateful one was asked for explicitly, so it waits its turn.
    const release = how.stateful
      ? await master.channels.acquire(how.signal)
      : master.channels.tryAcquire();
    if (!release) throw new NoFreeChannel();
    let child: Child;
    try {
      child = spawn(options.sshPath ?? "ssh", {
        args: buildSshArgv(target, options, {
          kind: "client",
          controlPath: master.controlPath,
          command: FIRST_HOP,
          stdin: true,
        }),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      });
    } catch (e) {
      release();
      throw e;
    }
    const session = new Session(master, target, log, child, release, how.stateful);
    session.#become = how.become ?? null;
    const nonce = newNonce();
    let ready: string | null = null;
    const call = session.#begin(nonce, {}, true);
    const readySeen = deferred();
    call.err = new FrameScanner(nonce, (c) => call.output.stderr.push(c), (kind, value) => {
      if (kind === "ready") {
        ready = value;
        readySeen.resolve();
      }
    });
    await session.#write(
      hopPreambleText(SESSION_BOOT, nonce, how.become) +
        setupScript(nonce, how.stateful, how.cwd),
    ).catch(() => {});
    await withTimeout(Promise.race([readySeen.promise, session.#exited]), 15000);
    session.#call = null;
    const [state, detail, mode] = (ready ?? "").split(" ");
    if (state !== "ok") {
      const text = new TextDecoder().decode(call.output.stderr.bytes()).trim();
      await session.close();
      throw new YonderError(`Cannot start a session shell on "${formatTarget(target)}"`, {
        hint: state === "no"
          ? `Sessions need bash 4.4 or later; the remote has ${detail}`
          : `The remote said: ${text.split("\n").slice(-2).join(" ") || "nothing"}`,
      });
    }
    session.#shellPid = Number(detail);
    session.#startFrames = mode === "procsub";
    master.watchSession(session.#shellPid);
    // An idle session must not keep this process alive (a script that never calls close() still
    // exits; the watchdog and the unload handler stop the master). run() refs it for a call.
    child.unref();
    log(`session started${how.stateful ? " (stateful)" : ""}`);
    return session;
  }

  async #write(text: string): Promise<void> {
    await this.#writer.write(encoder.encode(text));
  }

  /** Registers the current call; its `finished` resolves when its frames have arrived. */
  #begin(nonce: string, opts: ExecOptions, setup = false): Call {
    const finished = deferred();
    const pgidKnown = deferred();
    const started = setup || !this.#startFrames;
    const call: Call = {
      output: new CallOutput(opts),
      outStarted: started,
      errStarted: started,
      outDone: setup,
      errDone: false,
      exit: null,
      cwd: null,
      pgid: null,
      pgidKnown: pgidKnown.promise,
      finished: finished.promise,
      over: new AbortController(),
      out: null!,
      err: null!,
    };
    const check = () => {
      if (call.outDone && call.errDone) finished.resolve();
    };
    call.out = new FrameScanner(nonce, (c) => {
      if (!call.outStarted || call.outDone) return this.#strayBytes(c);
      call.output.out(c);
    }, (kind) => {
      if (kind === "start") call.outStarted = true;
      else if (kind === "end") {
        call.outDone = true;
        check();
      }
    });
    call.err = new FrameScanner(nonce, (c) => {
      if (!call.errStarted || call.errDone) return this.#strayBytes(c);
      call.output.err(c);
    }, (kind, value) => {
      if (kind === "start") call.errStarted = true;
      else if (kind === "pid") {
        const pgid = call.pgid = Number(value); // The keeper watches the session shell.
        pgidKnown.resolve();
        call.output.started(
          opts,
          (sig) => this.#master.signalGroup(pgid, sig, this.#become),
          call.over.signal,
        );
      } else if (kind === "cwd") call.cwd = value;
      else if (kind === "exit") {
        call.exit = Number(value);
        call.errDone = true;
        check();
      }
    });
    this.#call = call;
    this.#endCall = finished.resolve;
    if (!this.#alive) finished.resolve();
    return call;
  }

  #strayBytes(chunk: Uint8Array): void {
    this.#log(
      `session: dropped ${chunk.length} bytes written outside any call (a process that outlived its call?)`,
    );
  }

  async #pump(stream: ReadableStream<Uint8Array>, which: "out" | "err"): Promise<void> {
    try {
      for await (const chunk of stream) {
        const call = this.#call;
        if (!call) {
          this.#strayBytes(chunk);
          continue;
        }
        (which === "out" ? call.out : call.err).push(chunk);
        const wait = call.output.backpressure(which);
        if (wait) await wait;
      }
    } catch {
      // The client was killed.
    }
    const call = this.#call;
    if (call) (which === "out" ? call.out : call.err).end();
  }

  /** Runs one call. The caller makes sure calls do not overlap. */
  async run(
    command: readonly string[] | string,
    opts: ExecOptions,
    env: Record<string, string>,
  ): Promise<ExecResult & { sessionEnded: boolean }> {
    const started = performance.now();
    if (!this.#alive) throw new YonderError("Session is not running");
    const nonce = newNonce();
    const call = this.#begin(nonce, opts);
    this.#child.ref();
    let killedBy: "timeout" | "abort" | null = null;
    const killPath = armKillPath(opts, (why) => {
      call.output.release();
      if (call.exit !== null) return Promise.resolve();
      killedBy = why;
      this.#log(`${why}: stopping the command's process group`);
      return this.#kill(call);
    }, call.output.guard);
    try {
      await this.#write(requestScript({
        nonce,
        command,
        cwd: opts.cwd,
        env,
        stateful: this.stateful,
      }));
    } catch {
      // The session died; the pumps end and `finished` resolves.
    }
    try {
      await call.finished;
      // The caller's callbacks may still hold chunks (their promises): the call ends after them.
      await call.output.settled();
      await killPath.done();
    } finally {
      killPath.disarm();
      // The session's readers serve the next call: nothing of this one may hold them.
      call.output.release();
      call.over.abort();
      this.#call = null;
      if (this.#alive) this.#child.unref();
    }
    // A callback of the caller threw: the command was stopped; the call rejects with that error.
    call.output.guard.rethrow();
    const sessionEnded = !(call.outDone && call.errDone);
    const result = (code: number, signal: Deno.Signal | null, timedOut: boolean) => ({
      ...call.output.result(started, code, signal, timedOut),
      sessionEnded,
    });
    if (call.cwd !== null) throw cwdError(call.cwd, opts.cwd ?? "", formatTarget(this.#target));
    // Stopped by the kill path (which fires only while no status was in): the status the shell
    // then reports is the signal's, not the command's own.
    if (killedBy) {
      const { code, signal } = stoppedStatus(killedBy);
      return result(code, signal, killedBy === "timeout");
    }
    if (call.exit !== null) return result(call.exit, null, false);
    // The session shell itself ended during the call (e.g. the command killed it).
    return result(255, null, false);
  }

  /** Kills the current command's process group over the master (never the session shell). */
  async #kill(call: Call): Promise<void> {
    if (call.pgid === null) await withTimeout(Promise.race([call.pgidKnown, call.finished]), 2000);
    if (call.exit !== null) return;
    if (call.pgid !== null) await this.#master.killGroup(call.pgid, this.#become);
    if (await withTimeout(call.finished, 5000) === null) {
      this.#log("session did not report after the kill; ending it");
      this.#child.kill("SIGKILL");
    }
  }

  /** Ends the session shell (EOF on its stdin) and gives its channel back. */
  async close(): Promise<void> {
    this.#child.ref();
    try {
      await this.#writer.close();
    } catch {
      // Already closed.
    }
    if (await withTimeout(this.#child.status, 3000) === null) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
    await this.#pumps;
    if (this.#shellPid) this.#master.unwatchGroup(this.#shellPid);
    this.#release();
  }
}

/** A pool of sessions for one master; calls take an idle session or wait for one. */
export class SessionPool implements CallRunner {
  #master: Master;
  #target: Target;
  #options: SshConnectOptions;
  #log: Logger;
  #size: number;
  #stateful: boolean;
  #idle: Session[] = [];
  #all = new Set<Session>();
  #starting = 0;
  #waiters: ((s: Session | null) => void)[] = [];
  #broken: unknown = null;
  #closed = false;
  #cwd: string | undefined;
  #become: BecomeHop | null;

  constructor(
    master: Master,
    target: Target,
    options: SshConnectOptions,
    log: Logger,
    how: { size: number; stateful: boolean; cwd?: string | undefined; become?: BecomeHop | null },
  ) {
    this.#cwd = how.cwd;
    this.#become = how.become ?? null;
    this.#master = master;
    this.#target = target;
    this.#options = options;
    this.#log = log;
    this.#size = how.stateful ? 1 : Math.max(1, how.size);
    this.#stateful = how.stateful;
  }

  /** True when calls running or waiting here already fill every session this pool may have. */
  get saturated(): boolean {
    return this.#demand >= this.#size;
  }

  #demand = 0;

  /** Why sessions cannot start here, if a start failed (the caller then uses the master path). */
  get broken(): unknown {
    return this.#broken;
  }

  async #take(signal?: AbortSignal): Promise<Session | null | "aborted"> {
    while (true) {
      const s = this.#idle.pop();
      if (s) {
        if (s.alive) return s;
        this.#all.delete(s);
        continue;
      }
      if (this.#broken) return null;
      if (this.#all.size + this.#starting < this.#size) {
        this.#starting++;
        try {
          await this.#master.ensure(signal);
          const session = await Session.start(
            this.#master,
            this.#target,
            this.#options,
            this.#log,
            {
              stateful: this.#stateful,
              cwd: this.#cwd,
              signal,
              become: this.#become,
            },
          );
          this.#all.add(session);
          return session;
        } catch (e) {
          // Stopped while connecting or waiting for a channel: that says nothing of sessions.
          if (signal?.aborted) return "aborted";
          if (e instanceof NoFreeChannel) {
            // Not broken: the channels are busy. Without a session of our own, run this call
            // over a channel (it queues there); otherwise wait for one of ours.
            if (this.#all.size === 0) return null;
          } else {
            if (this.#all.size === 0) {
              this.#broken = e;
              for (const w of this.#waiters.splice(0)) w(null);
            }
            this.#log(`session could not start: ${e instanceof Error ? e.message : e}`);
            if (this.#all.size === 0) return null;
          }
        } finally {
          this.#starting--;
        }
      }
      const s2 = await new Promise<Session | null | "aborted">((resolve) => {
        const waiter = (s: Session | null) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        };
        const onAbort = () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          resolve("aborted");
        };
        this.#waiters.push(waiter);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      if (s2) return s2;
      if (this.#broken) return null;
    }
  }

  #give(s: Session): void {
    if (this.#closed || !s.alive) {
      this.#all.delete(s);
      if (!s.alive) s.close().catch(() => {});
      const w = this.#waiters.shift();
      if (w) w(null);
      return;
    }
    const w = this.#waiters.shift();
    if (w) w(s);
    else this.#idle.push(s);
  }

  /**
   * Runs a call on a session; returns null when no session can run here (the caller falls back
   * to the master path). A session that ends during a call is replaced for the next call, and the
   * result says so with `sessionRestarted`.
   */
  async run(
    command: readonly string[] | string,
    opts: ExecOptions,
  ): Promise<(ExecResult & { sessionRestarted: boolean }) | null> {
    const { started, env } = prologue(command, opts, this.#log);
    if (opts.signal?.aborted) return { ...abortedBeforeStart(started), sessionRestarted: false };
    this.#demand++;
    let r;
    let generation = 0;
    try {
      const session = await this.#take(opts.signal);
      if (!session) return null;
      if (session === "aborted" || opts.signal?.aborted) {
        // Stopped while waiting for a session: nothing ran.
        if (session !== "aborted") this.#give(session);
        return { ...abortedBeforeStart(started), sessionRestarted: false };
      }
      generation = session.generation;
      try {
        r = await session.run(command, opts, env);
      } finally {
        this.#give(session);
      }
    } finally {
      this.#demand--;
    }
    const { sessionEnded, ...rest } = r;
    if (sessionEnded) {
      if (!await this.#master.check(generation)) {
        // Not the shell alone: the whole connection went. Same as on the channel path.
        await this.#master.invalidate();
        throw connectionLost(this.#target, "during");
      }
      this.#log("the session shell ended during the call; the next call starts a new one");
    }
    return { ...rest, durationMs: performance.now() - started, sessionRestarted: sessionEnded };
  }

  /** Ends every session. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(null);
    await Promise.all([...this.#all].map((s) => s.close()));
    this.#all.clear();
    this.#idle = [];
  }
}
