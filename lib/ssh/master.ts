/**
 * One OpenSSH ControlMaster per target per process. The master authenticates once; every later
 * command is a channel multiplexed over it. yonder owns the master as a child process (not `-f`),
 * so it knows at once when the master dies (`kill -9`, OOM, network drop) and starts a new one on
 * the next call; its stdio never touches the caller's pipes (ssh logs to a file with `-E`).
 *
 * @module
 */

import { SshConnectError, type SshConnectErrorKind, tail } from "../errors.ts";
import { type Child, spawn } from "../process.ts";
import { formatTarget, sshDestination, type Target } from "../target.ts";
import type { Logger } from "../environment.ts";
import { ControlDir } from "./_control_dir.ts";
import { buildSshArgv, DEFAULT_CONNECT_TIMEOUT, type SshConnectOptions } from "./options.ts";
import { abortable, aborted, KILL_GRACE_MS, withTimeout } from "../_async.ts";
import { Keeper } from "./keeper.ts";
import { buildKillScript } from "./_remote_script.ts";

/** Channels one master carries at once by default (sshd's MaxSessions defaults to 10). */
export const DEFAULT_MAX_CHANNELS = 8;

/** A counting semaphore: at most `size` holders at once, the rest wait in order. */
export class Semaphore {
  #free: number;
  #waiters: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  /** Slots free right now. */
  get free(): number {
    return this.#free;
  }

