/**
 * {@linkcode SshEnvironment}: the {@linkcode Environment} of a remote host, reached through the
 * system OpenSSH client and one ControlMaster per target per process.
 *
 * @module
 */

import type { Become, Environment, ExecOptions, ExecResult, Logger } from "../core/environment.ts";
import { UsageError, YonderError } from "../core/errors.ts";
import { formatTarget, parseTarget, type Target } from "../core/target.ts";
import { type CallRunner, channelRunner, type SshExecContext } from "./exec.ts";
import type { Master } from "./master.ts";
import { acquireMaster, type MasterLease } from "./registry.ts";
import type { SessionPool } from "./session.ts";
import type * as F from "../core/files.ts";
import { EnvironmentBase } from "../tree/environment_base.ts";
import { withRetry } from "../core/retry.ts";
import { type SshConnectOptions, validateConnectOptions } from "./options.ts";
import { type Forward, type ForwardSpec, openForward } from "./forward.ts";

/**
 * How an {@linkcode SshEnvironment} runs commands over its connection: sessions, channels and
 * masters. The connection itself is {@linkcode SshConnectOptions}.
 *
 * Capacity: each master (one SSH connection) carries at most `maxChannels` channels at once
 * (default 8; sshd's `MaxSessions` defaults to 10 and 2 more are kept for kills); of those,
 * `sessions` (default 6) hold persistent remote shells for the fast path. When everything is
 * busy, calls queue, unless `maxMasters` (default 1) allows opening another connection.
 *
 * @example
 * ```ts
 * import type { SshExecSettings } from "../../mod.ts";
 * // A busy agent backend: more shells, and up to 3 connections before calls queue.
 * const settings: SshExecSettings = { session: "stateless", sessions: 6, maxMasters: 3 };
 * ```
 */
export interface SshExecSettings {
  /**
   * Run every call as another user through `sudo -n` / `doas -n` on the host (a call's own
   * `become` wins; `null` there turns it off). Without a password the sessions are shells of that
   * user; a call as anyone else, or with a password, takes a channel of its own. Kills go through
   * the same become.
   */
  become?: Become;
  /** Most channels open at once over the master; more calls wait. Default 8. */
  maxChannels?: number;
  /**
   * For one-shot use (the CLI): do not connect in `open`; the first `exec` carries the connection
   * itself (one ssh process instead of a master plus a channel). Connection errors then surface
   * from that `exec`. Later calls start a normal master.
   */
  oneShot?: boolean;
  /**
   * How exec runs. `"stateless"` (default): over persistent remote shells (sessions), each call
   * starting from the target's cwd and env. `"stateful"`: one session that keeps `cd` and
   * `export` between calls, like a terminal. `false`: one channel per call over the master.
   * Calls with `stdin`, `stdinFile` or `stdoutFile` always take a channel of their own.
   */
  session?: "stateless" | "stateful" | false;
  /**
   * Most sessions at once (default 6 of the master's 8 channels, leaving 2 for transfers and
   * stdin calls; sshd's MaxSessions 10 also covers the 2 kill channels).
   */
  sessions?: number;
  /**
   * When every session and channel of the open masters is busy, open another master (another
   * connection, with its own sessions and channels) instead of queueing, up to this many.
   * Default 1.
   */
  maxMasters?: number;
}

/**
 * Options of {@linkcode SshEnvironment.open}: how to reach the host ({@linkcode SshConnectOptions})
 * and how to use the connection.
 *
 * @example
 * ```ts
 * import { SshEnvironment, type SshEnvironmentOptions } from "../../mod.ts";
 * const options: SshEnvironmentOptions = {
 *   port: 2222,
 *   session: "stateful", // `cd` and `export` carry over between calls, like a terminal
 *   logger: (line) => console.error(`[yonder] ${line}`),
 *   signal: AbortSignal.timeout(30_000), // give up connecting after 30 s
 * };
 * await using env = await SshEnvironment.open("deploy@build.example.com", options);
 * await env.exec("cd /srv/app && export NODE_ENV=production");
 * await env.exec(["npm", "run", "build"]); // runs in /srv/app with NODE_ENV set
 * ```
 */
export interface SshEnvironmentOptions extends SshConnectOptions, SshExecSettings {
  /** Receives yonder's debug lines (e.g. `(line) => console.error(line)`). */
  logger?: Logger;
  /**
   * Aborting stops `open` while it connects (it rejects with the signal's reason); calls are not
   * affected (each takes a signal of its own).
   */
  signal?: AbortSignal;
}

