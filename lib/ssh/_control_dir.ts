/**
 * The per-process directory that holds the ControlMaster sockets and logs, and a watchdog that
 * cleans up after this process however it ends (even `kill -9`): a tiny `sh` reads master pids on
 * its stdin, and when that pipe closes (this process exited or closed the directory) it stops
 * those masters and removes the directory.
 */

import { toHex } from "../util/hex.ts";
import { UsageError } from "../core/errors.ts";
import { type Child, spawn } from "../util/process.ts";

/** Longest Unix socket path: 104 bytes on macOS/BSD, 108 on Linux (including the NUL). */
const SOCKET_PATH_MAX = Deno.build.os === "linux" ? 107 : 103;
/** ssh binds `<path>.XXXXXXXXXXXXXXXX` before renaming it into place. */
const SSH_TEMP_SUFFIX = 17;

const WATCHDOG = `pids=
while IFS= read -r p; do
  case $p in done) exit 0 ;; esac
  pids="$pids $p"
done
[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
[ ! -e "$1" ] || rm -rf -- "$1"`;

/** `bytes` random bytes as hex. */
function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** Where sockets live; one per process, created on first use, removed when the last master goes. */
export class ControlDir {
  static #current: Promise<ControlDir> | null = null;
  static #users = 0;

  /** The directory path, e.g. `/tmp/yonder-0123456789abcdef`. */
  readonly path: string;
  #watchdog: Child | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #counter = 0;
  #pids = new Set<number>();
  #onUnload = () => this.#cleanupSync();

  private constructor(path: string) {
    this.path = path;
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /** Takes a reference to the process's directory, creating it if needed. */
  static acquire(): Promise<ControlDir> {
    ControlDir.#users++;
    if (!ControlDir.#current) {
      const p = ControlDir.#create();
      ControlDir.#current = p;
      p.catch(() => {
        if (ControlDir.#current === p) ControlDir.#current = null;
      });
    }
    return ControlDir.#current.catch((e) => {
      ControlDir.#users--;
      throw e;
    });
  }

  /** Drops a reference; the last one removes the directory and ends the watchdog. */
  static async release(dir: ControlDir): Promise<void> {
    ControlDir.#users--;
    if (ControlDir.#users > 0) return;
    if (ControlDir.#current) ControlDir.#current = null;
    await dir.#dispose();
  }

  static async #create(): Promise<ControlDir> {
    if (Deno.build.os === "windows") {
      return new ControlDir(await Deno.makeTempDir({ prefix: "yonder-" }));
    }
    // The watchdog starts before the directory exists: a process killed at any point after this
    // leaves nothing behind (killed before it, there is no directory yet).
    for (let attempt = 0;; attempt++) {
      const dir = new ControlDir(`/tmp/yonder-${randomHex(8)}`);
      dir.#startWatchdog();
      try {
        await Deno.mkdir(dir.path, { mode: 0o700 });
        return dir;
      } catch (e) {
        // Not ours (the name is taken, or /tmp is not usable): the watchdog must not remove it.
        globalThis.removeEventListener("unload", dir.#onUnload);
        await dir.#release().catch(() => {});
        if (!(e instanceof Deno.errors.AlreadyExists) || attempt >= 3) throw e;
      }
    }
  }

  /** Ends the watchdog without it removing anything. */
  async #release(): Promise<void> {
    await this.#endWatchdog(true);
  }

  /**
   * Closes the watchdog's stdin, after "done" when `sayDone` (it then removes nothing), and waits
   * for it to exit.
   */
  async #endWatchdog(sayDone: boolean): Promise<void> {
    try {
      if (sayDone) await this.#writer?.write(new TextEncoder().encode("done\n"));
      await this.#writer?.close();
    } catch {
      // Watchdog already gone.
    }
    this.#writer = null;
    if (this.#watchdog) {
      this.#watchdog.ref();
      await this.#watchdog.status;
    }
    this.#watchdog = null;
  }

  #startWatchdog(): void {
    if (this.#watchdog || Deno.build.os === "windows") return;
    try {
      this.#watchdog = spawn("sh", {
        args: ["-c", WATCHDOG, "yonder-watchdog", this.path],
        stdin: "piped",
        detached: true,
      });
      this.#watchdog.unref();
      this.#writer = this.#watchdog.stdin?.getWriter() ?? null;
    } catch {
      // Cleanup still happens on close and on normal exit.
    }
  }

  /**
   * A fresh socket path in this directory; throws {@linkcode UsageError} if it would not fit the
   * Unix socket limit (ssh needs room for its temporary suffix too).
   */
  socketPath(): string {
    const path = `${this.path}/c${this.#counter++}`;
    const bytes = new TextEncoder().encode(path).length + SSH_TEMP_SUFFIX;
    if (bytes > SOCKET_PATH_MAX) {
      throw new UsageError(
        `Control socket path "${path}" is too long: ${bytes} bytes with ssh's suffix, limit ${SOCKET_PATH_MAX}`,
        { hint: "Make sure /tmp exists and is writable; yonder keeps its sockets there" },
      );
    }
    return path;
  }

  /** Tells the watchdog to stop `pid` if this process dies without closing. */
  async watch(pid: number): Promise<void> {
    this.#pids.add(pid);
    this.#startWatchdog();
    try {
      await this.#writer?.write(new TextEncoder().encode(`${pid}\n`));
    } catch {
      // Watchdog gone; close() and the unload handler still clean up.
    }
  }

  /** Forgets `pid` (the master exited). */
  unwatch(pid: number): void {
    this.#pids.delete(pid);
  }

  async #dispose(): Promise<void> {
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      await Deno.remove(this.path, { recursive: true });
    } catch {
      // Already gone.
    }
    // A clean close (every master seen to exit, the directory gone) leaves the watchdog nothing
    // to do; saying so spares this process's exit its rm, a few ms.
    await this.#endWatchdog(this.#pids.size === 0);
  }

  #cleanupSync(): void {
    for (const pid of this.#pids) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // Gone.
      }
    }
    try {
      Deno.removeSync(this.path, { recursive: true });
    } catch {
      // Gone.
    }
  }
}
