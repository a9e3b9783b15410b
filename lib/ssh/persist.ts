/**
 * Masters that outlive the process (`--persist`): an OpenSSH ControlMaster started by ssh itself
 * in the background (`-f` with `ControlPersist=<idle>`), under a per-user directory, reused by
 * later processes that reach the same target with the same options, and gone after it stayed idle
 * (no client) for the given time. Off by default: without it nothing outlives the process.
 *
 * - The directory is `$XDG_RUNTIME_DIR/yonder` or `/tmp/yonder-persist-<uid>`, mode 0700, and must
 *   be owned by this user (anything else is refused: another user could plant sockets there).
 * - A master's name is a hash of the target and every connection option that changes the
 *   connection, so a changed option set never reuses a master made with other options.
 * - Starting one holds a lock file, so two first calls at once make one login.
 * - `<name>.json` beside the socket says what it is for `yonder status`.
 *
 * @module
 */

import { ASK_SECONDS, prepareAskPass } from "./askpass.ts";
import { sha256Hex } from "../util/hex.ts";
import { UsageError } from "../core/errors.ts";
import { type Child, spawn, type SpawnStatus } from "../util/process.ts";
import { formatTarget, type Target } from "../core/target.ts";
import type { Logger } from "../core/environment.ts";
import { withTimeout } from "../util/async.ts";
import { classifySshError, connectError } from "./connect_error.ts";
import { registryKey } from "./registry.ts";
import { buildSshArgv, DEFAULT_CONNECT_TIMEOUT, type SshConnectOptions } from "./options.ts";

/** Longest Unix socket path on this OS, and ssh's temporary suffix while it binds. */
const SOCKET_PATH_MAX = Deno.build.os === "linux" ? 107 : 103;
const SSH_TEMP_SUFFIX = 17;

/** What `yonder status` shows of a persistent master. */
export interface PersistentMaster {
  /** The name (hash) of its target and options. */
  name: string;
  /** The target, canonical. */
  target: string;
  /** Its ControlPath socket. */
  socket: string;
  /** Seconds it stays after its last client left. */
  idleSeconds: number;
  /** When it was started. */
  started: string;
  /** True when it answers `ssh -O check`. */
  alive: boolean;
}

interface Meta {
  target: string;
  idleSeconds: number;
  started: string;
  sshPath?: string;
}