/** An extra master with its own sessions, opened when the first one is saturated. */
/**
 * The session code, loaded when an environment that may use sessions opens: a one-shot CLI call
 * (which never does) does not pay for loading it.
 */
let sessionModule: typeof import("./session.ts") | null = null;

/** Loads the session code if `options` may use sessions. */
async function loadSessions(options: SshEnvironmentOptions): Promise<void> {
  if (options.oneShot || options.session === false || sessionModule) return;
  sessionModule = await import("./session.ts");
}

interface Lane {
  lease: MasterLease;
  /** Calls over a channel of this lane's master. */
  channel: CallRunner;
  pool: SessionPool | null;
}

/**
 * A missing identity file makes ssh warn and go on with other keys, which fails as a generic
 * authentication error: say what is wrong before connecting. (Paths with ssh's `%` tokens are
 * left to ssh.)
 */
async function checkIdentityFile(path: string | undefined): Promise<void> {
  if (path === undefined || path.includes("%")) return;
  const home = Deno.env.get("HOME") ?? "";
  const local = path === "~" ? home : path.startsWith("~/") ? `${home}/${path.slice(2)}` : path;
  try {
    await Deno.stat(local);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return;
    throw new UsageError(`Identity file "${path}" does not exist`, {
      hint: "Pass the path of an existing private key with -i, or leave it out to use ssh-agent",
    });
  }
}

/** Who a become runs as, as a key (`sudo:root`). */
function becomeKey(b: Become): string {
  return `${b.method}:${b.user ?? "root"}`;
}

/** Default number of sessions per target. */
export const DEFAULT_SESSIONS = 6;

/**
 * A remote host. Open it once, run many commands over one OpenSSH connection, close it.
 *
 * @example
 * ```ts
 * import { SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("ssh://deploy@build.example.com/srv/app");
 * const r = await env.exec(["git", "status", "--porcelain"]);
 * console.log(r.code, new TextDecoder().decode(r.stdout));
 * ```
 */
export class SshEnvironment extends EnvironmentBase implements Environment {
  /** Always `"ssh"`. */
  readonly kind = "ssh" as const;
  /** The parsed target. */
  readonly target: Target;
  /** The connection options. */
  readonly options: SshEnvironmentOptions;
  #lease: MasterLease | null;
  #ctx: SshExecContext;
  /** Calls over a channel of the first master. */
  #channel: CallRunner;
  #pool: SessionPool | null = null;

