/**
 * Persistent sessions: one long-lived shell on the remote, started once over the master, that
 * takes framed requests on its stdin. A call then costs a write and a few forks on the remote
 * instead of a new ssh process and channel.
 *
 * Each request runs the command in a child with its own process group (bash job control, else
 * `setsid`, else `perl setpgrp`), with `</dev/null` as stdin, so `exit`, `exec`, `kill -9 $$` or
 * `exec >&-` in the command end only that child. The session shell reports the child's process
 * group and exit status in frames carrying a fresh 128-bit nonce per call, on stderr, and ends the
 * call's stdout with an end frame. cwd and env travel inside the request over the channel (set by
 * `cd` and `export` in the child), never on a command line.
 *
 * @module
 */

import type { ExecOptions, ExecResult, Logger } from "../environment.ts";
import { filterEnv } from "../env_filter.ts";
import { SshConnectionLost, UsageError, YonderError } from "../errors.ts";
import { abortedBeforeStart, armKillPath, cwdError, stoppedStatus } from "../_kill_path.ts";
import { type Child, spawn } from "../process.ts";
import { shellJoin, shellQuote } from "../quote.ts";
import { formatTarget, type Target } from "../target.ts";
import { OutputSink } from "../_output.ts";
import { framePrefix, FrameScanner, newNonce } from "./_frames.ts";
import { buildKillScript, remotePathExpr } from "./_remote_script.ts";
import { KILL_GRACE_MS } from "./exec.ts";
import { type Master, withTimeout } from "./master.ts";
import { buildSshArgv, type SshConnectOptions } from "./options.ts";

const encoder = new TextEncoder();

/** No channel of the master is free for another session right now. */
class NoFreeChannel extends Error {
  override readonly name = "NoFreeChannel";
}

/** How the remote shell gives each command its own process group. */
export type GroupMethod = "jobs" | "setsid" | "perl" | "none";

/** The remote command that becomes the session shell: bash if present (job control), else sh. */
export const SESSION_BOOT =
  "if command -v bash >/dev/null 2>&1; then exec bash --noprofile --norc; else exec sh; fi";

/** The first request: pick the process-group method, make the state dir, say ready. */
export function setupScript(nonce: string, stateful: boolean, cwd?: string): string {
  const f = framePrefix(nonce).slice(1);
  return [
    cwd !== undefined ? `cd -- ${remotePathExpr(cwd)} 2>/dev/null` : `:`,
    `set -m 2>/dev/null`,
    `case $- in *m*) yk=jobs ;; *) set +m 2>/dev/null; if command -v setsid >/dev/null 2>&1; then yk=setsid; elif command -v perl >/dev/null 2>&1; then yk=perl; else yk=none; fi ;; esac`,
    stateful
      ? `YS=$(mktemp -d "\${TMPDIR:-/tmp}/yonder-s.XXXXXX") || exit 1; export YS; trap 'rm -rf "$YS"' EXIT`
      : `:`,
    // Ends a call: "yd NONCE STATUS" writes the exit frame on stderr and the end frame on stdout.
    // A function keeps each request short: bash reads its script from a pipe a byte at a time.
    `yd() { printf '\\036Y%s:exit:%s\\n' "$1" "$2" >&2; printf '\\036Y%s:end\\n' "$1"; }`,
    `printf '\\036${f}ready:%s %s\\n' "$yk" "$$" >&2`,
    ``,
  ].join("\n");
}

/** Names a POSIX shell runs without exec'ing a program (so `exec NAME` would fail or differ). */
const BUILTINS = new Set([
  ".",
  ":",
  "[",
  "alias",
  "bg",
  "break",
  "cd",
  "command",
  "continue",
  "echo",
  "eval",
  "exec",
  "exit",
  "export",
  "false",
  "fc",
  "fg",
  "getopts",
  "hash",
  "jobs",
  "kill",
  "local",
  "printf",
  "pwd",
  "read",
  "readonly",
  "return",
  "set",
  "shift",
  "test",
  "times",
  "trap",
  "true",
  "type",
  "ulimit",
  "umask",
  "unalias",
  "unset",
  "wait",
  "source",
  "builtin",
  "declare",
  "typeset",
  "let",
  "shopt",
  "enable",
  "history",
  "logout",
  "mapfile",
  "readarray",
  "dirs",
  "popd",
  "pushd",
  "disown",
  "suspend",
  "compgen",
  "complete",
  "caller",
  "help",
  "bind",
]);

