/**
 * One OpenSSH ControlMaster per target per process. The master authenticates once; every later
 * command is a channel multiplexed over it. yonder owns the master as a child process (not `-f`),
 * so it knows at once when the master dies (`kill -9`, OOM, network drop) and starts a new one on
 * the next call; its stdio never touches the caller's pipes (ssh logs to a file with `-E`).
 *
 * @module
 */

import { type Child, signalName, spawn } from "../util/process.ts";
import { ASK_SECONDS, prepareAskPass } from "./askpass.ts";
import type { Target } from "../core/target.ts";
import type { Logger } from "../core/environment.ts";
import { UsageError, YonderError } from "../core/errors.ts";
import type { ControlDir } from "./_control_dir.ts";
import { buildSshArgv, DEFAULT_CONNECT_TIMEOUT, type SshConnectOptions } from "./options.ts";
import {
  abortable,
  aborted,
  KILL_GRACE_MS,
  Semaphore,
  sleep,
  watchDir,
  withTimeout,
} from "../util/async.ts";
import { connectError } from "./connect_error.ts";
import { Keeper } from "./keeper.ts";
import { buildKillScript } from "../posix/remote_script.ts";
import {
  allowsDirectLine,
  type BecomeHop,
  FIRST_HOP,
  hopPreambleParts,
} from "../posix/first_hop.ts";
import { BECOME_GATE_MS, BecomeGate } from "./become_gate.ts";
import { newNonce } from "../posix/frames.ts";

/** Channels one master carries at once by default (sshd's MaxSessions defaults to 10). */
export const DEFAULT_MAX_CHANNELS = 8;

/** A ControlMaster for one target. Get one through {@linkcode acquireMaster}. */
export class Master {
  /** The target this master connects to. */
  readonly target: Target;
  /** The connection options. */
  readonly options: SshConnectOptions;
  /** Limits concurrent channels over this master. */
  readonly channels: Semaphore;
  /** Channels kept apart for killing timed-out commands (8 + 2 stays within MaxSessions 10). */
  readonly killChannels: Semaphore = new Semaphore(2);
  /** Null for a master used through `adopt()` only (a persistent one): nothing of ours to hold. */
  #dir: ControlDir | null;
  #controlPath: string;
  #logFile: string;
  #child: Child | null = null;
  #children = new Set<Child>();
  #carrierFailure: Promise<unknown> | null = null;
  #alive = false;
  #starting: Promise<void> | null = null;
  #log: Logger;
  #closed = false;
  /** How many times a master process was started (1 after the first call). */
  starts = 0;
  /** Things every holder of this master shares (the stateless session pool). */
  readonly shared: Map<string, unknown> = new Map();
  #onClose: (() => Promise<void>)[] = [];
  #keeper: Keeper | null = null;
  /** Calls may send the wrapper as the command line itself (see {@linkcode learnLogin}). */
  #directLine = false;
  /** A persistent master this process uses but does not own (`--persist`); how to restart it. */
  #external: (() => Promise<string>) | null = null;

  /** Runs `fn` when the master closes, before it stops (e.g. to end its sessions). */
  onClose(fn: () => Promise<void>): void {
    this.#onClose.push(fn);
  }

  constructor(
    dir: ControlDir | null,
    target: Target,
    options: SshConnectOptions,
    log: Logger,
    maxChannels = DEFAULT_MAX_CHANNELS,
  ) {
    this.#dir = dir;
    this.target = target;
    this.options = options;
    this.#log = log;
    this.#controlPath = dir?.socketPath() ?? "";
    this.#logFile = `${this.#controlPath}.log`;
    this.channels = new Semaphore(maxChannels);
  }

  /** The socket directory this master lives in. */
  get dir(): ControlDir | null {
    return this.#dir;
  }

  /** The ControlPath socket. */
  get controlPath(): string {
    return this.#controlPath;
  }

  /** The master's pid while it runs. */
  get pid(): number | null {
    return this.#alive ? this.#child?.pid ?? null : null;
  }

  /** True for a master another process owns (a persistent one): it is only ever adopted. */
  get external(): boolean {
    return this.#external !== null;
  }