  private constructor(target: Target, options: SshEnvironmentOptions, lease: MasterLease | null) {
    super();
    this.target = target;
    this.options = options;
    this.#lease = lease;
    this.#ctx = {
      target,
      options,
      master: lease?.master ?? null,
      log: options.logger ?? (() => {}),
      oneShot: options.oneShot === true,
      become: options.become ?? null,
    };
    this.#channel = channelRunner(this.#ctx);
  }

  /**
   * Connects to `target` (`ssh://user@host:port/path`, `user@host`, an ssh_config alias, …) and
   * returns the environment. Connection problems throw `SshConnectError` here, with a `kind` and a
   * hint; a path in the target becomes the default working directory.
   */
  static async open(
    target: string | Target,
    options: SshEnvironmentOptions = {},
  ): Promise<SshEnvironment> {
    const t = typeof target === "string" ? parseTarget(target) : target;
    validateConnectOptions(options);
    await checkIdentityFile(options.identityFile);
    await loadSessions(options);
    const log = options.logger ?? (() => {});
    if (Deno.build.os === "windows") {
      // No ControlMaster on Windows: each call is its own connection.
      const env = new SshEnvironment(t, options, null);
      const probe = await env.exec(["true"]);
      if (probe.code !== 0) {
        throw new YonderError(`Probe command failed on "${formatTarget(t)}"`);
      }
      return env;
    }
    options.signal?.throwIfAborted();
    const lease = await acquireMaster(t, options, log, options.maxChannels);
    if (options.persist !== undefined) {
      try {
        const idle = options.persist;
        // Loaded only when asked for: a plain call does not pay for it.
        const { ensurePersistentMaster } = await import("./persist.ts");
        const start = (recheck: boolean) => {
          const signal = options.signal;
          return withRetry(
            `connect ${formatTarget(t)}`,
            () => ensurePersistentMaster(t, options, idle, log, signal, recheck),
            { log, signal },
          );
        };
        // A one-shot call's wrapper watches its own stdin; sessions need the keeper.
        lease.master.adopt(await start(false), () => start(true), { keeper: !options.oneShot });
      } catch (e) {
        await lease.release();
        throw e;
      }
      return new SshEnvironment(t, options, lease);
    }
    if (options.oneShot) return new SshEnvironment(t, options, lease);
    try {
      // Connection setup is safe to retry (refused, timed out, reset; never bad credentials).
      const signal = options.signal;
      await withRetry(`connect ${formatTarget(t)}`, () => lease.master.ensure(signal), {
        log,
        signal,
      });
    } catch (e) {
      await lease.release();
      throw e;
    }
    return new SshEnvironment(t, options, lease);
  }

  /** The target in canonical `ssh://` form. */
  get label(): string {
    return formatTarget(this.target);
  }

  /** The master's ControlPath socket (null on Windows). */
  get controlPath(): string | null {
    return this.#lease?.master.controlPath ?? null;
  }

  /**
   * Forwards a port over this connection (`ssh -O forward` on its master): `local` listens here
   * and reaches `host:hostPort` from the remote, `remote` the reverse, `dynamic` is a SOCKS proxy
   * here. Port 0 takes any free port; the result says which. Closing the result cancels it; the
   * forwarding also ends with the environment.
   *
   * @example
   * ```ts
   * import { SshEnvironment } from "../../mod.ts";
   * await using env = await SshEnvironment.open("deploy@db.example.com");
   * await using fwd = await env.forward({ kind: "local", port: 0, host: "127.0.0.1", hostPort: 5432 });
   * console.log(`postgres on localhost:${fwd.port}`);
   * ```
   */
  async forward(spec: ForwardSpec): Promise<Forward> {
    const master = this.#lease?.master;
    if (!master) {
      throw new UsageError("Cannot forward a port: the environment is closed (or on Windows)");
    }
    return await openForward(master, spec);
  }

  /** The master process id while it runs. */
  get masterPid(): number | null {
    return this.#lease?.master.pid ?? null;
  }

  /** How many master processes were started so far (restarts included). */
  get masterStarts(): number {
    return this.#lease?.master.starts ?? 0;
  }

  /** Runs a command on the remote host; see {@linkcode Environment.exec}. */
  protected async run(
    command: readonly string[] | string,
    options: ExecOptions,
  ): Promise<ExecResult> {
    const become = options.become === undefined ? this.options.become ?? null : options.become;
    // The sessions run as the environment's own become (a password-free one): a call as anyone
    // else, or one that needs sudo's password, takes a channel of its own.
    const envBecome = this.#sessionBecome();
    const otherUser = become !== envBecome &&
      !(become && envBecome && becomeKey(become) === becomeKey(envBecome));
    const ownChannel = options.stdin !== undefined || options.stdinFile !== undefined ||
      options.stdoutFile !== undefined || otherUser || become?.password !== undefined;
    // Decided synchronously, so concurrent calls each see the demand of the ones before them.
    const picked = this.#extraLane(ownChannel);
    const lane = picked instanceof Promise ? await picked : picked;
    const { runners, stateful } = this.#runners(lane, ownChannel);
    if (stateful && (otherUser || become?.password !== undefined)) {
      throw new UsageError("A stateful session cannot run calls as another user (become)", {
        hint: 'Run them on an environment opened with session: "stateless" or false',
      });
    }
    if (stateful && ownChannel) {
      throw new UsageError(
        "A stateful session cannot take stdin, stdinFile or stdoutFile",
        { hint: 'Run such calls on an environment opened with session: "stateless"' },
      );
    }
    // A stateful session keeps its own cwd; only an explicit one applies to a call.
    const keepCwd = stateful && options.cwd === undefined;
    const opts = { ...options, cwd: keepCwd ? undefined : this.#cwd(options.cwd) };
    for (const [at, runner] of runners.entries()) {
      const r = await runner.run(command, opts);
      if (r) return r;
      if (at + 1 < runners.length) {
        this.#ctx.log("sessions unavailable; running over a channel of the master instead");
      }
    }
    throw new YonderError(`Cannot start a stateful session on "${this.label}"`, {
      cause: (runners[0] as SessionPool).broken,
    });
  }

  /**
   * The runners a call tries, in order: the one place where the path is chosen. Sessions come
   * first where they can take the call (no stdin or stdout file of its own); a channel of the
   * master after them, except behind a stateful session (its state would be lost silently).
   */
  #runners(lane: Lane | null, ownChannel: boolean): { runners: CallRunner[]; stateful: boolean } {
    const pool = lane ? lane.pool : this.#sessions();
    const channel = lane ? lane.channel : this.#channel;
    if (!lane && pool && this.options.session === "stateful") {
      return { runners: [pool], stateful: true };
    }
    const sessions = pool && !ownChannel && !pool.broken ? [pool] : [];
    return { runners: [...sessions, channel], stateful: false };
  }

  #lanes: Lane[] = [];
  #opening: Promise<Lane | null> | null = null;

  /**
   * With `maxMasters` > 1: the lane (extra master) a call should use when the first master is
   * saturated, opening one if allowed; null to use the first master.
   */
  #extraLane(ownChannel: boolean): Lane | null | Promise<Lane | null> {
    const max = this.options.maxMasters ?? 1;
    const first = this.#lease?.master;
    if (max <= 1 || !first || this.options.session === "stateful") return null;
    const busy = (master: Master, pool: SessionPool | null) =>
      ownChannel || !pool || pool.broken ? master.channels.free === 0 : pool.saturated;
    if (!busy(first, this.#sessions())) return null;
    const free = this.#lanes.find((l) => !busy(l.lease.master, l.pool));
    if (free) return free;
    if (this.#lanes.length + 1 >= max) {
      // Every master is busy: queue on the one with the fewest waiters (round robin).
      const all = [null, ...this.#lanes];
      const pick = all[this.#turn++ % all.length];
      return pick ?? null;
    }
    this.#opening ??= (async (): Promise<Lane | null> => {
      try {
        const lease = await acquireMaster(
          this.target,
          this.options,
          this.#ctx.log,
          this.options.maxChannels,
          this.#lanes.length + 1,
        );
        await lease.master.ensure();
        const ctx = { ...this.#ctx, master: lease.master, oneShot: false };
        // An extra master is never one-shot: its calls use sessions unless they are off.
        await loadSessions({ ...this.options, oneShot: false });
        const pool = this.options.session === false ? null : this.#sharedPool(lease.master);
        const lane = { lease, channel: channelRunner(ctx), pool };
        this.#lanes.push(lane);
        this.#ctx.log(`all channels busy: opened master ${this.#lanes.length + 1} of ${max}`);
        return lane;
      } catch (e) {
        this.#ctx.log(`could not open another master: ${e instanceof Error ? e.message : e}`);
        return null;
      } finally {
        this.#opening = null;
      }
    })();
    return this.#opening;
  }

  #turn = 0;

  /** The become the sessions of this environment run as: its own, when it needs no password. */
  #sessionBecome(): Become | null {
    const b = this.options.become;
    return b && b.password === undefined ? b : null;
  }

  #sessions(): SessionPool | null {
    const master = this.#lease?.master;
    if (!master || !sessionModule || this.options.oneShot || this.options.session === false) {
      return null;
    }
    if (this.options.session !== "stateful") return this.#sharedPool(master);
    // A stateful session is this environment's own.
    this.#pool ??= new sessionModule.SessionPool(master, this.target, this.options, this.#ctx.log, {
      size: 1,
      stateful: true,
      cwd: this.target.path,
      become: this.#sessionBecome(),
    });
    return this.#pool;
  }

  /** The stateless session pool every environment on `master` shares. */
  #sharedPool(master: Master): SessionPool | null {
    if (!sessionModule) return null;
    // Sessions of another user (become) are a pool of their own.
    const as = this.#sessionBecome();
    const key = `sessions:${this.options.sessions ?? DEFAULT_SESSIONS}${
      as ? `:${becomeKey(as)}` : ""
    }`;
    let pool = master.shared.get(key) as SessionPool | undefined;
    if (!pool) {
      const created = new sessionModule.SessionPool(
        master,
        this.target,
        this.options,
        this.#ctx.log,
        { size: this.options.sessions ?? DEFAULT_SESSIONS, stateful: false, become: as },
      );
      master.shared.set(key, created);
      master.onClose(() => created.close());
      pool = created;
    }
    return pool;
  }

  #cwd(cwd: string | undefined): string | undefined {
    const base = this.target.path;
    if (cwd === undefined) return base;
    if (base === undefined || cwd.startsWith("/") || cwd.startsWith("~")) return cwd;
    return `${base.replace(/\/+$/, "")}/${cwd}`;
  }

  /**
   * Once `close()` has stopped the commands still running (through the same kill path as a
   * timeout): ends the sessions, then stops the master if no other environment in this process
   * shares it.
   */
  protected async release(): Promise<void> {
    await this.#pool?.close();
    this.#pool = null;
    for (const lane of this.#lanes.splice(0)) await lane.lease.release();
    const lease = this.#lease;
    this.#lease = null;
    await lease?.release();
  }

  /** The remote file operations: each one command over this environment's exec. */
  protected override async loadFiles(): Promise<F.FileOps> {
    const { SshFiles } = await import("./files.ts");
    return new SshFiles(
      (command, options) => this.exec(command, options),
      this.label,
      this.options.logger,
    );
  }
}