/** True when `name` is (or may be) a shell builtin rather than a program to exec. */
export function isBuiltin(name: string): boolean {
  return BUILTINS.has(name) || !/^[A-Za-z0-9_./+-]+$/.test(name);
}

/** What one request runs. */
export interface SessionRequest {
  nonce: string;
  command: readonly string[] | string;
  cwd?: string | undefined;
  env: Record<string, string>;
  method: GroupMethod;
  stateful: boolean;
}

/** The shell text of one request, written to the session's stdin. */
export function requestScript(r: SessionRequest): string {
  const f = framePrefix(r.nonce).slice(1);
  const frame = (body: string) => `printf '\\036${f}${body}\\n'`;
  const inner: string[] = [];
  if (r.cwd !== undefined) {
    const d = remotePathExpr(r.cwd);
    inner.push(
      `cd -- ${d} 2>/dev/null || { if [ ! -e ${d} ]; then t=notfound; elif [ ! -d ${d} ]; then t=notdir; else t=denied; fi; ${
        frame("cwd:%s")
      } "$t" >&2; exit 1; }`,
    );
  }
  for (const [name, value] of Object.entries(r.env)) {
    inner.push(`${name}=${shellQuote(value)}; export ${name}`);
  }
  const script = typeof r.command === "string" ? r.command : shellJoin(r.command);
  const launch = {
    jobs: `exec`,
    setsid: `exec setsid`,
    perl: `exec perl -e 'setpgrp(0,0); exec {$ARGV[0]} @ARGV or exit 127'`,
    none: `exec`,
  }[r.method];
  if (!r.stateful && typeof r.command !== "string" && !isBuiltin(r.command[0] ?? "")) {
    // An argv whose program is not a shell builtin replaces the child directly: one fork and one
    // exec per call, the fast path.
    inner.push(`${launch} ${script}`);
  } else {
    // Scripts and builtins run in their own sh, so `$$`, `exit` and `exec` are theirs, as on the
    // channel path. A stateful call saves its cwd and exports when its shell exits.
    const body = r.stateful
      ? `trap 'pwd >"$YS/cwd"; export -p >"$YS/env"' EXIT; eval "$1"`
      : `eval "$1"`;
    inner.push(`${launch} sh -c ${shellQuote(body)} sh ${shellQuote(script)}`);
  }
  // No frame for the group: the kill path finds it as the session shell's only child, which
  // saves a packet per call.
  const run = `( ${inner.join("\n")}\n) </dev/null & { wait "$!"; } 2>/dev/null;`;
  const lines = r.stateful
    ? [
      `${run} ys=$?`,
      `if [ -s "$YS/cwd" ]; then cd -- "$(cat "$YS/cwd")" 2>/dev/null; . "$YS/env" 2>/dev/null; rm -f "$YS/cwd" "$YS/env"; fi`,
      `yd ${r.nonce} "$ys"`,
      ``,
    ]
    : [`${run} yd ${r.nonce} $?`, ``];
  return lines.join("\n");
}

interface Call {
  stdout: OutputSink;
  stderr: OutputSink;
  out: FrameScanner;
  err: FrameScanner;
  outDone: boolean;
  errDone: boolean;
  exit: number | null;
  cwd: string | null;
  opts: ExecOptions;
  done: () => void;
  finished: Promise<void>;
}

/** One long-lived remote shell. Calls on it run one at a time. */
export class Session {
  readonly stateful: boolean;
  #master: Master;
  #target: Target;
  #options: SshConnectOptions;
  #log: Logger;
  #child: Child;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #release: () => void;
  #call: Call | null = null;
  #alive = true;
  #exited: Promise<void>;
  #pumps: Promise<unknown>;
  /** The process-group method the remote supports. */
  method: GroupMethod = "none";
  /** The master's start count when this session started. */
  readonly generation: number;
  #shellPid = 0;