/** The per-user directory, created (0700) if missing; refused if unsafe. */
export async function persistDir(): Promise<string> {
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  const uid = Deno.uid();
  const dir = runtime && runtime.startsWith("/")
    ? `${runtime}/yonder`
    : `/tmp/yonder-persist-${uid}`;
  try {
    await Deno.mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const info = await Deno.lstat(dir);
  if (!info.isDirectory || info.isSymlink || (uid !== null && info.uid !== uid)) {
    throw new UsageError(
      `Refusing the persistent socket directory "${dir}": not a directory of yours`,
      {
        hint: "Remove it (or set XDG_RUNTIME_DIR to a private directory) and retry",
      },
    );
  }
  if (((info.mode ?? 0) & 0o077) !== 0) {
    throw new UsageError(`Refusing the persistent socket directory "${dir}": others may use it`, {
      hint: `Make it private: chmod 700 ${dir}`,
    });
  }
  return dir;
}

/** The name of the persistent master for `target` with `options`. */
export async function persistName(target: Target, options: SshConnectOptions): Promise<string> {
  // A relative file names another file from another directory: the name must tell them apart.
  const absolute = (p: string | undefined) =>
    p === undefined || p.startsWith("/") || p.startsWith("~") ? p : `${Deno.cwd()}/${p}`;
  const keyed = {
    ...options,
    identityFile: absolute(options.identityFile),
    configFile: absolute(options.configFile),
    knownHostsFile: absolute(options.knownHostsFile),
  };
  return await sha256Hex(registryKey(target, keyed), 8);
}

function socketFits(path: string): void {
  const bytes = new TextEncoder().encode(path).length + SSH_TEMP_SUFFIX;
  if (bytes > SOCKET_PATH_MAX) {
    throw new UsageError(
      `Persistent socket path "${path}" is too long: ${bytes} bytes with ssh's suffix, limit ${SOCKET_PATH_MAX}`,
      { hint: "Set XDG_RUNTIME_DIR to a shorter private directory" },
    );
  }
}

/** `ssh -O check` on `socket`: true when a master answers there. */
export async function checkSocket(socket: string, sshPath = "ssh"): Promise<boolean> {
  const child = spawn(sshPath, {
    args: ["-o", "BatchMode=yes", "-S", socket, "-O", "check", "yonder-persistent"],
  });
  const status = await withTimeout(child.status, 5000);
  if (!status) child.kill("SIGKILL");
  return status?.code === 0;
}

/**
 * The socket of a running persistent master for `target` with `options`, started now (one login,
 * under the lock) if there is none; it stays `idleSeconds` after its last client left.
 */
export async function ensurePersistentMaster(
  target: Target,
  options: SshConnectOptions,
  idleSeconds: number,
  log: Logger,
  signal?: AbortSignal,
  recheck = false,
): Promise<string> {
  const dir = await persistDir();
  const name = await persistName(target, options);
  const socket = `${dir}/${name}`;
  socketFits(socket);
  const sshPath = options.sshPath ?? "ssh";
  // A socket there is taken as alive without asking (an `ssh -O check` costs a process): a call
  // over a stale one cannot start, is retried, and the retry comes back here with `recheck`.
  const there = await Deno.lstat(socket).then((i) => i.isSocket, () => false);
  if (there && (!recheck || await checkSocket(socket, sshPath))) {
    log(`persistent master ${socket} reused`);
    return socket;
  }
  const lock = await Deno.open(`${socket}.lock`, { create: true, write: true, mode: 0o600 });
  try {
    await lock.lock(true);
    // Someone else may have started it while we waited for the lock.
    if (await checkSocket(socket, sshPath)) {
      log(`persistent master ${socket} reused (started meanwhile)`);
      return socket;
    }
    await Deno.remove(socket).catch(() => {}); // Stale: its master is gone.
    await startPersistentMaster({ target, options, idleSeconds, log, signal, socket, sshPath });
    return socket;
  } finally {
    lock.close();
  }
}

/** What starting one persistent master needs. */
interface MasterStart {
  /** The target to log in to. */
  target: Target;
  /** Its connection options. */
  options: SshConnectOptions;
  /** Seconds the master stays after its last client left. */
  idleSeconds: number;
  /** Where progress lines go. */
  log: Logger;
  /** Stops the start (ssh gets SIGTERM; the call rejects with the signal's reason). */
  signal?: AbortSignal | undefined;
  /** The ControlPath socket it binds. */
  socket: string;
  /** The ssh program. */
  sshPath: string;
}

/**
 * Starts a persistent master at `m.socket` (the caller holds the lock and removed a stale
 * socket): one login, then a check that it answers, then its `.json` for `yonder status`.
 * Throws the connect error if it does not come up.
 */
async function startPersistentMaster(m: MasterStart): Promise<void> {
  const { target, options, socket } = m;
  const logFile = `${socket}.log`;
  await Deno.writeTextFile(logFile, "", { mode: 0o600 });
  const args = buildSshArgv(target, options, {
    kind: "persistent",
    controlPath: socket,
    logFile,
    idleSeconds: m.idleSeconds,
  });
  m.log(`persistent master start: ssh ${args.join(" ")}`);
  const ask = options.askPassTty !== undefined
    ? await prepareAskPass(logFile, options.askPassTty)
    : null;
  let status: { code: number } | null;
  try {
    const child = spawnDetached(m, args, ask?.env);
    // With -f, ssh goes to the background once authenticated; the foreground exits 0 then.
    const asks = ask ? ASK_SECONDS : 0;
    const limit = ((options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT) + 20 + asks) * 1000;
    status = await waitForeground(child, limit, m.signal);
    if (!status) child.kill("SIGKILL");
  } finally {
    await ask?.remove();
  }
  const text = await Deno.readTextFile(logFile).catch(() => "");
  if (!status) throw connectError(target, options, text, null, "timeout");
  if (status.code !== 0 || !await checkSocket(socket, m.sshPath)) {
    const kind = classifySshError(text);
    throw connectError(target, options, text, status.code, kind);
  }
  await writeMeta(m);
  m.log(`persistent master ready: ${socket} (stays ${m.idleSeconds} s after its last client)`);
}

/** Spawns the master's ssh detached; a missing ssh program is the `ssh_missing` connect error. */
function spawnDetached(m: MasterStart, args: string[], env?: Record<string, string>): Child {
  try {
    return spawn(m.sshPath, { args, detached: true, ...(env ? { env } : {}) });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw connectError(m.target, m.options, "", null, "ssh_missing");
    }
    throw e;
  }
}