  /** Takes a slot if one is free now (and nobody waits); else null. */
  tryAcquire(): (() => void) | null {
    if (this.#free <= 0 || this.#waiters.length > 0) return null;
    this.#free--;
    return this.#releaser();
  }

  /**
   * Waits for a slot and returns the function that gives it back; null if `signal` aborted first
   * (no slot is held then).
   */
  acquire(): Promise<() => void>;
  acquire(signal: AbortSignal | undefined): Promise<(() => void) | null>;
  async acquire(signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return null;
    if (this.#free > 0) {
      this.#free--;
      return this.#releaser();
    }
    const got = await new Promise<boolean>((resolve) => {
      const waiter = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(false);
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return got ? this.#releaser() : null;
  }

  /** The function that gives a slot back (once): to the next waiter, else to the pool. */
  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Changes in a directory, as a wait: `next(ms)` resolves on the next change (or one already seen
 * since the last call) or after `ms`. Null where the platform cannot watch.
 */
export function watchDir(path: string): { next(ms: number): Promise<void>; close(): void } | null {
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(path, { recursive: false });
  } catch {
    return null;
  }
  let seen = false;
  let wake = null as (() => void) | null;
  (async () => {
    try {
      for await (const _ of watcher) {
        seen = true;
        wake?.();
      }
    } catch {
      // Closed.
    }
  })();
  return {
    next(ms: number): Promise<void> {
      if (seen) {
        seen = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = null;
          seen = false;
          resolve();
        }
        wake = done;
      });
    },
    close() {
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
      wake?.();
    },
  };
}

/** Classifies ssh's messages into a connect error kind. */
export function classifySshError(text: string): SshConnectErrorKind {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(text)) {
    return "host_key_changed";
  }
  if (/No \S+ host key is known for|Host key verification failed/i.test(text)) {
    return "host_key_unknown";
  }
  if (
    /Permission denied \(|Too many authentication failures|No more authentication methods/i.test(
      text,
    )
  ) {
    return "auth";
  }
  if (/Connection refused/i.test(text)) return "refused";
  if (
    /Could not resolve hostname|Name or service not known|nodename nor servname|Temporary failure in name resolution|No address associated/i
      .test(text)
  ) return "dns";
  if (/No route to host|Network is unreachable|Host is unreachable/i.test(text)) {
    return "unreachable";
  }
  if (/timed out/i.test(text)) return "timeout";
  if (
    /Bad configuration option|Can't open user config file|command-line line|garbage at end of line|Unsupported option|bad .* specification|Bad port|terminating, \d+ bad configuration|Only a single -J option/i
      .test(text)
  ) return "config";
  return "unknown";
}

/** The command to run by hand to see what ssh does. */
export function diagnoseCommand(target: Target, o: SshConnectOptions): string {
  const parts = ["ssh", "-v", "-o", "BatchMode=yes"];
  const port = target.port ?? o.port;
  if (port !== undefined) parts.push("-p", String(port));
  if (o.identityFile) parts.push("-i", o.identityFile);
  if (o.configFile) parts.push("-F", o.configFile);
  if (o.jump) parts.push("-J", Array.isArray(o.jump) ? o.jump.join(",") : o.jump);
  if (o.knownHostsFile) parts.push("-o", `UserKnownHostsFile=${o.knownHostsFile}`);
  parts.push(sshDestination(target), "true");
  return parts.join(" ");
}

const MESSAGES: Record<SshConnectErrorKind, (host: string) => string> = {
  refused: (h) => `Connection to "${h}" refused: nothing listens on that port`,
  unreachable: (h) => `Host "${h}" is unreachable`,
  dns: (h) => `Cannot resolve host name of "${h}"`,
  auth: (h) => `Authentication to "${h}" failed: permission denied`,
  host_key_changed: (h) =>
    `Host key of "${h}" has changed: refusing to connect (possible man-in-the-middle)`,
  host_key_unknown: (h) => `Host key of "${h}" is not known: refusing to connect`,
  timeout: (h) => `Connection to "${h}" timed out`,
  ssh_missing: () => `The ssh program was not found`,
  config: (h) => `ssh configuration error for "${h}"`,
  unknown: (h) => `Cannot connect to "${h}"`,
};

function hintFor(
  kind: SshConnectErrorKind,
  diagnose: string,
  target: Target,
  o: SshConnectOptions,
): string {
  const port = target.port ?? o.port;
  switch (kind) {
    case "refused":
      return `Check the host and port, and that sshd runs there; diagnose with: ${diagnose}`;
    case "auth":
      return `Load a key with ssh-add or pass -i KEY, and check the user; diagnose with: ${diagnose}`;
    case "host_key_changed":
      return `If the change is expected, remove the old key with: ssh-keygen -R HOST (then retry)`;
    case "host_key_unknown":
      return `Add the host key to known_hosts, after checking it: ssh-keyscan ${
        port !== undefined && port !== 22 ? `-p ${port} ` : ""
      }${target.host} >> ${o.knownHostsFile ?? "~/.ssh/known_hosts"} (or drop the strict policy)`;
    case "ssh_missing":
      return `Install the OpenSSH client (apt-get install openssh-client) or pass its path`;
    case "dns":
      return `Check the host name or your ~/.ssh/config alias; diagnose with: ${diagnose}`;
    default:
      return `Diagnose with: ${diagnose}`;
  }
}

/** Builds a {@linkcode SshConnectError} from ssh's messages. */
export function connectError(
  target: Target,
  o: SshConnectOptions,
  text: string,
  exitCode: number | null,
  kind: SshConnectErrorKind = classifySshError(text),
): SshConnectError {
  // The port may come from the options (-p) rather than the target: messages name it.
  const host = formatTarget({ ...target, port: target.port ?? o.port });
  const stderrTail = tail(text);
  const detail = kind === "unknown" && stderrTail ? `: ${stderrTail.split("\n").at(-1)}` : "";
  const missingKey = /Identity file (.*) not accessible/.exec(text)?.[1];
  return new SshConnectError({
    kind,
    host,
    message: MESSAGES[kind](host) + detail +
      (kind === "auth" && missingKey ? ` (the identity file ${missingKey} does not exist)` : ""),
    exitCode,
    stderrTail,
    hint: hintFor(kind, diagnoseCommand(target, o), target, o),
  });
}

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
    if (this.#closed) throw new Error("Master is closed");
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
    if (this.#closed) throw new Error("Master is closed");
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

  async #spawnMaster(
    carry: { command: string; stdin: boolean } | null,
    files: { stdinFile?: string; stdoutFile?: string } = {},
  ): Promise<Child> {
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
    let child: Child;
    try {
      child = spawn(this.options.sshPath ?? "ssh", {
        args: argv,
        stdin: carry?.stdin ? "piped" : "null",
        stdout: carry ? "piped" : "null",
        stderr: carry ? "piped" : "null",
        detached: true,
        ...files,
      });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw connectError(this.target, this.options, "", null, "ssh_missing");
      }
      throw e;
    }
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
    let exited: { code: number } | null = null;
    child.status.then((s) => (exited = s));
    const limitMs = ((this.options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT) + 20) * 1000;
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
      this.#startKeeper();
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
    if (!this.#dir) throw new Error("This master has no socket directory of its own");
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
   * Stops remote process group `pgid`: TERM, then KILL after the grace period. The keeper does it
   * when it runs; otherwise a kill command goes over a channel of its own.
   */
  async killGroup(pgid: number): Promise<void> {
    const keeper = this.#keeper;
    if (keeper?.alive && await keeper.kill(pgid)) {
      this.#log(`remote process group ${pgid} stopped`);
      return;
    }
    const release = await this.killChannels.acquire();
    try {
      const killer = spawn(this.options.sshPath ?? "ssh", {
        args: buildSshArgv(this.target, this.options, {
          kind: "client",
          controlPath: this.#controlPath,
          command: buildKillScript(pgid, KILL_GRACE_MS),
          stdin: false,
        }),
      });
      const done = await withTimeout(killer.status, KILL_GRACE_MS + 5000);
      if (!done) killer.kill("SIGKILL");
      this.#log(`remote process group ${pgid} stopped (kill exit ${done?.code ?? "timeout"})`);
    } finally {
      release();
    }
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

interface Entry {
  master: Promise<Master>;
  refs: number;
}

const registry = new Map<string, Entry>();

/** What identifies a connection: two masters with equal keys would be the same connection. */
export function registryKey(target: Target, o: SshConnectOptions): string {
  // Only what changes the connection: logger, verbosity and the like do not split masters.
  const conn = [
    o.port,
    o.identityFile,
    o.configFile,
    o.jump,
    o.options,
    o.hostKeyPolicy ?? "accept-new",
    o.knownHostsFile,
    o.connectTimeout,
    o.serverAliveInterval,
    o.serverAliveCountMax,
    o.sshPath,
  ];
  return JSON.stringify([target.user ?? null, target.host, target.port ?? null, conn]);
}

/** A shared master and the function that gives it back. */
export interface MasterLease {
  /** The master. */
  master: Master;
  /** Gives the master back; the last holder stops it. */
  release(): Promise<void>;
}

/**
 * Takes the process's master for `target` with `options`, creating it (not yet connected) if
 * needed. Every holder shares one master; the last `release()` closes it.
 */
export async function acquireMaster(
  target: Target,
  options: SshConnectOptions,
  log: Logger,
  maxChannels?: number,
  index = 0,
): Promise<MasterLease> {
  const key = registryKey(target, options) + (options.persist !== undefined ? "#persist" : "") +
    (index > 0 ? `#${index}` : "");
  let entry = registry.get(key);
  if (!entry) {
    // A persistent master lives in the per-user directory: no socket dir (nor watchdog) of ours.
    const master = options.persist !== undefined
      ? Promise.resolve(new Master(null, target, options, log, maxChannels))
      : ControlDir.acquire().then((dir) => {
        try {
          return new Master(dir, target, options, log, maxChannels);
        } catch (e) {
          ControlDir.release(dir);
          throw e;
        }
      });
    entry = { master, refs: 0 };
    registry.set(key, entry);
    master.catch(() => registry.delete(key));
  }
  entry.refs++;
  const e = entry;
  const master = await e.master;
  let released = false;
  return {
    master,
    release: async () => {
      if (released) return;
      released = true;
      e.refs--;
      if (e.refs > 0) return;
      registry.delete(key);
      await master.close();
      if (master.dir) await ControlDir.release(master.dir);
    },
  };
}