  private constructor(
    master: Master,
    target: Target,
    options: SshConnectOptions,
    log: Logger,
    child: Child,
    release: () => void,
    stateful: boolean,
  ) {
    this.#master = master;
    this.#target = target;
    this.#options = options;
    this.#log = log;
    this.#child = child;
    this.#release = release;
    this.stateful = stateful;
    this.generation = master.starts;
    this.#writer = child.stdin!.getWriter();
    this.#exited = child.status.then(() => {
      this.#alive = false;
    });
    this.#pumps = Promise.all([
      this.#pump(child.stdout!, "out"),
      this.#pump(child.stderr!, "err"),
    ]).finally(() => {
      this.#alive = false;
      this.#call?.done();
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
    stateful: boolean,
    cwd?: string,
  ): Promise<Session> {
    // A stateless session only starts on a channel that is free now: sessions hold their channel
    // for good, and waiting here could starve the channel path of every environment on this
    // master. A stateful one was asked for explicitly, so it waits its turn.
    const release = stateful ? await master.channels.acquire() : master.channels.tryAcquire();
    if (!release) throw new NoFreeChannel();
    let child: Child;
    try {
      child = spawn(options.sshPath ?? "ssh", {
        args: buildSshArgv(target, options, {
          kind: "client",
          controlPath: master.controlPath,
          command: SESSION_BOOT,
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
    const session = new Session(master, target, options, log, child, release, stateful);
    const nonce = newNonce();
    let method: string | null = null;
    const ready = session.#begin(nonce, {}, (kind, value) => {
      if (kind === "ready") method = value;
    }, true);
    await session.#write(setupScript(nonce, stateful, cwd));
    await withTimeout(Promise.race([ready, session.#exited]), 15000);
    if (method === null) {
      const text = new TextDecoder().decode(session.#call?.stderr.bytes() ?? new Uint8Array(0));
      await session.close();
      throw new YonderError(`Cannot start a session shell on "${formatTarget(target)}"`, {
        hint: `The remote said: ${text.trim().split("\n").slice(-2).join(" ") || "nothing"}`,
      });
    }
    const [m, pid] = (method as string).split(" ");
    session.method = m as GroupMethod;
    session.#shellPid = Number(pid);
    session.#call = null;
    // An idle session must not keep this process alive (a script that never calls close() still
    // exits; the watchdog and the unload handler stop the master). run() refs it for a call.
    child.unref();
    log(`session started (process groups: ${method}${stateful ? ", stateful" : ""})`);
    return session;
  }

  async #write(text: string): Promise<void> {
    await this.#writer.write(encoder.encode(text));
  }

  /** Registers the current call; the returned promise resolves when its frames have arrived. */
  #begin(
    nonce: string,
    opts: ExecOptions,
    onFrame: (kind: string, value: string) => void,
    setup = false,
  ): Promise<void> {
    const cap = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const call: Call = {
      stdout: new OutputSink(cap),
      stderr: new OutputSink(cap),
      outDone: setup,
      errDone: false,
      exit: null,
      cwd: null,
      opts,
      done,
      finished,
      out: null!,
      err: null!,
    };
    const check = () => {
      if (call.outDone && call.errDone) done();
    };
    call.out = new FrameScanner(nonce, (c) => {
      if (call.outDone) return this.#stray(c);
      call.stdout.push(c);
      opts.onStdout?.(c);
    }, (kind) => {
      if (kind === "end") {
        call.outDone = true;
        check();
      }
    });
    call.err = new FrameScanner(nonce, (c) => {
      if (call.errDone) return this.#stray(c);
      call.stderr.push(c);
      opts.onStderr?.(c);
    }, (kind, value) => {
      onFrame(kind, value);
      if (kind === "cwd") call.cwd = value;
      else if (kind === "exit" || kind === "ready") {
        if (kind === "exit") call.exit = Number(value);
        call.errDone = true;
        check();
      }
    });
    this.#call = call;
    return finished;
  }

  #stray(chunk: Uint8Array): void {
    this.#log(`session: ${chunk.length} stray bytes after a call ended (a background process?)`);
  }

  async #pump(stream: ReadableStream<Uint8Array>, which: "out" | "err"): Promise<void> {
    for await (const chunk of stream) {
      const call = this.#call;
      if (!call) {
        this.#stray(chunk);
        continue;
      }
      (which === "out" ? call.out : call.err).push(chunk);
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
    const finished = this.#begin(nonce, opts, () => {});
    const call = this.#call!;
    this.#child.ref();
    const killPath = armKillPath(opts, (why) => {
      this.#log(`${why}: stopping the command's process group`);
      return this.#kill(call, finished);
    });
    try {
      await this.#write(requestScript({
        nonce,
        command,
        cwd: opts.cwd,
        env,
        method: this.method as GroupMethod,
        stateful: this.stateful,
      }));
    } catch {
      // The session died; the pumps end and `finished` resolves.
    }
    try {
      await finished;
      await killPath.done();
    } finally {
      killPath.disarm();
      this.#call = null;
      this.#child.unref();
    }
    const sessionEnded = !(call.outDone && call.errDone);
    const result = (code: number, signal: Deno.Signal | null, timedOut: boolean) => ({
      code,
      signal,
      stdout: call.stdout.bytes(),
      stderr: call.stderr.bytes(),
      timedOut,
      truncated: call.stdout.truncated || call.stderr.truncated,
      durationMs: performance.now() - started,
      sessionEnded,
    });
    if (killPath.reason) {
      const { code, signal } = stoppedStatus(killPath.reason);
      return result(code, signal, killPath.reason === "timeout");
    }
    if (call.cwd !== null) throw cwdError(call.cwd, opts.cwd ?? "", formatTarget(this.#target));
    if (call.exit !== null) return result(call.exit, null, false);
    // The session shell itself ended during the call (e.g. the command killed it).
    return result(255, null, false);
  }

  /** Kills the current command's process group over the master (never the session shell). */
  async #kill(call: Call, finished: Promise<void>): Promise<void> {
    if (call.exit !== null) return;
    const release = await this.#master.killChannels.acquire();
    try {
      // The command is the session shell's only child (its group leader); wait briefly for it to
      // exist if the request was only just written.
      const find = [
        `p=; n=0`,
        `while [ -z "$p" ] && [ "$n" -lt 20 ]; do`,
        `  p=$(ps -eo pid=,ppid= | awk -v s=${this.#shellPid} '$2 == s { print $1; exit }')`,
        `  [ -n "$p" ] || { n=$((n+1)); sleep 0.1 2>/dev/null || sleep 1; }`,
        `done`,
        `[ -n "$p" ] || exit 0`,
      ].join("\n");
      const script = this.method === "none"
        ? `${find}\npkill -TERM -P "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; sleep 1; pkill -KILL -P "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; exit 0`
        : `${find}\n${buildKillScript("$p", KILL_GRACE_MS)}`;
      const killer = spawn(this.#options.sshPath ?? "ssh", {
        args: buildSshArgv(this.#target, this.#options, {
          kind: "client",
          controlPath: this.#master.controlPath,
          command: script,
          stdin: false,
        }),
      });
      if (!await withTimeout(killer.status, KILL_GRACE_MS + 5000)) killer.kill("SIGKILL");
    } finally {
      release();
    }
    if (await withTimeout(finished, 5000) === null) {
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
    this.#release();
  }
}

/** A pool of sessions for one master; calls take an idle session or wait for one. */
export class SessionPool {
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

  constructor(
    master: Master,
    target: Target,
    options: SshConnectOptions,
    log: Logger,
    size: number,
    stateful: boolean,
    cwd?: string,
  ) {
    this.#cwd = cwd;
    this.#master = master;
    this.#target = target;
    this.#options = options;
    this.#log = log;
    this.#size = stateful ? 1 : Math.max(1, size);
    this.#stateful = stateful;
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

  async #take(): Promise<Session | null> {
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
          await this.#master.ensure();
          const session = await Session.start(
            this.#master,
            this.#target,
            this.#options,
            this.#log,
            this.#stateful,
            this.#cwd,
          );
          this.#all.add(session);
          return session;
        } catch (e) {
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
      const s2 = await new Promise<Session | null>((r) => this.#waiters.push(r));
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
    if (typeof command !== "string" && command.length === 0) {
      throw new UsageError("Empty command: give a program and its arguments");
    }
    const { env, dropped } = filterEnv(opts.env, opts.allowEnv);
    for (const name of dropped) {
      this.#log(`env ${name} not sent: the name looks sensitive (allow it with allowEnv)`);
    }
    if (typeof command !== "string") shellJoin(command); // Refuse NUL bytes before anything runs.
    const started = performance.now();
    if (opts.signal?.aborted) return { ...abortedBeforeStart(started), sessionRestarted: false };
    this.#demand++;
    let r;
    let generation = 0;
    try {
      const session = await this.#take();
      if (!session) return null;
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
        const host = formatTarget(this.#target);
        throw new SshConnectionLost({
          host,
          message: `Connection to "${host}" was lost while the command ran; its outcome is unknown`,
          hint: "The next call reconnects; check the command's effects before running it again",
        });
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