  /** True while the master process runs. */
  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Makes sure a master runs: the first caller starts it, concurrent callers wait for that start.
   * A master that died is replaced. An abort of `signal` stops the wait (and the start, if this
   * caller began it) and rejects with the signal's reason.
   */
  async ensure(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new YonderError("Master is closed");
    if (this.#external) return await this.#ensureExternal();
    while (true) {
      signal?.throwIfAborted();
      if (this.#starting) {
        await (signal ? abortable(this.#starting, signal) : this.#starting);
        continue;
      }
      if (this.#alive && await this.#socketExists()) return;
      if (this.#alive) {
        this.#log(`master ${this.#controlPath}: socket vanished, restarting`);
        this.#child?.ref();
        this.#child?.kill("SIGTERM");
        await this.#child?.status;
      }
      const p = this.#start(signal);
      this.#starting = p;
      try {
        await p;
      } finally {
        this.#starting = null;
      }
      return;
    }
  }

  /**
   * Asks the master whether it is alive (`ssh -O check`). With `generation` (the value of
   * {@linkcode starts} when a call began), a master started since then does not count: the one
   * that carried the call is gone.
   */
  async check(generation?: number): Promise<boolean> {
    if (!this.#alive) return false;
    if (generation !== undefined && generation !== this.starts) return false;
    const child = this.#control("check");
    const status = await withTimeout(child.status, 5000);
    if (!status) child.kill("SIGKILL");
    return status?.code === 0;
  }

  /** Marks the master as dead (e.g. after a client could not reach it) so the next call restarts it. */
  async invalidate(): Promise<void> {
    if (this.#starting) return;
    if (this.#alive && await this.check()) return;
    if (this.#external) {
      this.#alive = false; // The next ensure() starts or finds another.
      return;
    }
    if (this.#child) {
      this.#child.ref();
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
  }

  async #socketExists(): Promise<boolean> {
    try {
      await Deno.lstat(this.#controlPath);
      return true;
    } catch {
      return false;
    }
  }

  async #start(signal?: AbortSignal): Promise<void> {
    const child = await this.#spawnMaster(null);
    await this.#awaitReady(child, signal);
  }

  /**
   * Starts a master that also runs `command` as its own session, so a one-shot call costs one ssh
   * process. Concurrent {@linkcode ensure} callers wait for its socket and multiplex over it; it
   * exits once its command and their channels are done. Returns null when a master runs or is
   * starting already (the caller then uses a normal channel).
   */
  async startCarrying(
    command: string,
    stdin: boolean,
    files: { stdinFile?: string; stdoutFile?: string } = {},
  ): Promise<Child | null> {
    if (this.#closed) throw new YonderError("Master is closed");
    if (this.#alive || this.#starting) return null;
    let ready!: () => void;
    this.#starting = new Promise<void>((r) => (ready = r));
    let child: Child;
    try {
      child = await this.#spawnMaster({ command, stdin }, files);
    } catch (e) {
      this.#starting = null;
      ready();
      throw e;
    }
    const readiness = this.#awaitReady(child);
    this.#carrierFailure = readiness.then(() => null, (e: unknown) => e);
    readiness.catch(() => {}).finally(() => {
      this.#starting = null;
      ready();
    });
    return child;
  }

  /** The connect error of the last carrying start, once it is known (null if it connected). */
  carrierFailure(): Promise<unknown> {
    return this.#carrierFailure ?? Promise.resolve(null);
  }

  /** ssh's own messages of the current master (its `-E` log). */
  logText(): Promise<string> {
    return Deno.readTextFile(this.#logFile).catch(() => "");
  }

  /** Removes the ask-pass helper of the master starting now, if it has one. */
  #askDone: (() => Promise<void>) | null = null;

  /**
   * True when the master came up carrying a call: that call watches itself (its own lifeline and
   * hangup), and a one-shot command needs no keeper beside it (one ssh process less per host).
   */
  #carrying = false;

  async #spawnMaster(
    carry: { command: string; stdin: boolean } | null,
    files: { stdinFile?: string; stdoutFile?: string } = {},
  ): Promise<Child> {
    this.#carrying = carry !== null;
    // A new connection may reach another account or server behind the same name: learn again.
    this.#directLine = false;
    if (this.starts > 0) {
      // A draining master may still hold the old path: every start gets a fresh one.
      await Deno.remove(this.#controlPath).catch(() => {});
      await Deno.remove(this.#logFile).catch(() => {});
      this.#controlPath = this.#ownDir().socketPath();
      this.#logFile = `${this.#controlPath}.log`;
    }
    await Deno.writeTextFile(this.#logFile, "");
    const argv = buildSshArgv(
      this.target,
      this.options,
      carry
        ? { kind: "carrier", controlPath: this.#controlPath, logFile: this.#logFile, ...carry }
        : { kind: "master", controlPath: this.#controlPath, logFile: this.#logFile },
    );
    this.#log(`master start: ssh ${argv.join(" ")}`);
    const ask = this.options.askPassTty !== undefined
      ? await prepareAskPass(this.#logFile, this.options.askPassTty)
      : null;
    let child: Child;
    try {
      child = spawn(this.options.sshPath ?? "ssh", {
        args: argv,
        ...(ask ? { env: ask.env } : {}),
        stdin: carry?.stdin ? "piped" : "null",
        stdout: carry ? "piped" : "null",
        stderr: carry ? "piped" : "null",
        detached: true,
        ...files,
      });
    } catch (e) {
      await ask?.remove();
      if (e instanceof Deno.errors.NotFound) {
        throw connectError(this.target, this.options, "", null, "ssh_missing");
      }
      throw e;
    }
    // ssh asks while it authenticates: the helper goes once the master is up or gone.
    if (ask) this.#askDone = ask.remove;
    if (!carry) child.unref();
    this.starts++;
    this.#child = child;
    this.#children.add(child);
    await this.#ownDir().watch(child.pid);
    child.status.then((s) => {
      this.#children.delete(child);
      this.#dir?.unwatch(child.pid);
      if (this.#child === child) {
        if (this.#alive) this.#log(`master ${this.#controlPath} exited (code ${s.code})`);
        this.#alive = false;
      }
    });
    return child;
  }

  async #awaitReady(child: Child, signal?: AbortSignal): Promise<void> {
    try {
      await this.#awaitSocket(child, signal);
    } finally {
      await this.#askDone?.();
      this.#askDone = null;
    }
  }

  async #awaitSocket(child: Child, signal?: AbortSignal): Promise<void> {
    let exited: { code: number } | null = null;
    child.status.then((s) => (exited = s));
    // A master that may ask a human waits for the answer too.
    const asks = this.options.askPassTty !== undefined ? ASK_SECONDS : 0;
    const limitMs = ((this.options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT) + 20 + asks) * 1000;
    const started = Date.now();
    // ssh creates the socket in our directory: a watch on it wakes us when that happens. Polling
    // every few ms instead cost tens of ms of CPU per connect, taken from ssh's own handshake on
    // a small machine. Polling stays as the fallback (and the check between events).
    const changes = watchDir(this.#ownDir().path);
    let delay = 1;
    try {
      while (true) {
        if (exited) {
          const text = await this.logText();
          throw connectError(this.target, this.options, text, (exited as { code: number }).code);
        }
        if (await this.#socketExists()) break;
        if (signal?.aborted) {
          // Stopped while it connects: nothing ran over it yet.
          child.ref();
          child.kill("SIGTERM");
          await child.status;
          throw signal.reason;
        }
        if (Date.now() - started > limitMs) {
          child.ref();
          child.kill("SIGKILL");
          await child.status;
          throw connectError(this.target, this.options, await this.logText(), null, "timeout");
        }
        await Promise.race([
          child.status,
          changes ? changes.next(100) : sleep(delay),
          ...(signal ? [aborted(signal)] : []),
        ]);
        delay = Math.min(delay + 1, 5);
      }
    } finally {
      changes?.close();
    }
    if (this.#child === child && !exited) {
      this.#alive = true;
      if (!this.#carrying) this.#startKeeper();
    }
    this.#log(`master ready after ${Date.now() - started} ms (pid ${child.pid})`);
  }

  /**
   * Uses the persistent master at `controlPath` (started by ssh itself, in the background, and
   * not owned by this process): calls multiplex over it, close() leaves it running, and if it is
   * gone `restart` starts (or finds) one again. Its keeper (when asked for) is this process's.
   */
  adopt(controlPath: string, restart: () => Promise<string>, how: { keeper: boolean }): void {
    this.#external = restart;
    this.#controlPath = controlPath;
    this.#logFile = `${controlPath}.log`;
    this.#alive = true;
    this.starts++;
    if (how.keeper) this.#startKeeper();
  }

  async #ensureExternal(): Promise<void> {
    if (this.#alive && await this.#socketExists()) return;
    this.#starting ??= this.#external!().then((path) => {
      this.#controlPath = path;
      this.#logFile = `${path}.log`;
      this.#alive = true;
      this.starts++;
    }).finally(() => (this.#starting = null));
    await this.#starting;
  }

  #ownDir(): ControlDir {
    if (!this.#dir) throw new YonderError("This master has no socket directory of its own");
    return this.#dir;
  }

  /** Starts the keeper (the remote lifeline) of the master that just came up. */
  #startKeeper(): void {
    if (Deno.build.os === "windows" || this.options.lifeline === false) return;
    try {
      const keeper = Keeper.start(this.target, this.options, this.#controlPath, this.#log);
      this.#keeper = keeper;
      keeper.ready().then((ok) => {
        if (ok) {
          this.#log(
            `keeper ready${keeper.timed ? "" : " (no bash: a dropped link is not noticed)"}`,
          );
        } else this.#log("keeper could not start: no remote lifeline on this master");
      });
    } catch (e) {
      this.#log(`keeper could not start: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** Has the keeper stop group `pgid` if this process or its connection goes away. */
  watchGroup(pgid: number): void {
    this.#keeper?.watchGroup(pgid);
  }

  /**
   * Has the keeper stop session shell `pid`, the groups of its calls and its relays if this
   * process or its connection goes away (or the relays if the shell dies).
   */
  watchSession(pid: number): void {
    this.#keeper?.watchSession(pid);
  }

  /**
   * What a call's `login` frame said about this connection's account: a POSIX login shell on a
   * server that makes each session a group leader lets later calls skip the first hop.
   */
  learnLogin(frame: string): void {
    if (allowsDirectLine(frame)) this.#directLine = true;
  }

  /** True once calls may send the wrapper as the command line itself. */
  get directLine(): boolean {
    return this.#directLine;
  }

  /** True when the keeper runs: it then watches calls and hangs up what they leave. */
  get keeperReady(): boolean {
    return this.#keeper?.isReady ?? false;
  }

  /**
   * The call in group `pgid` ended: the keeper forgets it and hangs up what it left in its group
   * (after a moment, so that a `nohup` started last has ignored the hangup by then).
   */
  endedGroup(pgid: number): void {
    this.#keeper?.ended(pgid);
  }

  /** Forgets a group or session watched with {@linkcode watchGroup} / {@linkcode watchSession}. */
  unwatchGroup(id: number): void {
    this.#keeper?.unwatch(id);
  }

  /**
   * Runs a short control command (a kill, a signal) over a channel of its own, on one of the
   * channels kept for that; a client that outlives `timeoutMs` is killed. Resolves to its status,
   * or null on the timeout.
   */
  async #runShort(
    command: string,
    timeoutMs: number,
    become?: BecomeHop | null,
  ): Promise<{ code: number } | null> {
    const release = await this.killChannels.acquire();
    try {
      const client = spawn(this.options.sshPath ?? "ssh", {
        args: buildSshArgv(this.target, this.options, {
          kind: "client",
          controlPath: this.#controlPath,
          command: FIRST_HOP,
          stdin: true,
        }),
        stdin: "piped",
        ...(become?.password !== undefined ? { stderr: "piped" as const } : {}),
      });
      feedShort(client, command, become).catch(() => {});
      const done = await withTimeout(client.status, timeoutMs);
      if (!done) client.kill("SIGKILL");
      return done;
    } finally {
      release();
    }
  }

  /** Sends `signal` to remote process group `pgid` once (a client of its own over the master). */
  async signalGroup(pgid: number, signal: Deno.Signal, become?: BecomeHop | null): Promise<void> {
    const name = signalName(signal);
    if (name === null) throw new UsageError(`Not a signal name: ${JSON.stringify(signal)}`);
    await this.#runShort(
      `kill -${name} -${pgid} 2>/dev/null || kill -${name} ${pgid} 2>/dev/null; :`,
      10_000,
      become,
    );
    this.#log(`sent ${signal} to remote process group ${pgid}`);
  }

  /**
   * Stops remote process group `pgid`: TERM, then KILL after the grace period. The keeper does it
   * when it runs; otherwise a kill command goes over a channel of its own.
   */
  async killGroup(pgid: number, become?: BecomeHop | null): Promise<void> {
    const keeper = this.#keeper;
    // The keeper runs as the login user: another user's group is killed as that user.
    if (!become && keeper?.alive && await keeper.kill(pgid)) {
      this.#log(`remote process group ${pgid} stopped`);
      return;
    }
    const done = await this.#runShort(
      buildKillScript(pgid, KILL_GRACE_MS),
      KILL_GRACE_MS + 5000,
      become,
    );
    this.#log(`remote process group ${pgid} stopped (kill exit ${done?.code ?? "timeout"})`);
  }

  #control(request: "check" | "exit"): Child {
    return spawn(this.options.sshPath ?? "ssh", {
      args: buildSshArgv(this.target, this.options, {
        kind: "control",
        controlPath: this.#controlPath,
        request,
      }),
    });
  }

  /**
   * Asks the master (started if need be) to add or remove a port forwarding (`ssh -O forward` /
   * `-O cancel` with `flag` -L, -R or -D and its spec); resolves to what ssh printed (the port
   * of a remote forwarding asked on port 0), or rejects with ssh's words.
   */
  async forwarding(
    request: "forward" | "cancel",
    flag: "-L" | "-R" | "-D",
    spec: string,
  ): Promise<string> {
    await this.ensure();
    const child = spawn(this.options.sshPath ?? "ssh", {
      args: buildSshArgv(this.target, this.options, {
        kind: "control",
        controlPath: this.#controlPath,
        request,
        forward: [flag, spec],
      }),
      stdout: "piped",
      stderr: "piped",
    });
    const [out, err, status] = await Promise.all([
      child.stdout ? new Response(child.stdout).text() : "",
      child.stderr ? new Response(child.stderr).text() : "",
      child.status,
    ]);
    // ssh exits 0 after some refusals ("forwarding request failed: port not forwarded").
    if (status.code !== 0 || /request failed|forwarding failed/i.test(err)) {
      const why = (err || out).trim() || `exit ${status.code}`;
      throw new YonderError(`ssh -O ${request} ${flag} ${spec}: ${why}`);
    }
    return out.trim();
  }

  /** Stops the master (`ssh -O exit`, then a signal if it lingers) and removes its files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const fn of this.#onClose.splice(0)) await fn().catch(() => {});
    this.#closed = true;
    await this.#starting?.catch(() => {});
    await this.#keeper?.close();
    this.#keeper = null;
    if (this.#external) return; // Persistent: it stays for later processes, and ends when idle.
    for (const other of this.#children) {
      if (other === this.#child) continue;
      other.ref();
      other.kill("SIGTERM");
      await withTimeout(other.status, 3000);
    }
    const child = this.#child;
    child?.ref(); // Awaiting an unref'd child's exit would not keep this process alive.
    if (child && this.#alive) {
      // We own the master: SIGTERM makes it close the connection and remove its socket, without
      // the cost of another ssh process for `-O exit`.
      child.kill("SIGTERM");
      if (!await withTimeout(child.status, 3000)) {
        child.kill("SIGKILL");
        await child.status;
      }
    } else if (child) {
      child.kill("SIGKILL");
      await child.status;
    }
    if (this.options.sshVerbose) {
      // -vv: hand ssh's own debug lines to the logger before the log file goes.
      for (const line of (await this.logText()).split(/\r?\n/)) {
        if (line.trim() !== "") this.#log(`ssh: ${line}`);
      }
    }
    await Deno.remove(this.#controlPath).catch(() => {});
    await Deno.remove(this.#logFile).catch(() => {});
  }
}

/**
 * Writes a short command's script on its client's stdin; with a become password, the first part,
 * then the password once sudo asks (through the gate on its stderr), then the rest.
 */
async function feedShort(client: Child, command: string, become?: BecomeHop | null): Promise<void> {
  const nonce = newNonce();
  const { head, rest } = hopPreambleParts(command, nonce, become);
  const stdin = client.stdin!;
  const write = async (text: string | Uint8Array) => {
    const w = stdin.getWriter();
    try {
      await w.write(typeof text === "string" ? new TextEncoder().encode(text) : text);
    } finally {
      w.releaseLock();
    }
  };
  try {
    await write(head);
    if (rest !== "" && become && client.stderr) {
      const gate = new BecomeGate(become, nonce, write);
      gate.limit(BECOME_GATE_MS);
      (async () => {
        for await (const chunk of client.stderr!) gate.push(chunk);
        gate.end();
      })().catch(() => gate.end());
      await gate.open;
      await write(rest);
    }
  } finally {
    await stdin.close().catch(() => {});
  }
}