/**
 * Waits up to `limit` ms for ssh's foreground to exit: its status, or null on timeout. If `signal`
 * aborts meanwhile, ssh gets SIGTERM and this rejects with the signal's reason.
 */
async function waitForeground(
  child: Child,
  limit: number,
  signal: AbortSignal | undefined,
): Promise<SpawnStatus | null> {
  const stop = () => child.kill("SIGTERM");
  signal?.addEventListener("abort", stop, { once: true });
  let status;
  try {
    status = await withTimeout(child.status, limit);
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  signal?.throwIfAborted();
  return status;
}

/** Writes `<socket>.json`, what `yonder status` shows of the master just started. */
async function writeMeta(m: MasterStart): Promise<void> {
  const { target, options } = m;
  const meta: Meta = {
    target: formatTarget({ ...target, port: target.port ?? options.port }),
    idleSeconds: m.idleSeconds,
    started: new Date().toISOString(),
    ...(options.sshPath ? { sshPath: options.sshPath } : {}),
  };
  await Deno.writeTextFile(`${m.socket}.json`, JSON.stringify(meta) + "\n", { mode: 0o600 });
}

/** Every persistent master this user has (stale ones are removed). */
export async function listPersistent(): Promise<PersistentMaster[]> {
  const dir = await persistDir();
  const out: PersistentMaster[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".json")) continue;
    const name = e.name.slice(0, -".json".length);
    const socket = `${dir}/${name}`;
    let meta: Meta;
    try {
      meta = JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`));
    } catch {
      continue;
    }
    const alive = await checkSocket(socket, meta.sshPath);
    if (!alive) {
      await removeStale(socket, meta.sshPath);
      continue;
    }
    out.push({
      name,
      target: meta.target,
      socket,
      idleSeconds: meta.idleSeconds,
      started: meta.started,
      alive,
    });
  }
  return out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

/**
 * Removes what a dead persistent master left, under the lock that starting one takes: a master
 * being started for the same name at this moment is seen alive then, and left alone.
 */
async function removeStale(socket: string, sshPath?: string): Promise<void> {
  const lock = await Deno.open(`${socket}.lock`, { create: true, write: true, mode: 0o600 });
  try {
    await lock.lock(true);
    if (await checkSocket(socket, sshPath)) return;
    for (const f of [socket, `${socket}.json`, `${socket}.log`]) {
      await Deno.remove(f).catch(() => {});
    }
  } finally {
    lock.close();
  }
}

/** Stops a persistent master now (`ssh -O exit`); true when one was stopped. */
export async function stopPersistent(m: PersistentMaster): Promise<boolean> {
  const child = spawn("ssh", {
    args: ["-o", "BatchMode=yes", "-S", m.socket, "-O", "exit", "yonder-persistent"],
  });
  const status = await withTimeout(child.status, 5000);
  if (!status) child.kill("SIGKILL");
  for (const f of [`${m.socket}.json`, `${m.socket}.log`, `${m.socket}.lock`]) {
    await Deno.remove(f).catch(() => {});
  }
  return status?.code === 0;
}
