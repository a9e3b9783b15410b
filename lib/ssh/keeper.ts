/**
 * The keeper: one long-lived remote shell per master, on a channel of its own, that is the remote
 * side's lifeline. yonder tells it which process groups its calls run in (and which session
 * shells it keeps); when the client goes away — this process killed, the master killed, the link
 * dropped — the keeper stops them all, so no command outlives its caller: it gives them a second
 * to end by themselves (a command reading stdin has just seen its end), then TERM, then KILL to
 * whatever is still alive after the grace period.
 *
 * It notices the client is gone when its stdin closes (a dead process or master: sshd closes the
 * channel) or when the heartbeat this side sends every {@linkcode HEARTBEAT_MS} stops for
 * {@linkcode DEADLINE_S} seconds (a dropped link, which sshd alone would notice only hours later;
 * this needs bash on the remote, whose `read` has a timeout). It also runs the kills of timed-out
 * and aborted calls, which spares a new ssh process per kill.
 *
 * Protocol, one line per request on its stdin: `h` heartbeat, `w PGID` watch a group, `s PID`
 * watch a session shell (with the groups of its calls and its relays), `u ID` forget one,
 * `e PGID` a call in that group ended (forget it; what it left there gets the deferred hangup),
 * `k PGID` stop a group now (answered with a `killed` frame on stdout once it is gone).
 *
 * @module
 */

import type { Logger } from "../core/environment.ts";
import { type Child, spawn } from "../util/process.ts";
import type { Target } from "../core/target.ts";
import { deferred, KILL_GRACE_MS, withTimeout } from "../util/async.ts";
import { pump } from "../util/output.ts";
import { framePrefix, FrameScanner, newNonce } from "../posix/frames.ts";
import { deferredHangup } from "../posix/remote_script.ts";
import { FIRST_HOP, hopPreambleText } from "../posix/first_hop.ts";
import { shellQuote } from "../core/quote.ts";
import { buildSshArgv, type SshConnectOptions } from "./options.ts";

/** How often this side tells the keeper it is alive. */
export const HEARTBEAT_MS = 2000;
/** Seconds without a heartbeat after which the keeper counts the client as gone. */
export const DEADLINE_S = 10;

/**
 * What runs the keeper's script: bash if present (timed reads), else sh. It travels on stdin
 * behind the first hop (`first_hop.ts`), which reads it exactly: the requests that follow are
 * the keeper's.
 */
export function keeperCommand(script: string): string {
  return `s=${shellQuote(script)}; if command -v bash >/dev/null 2>&1; then ` +
    `exec bash --noprofile --norc -c "$s"; else exec sh -c "$s"; fi`;
}

/** The keeper's script; its requests come on its stdin. */
export function keeperScript(nonce: string, graceMs: number = KILL_GRACE_MS): string {
  const f = framePrefix(nonce).slice(1);
  const steps = Math.max(1, Math.ceil(graceMs / 100));
  return [
    `exec 2>/dev/null`,
    `KG=" "; KP=" "`,
    // Alive: a non-zombie member of group $1 (ps, as an init may reap late), else kill -0.
    `ka() { if command -v ps >/dev/null && command -v awk >/dev/null; then ` +
    `ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; ` +
    `else kill -0 -"$1"; fi; }`,
    // kk GROUP: TERM, then KILL only if something of it is still alive after the grace period
    // (a process running its TERM trap must be left to finish it).
    `kk() { ( kill -TERM -"$1" || kill -TERM "$1"; i=0; while ka "$1"; do ` +
    `if [ $i -ge ${steps} ]; then kill -KILL -"$1"; break; fi; sleep 0.1 || sleep 1; i=$((i+1)); done; ` +
    `printf '\\036${f}killed:%s\\n' "$1" ) & }`,
    // Functions use their own variable names: sh has no locals, and the loop below holds $x.
    `kd() { n=" "; for y in $KG; do [ "$y" = "$1" ] || n="$n$y "; done; KG=$n; ` +
    `n=" "; for y in $KP; do [ "$y" = "$1" ] || n="$n$y "; done; KP=$n; }`,
    // ks SIG SHELL: signal the groups of a session shell's calls (its children in groups of their
    // own), then the shell and its own group (its relays).
    `ks() { for z in $(ps -eo ppid=,pgid= | awk -v s="$2" '$1 == s && $2 != s { print $2 }'); do ` +
    `kill -"$1" -"$z"; done; kill -"$1" -"$2" || kill -"$1" "$2"; }`,
    // The client is gone: stop what is watched, then leave.
    // First a second for what is watched to end by itself: a command reading stdin has just
    // seen its end, and one that cleans up on that (an upload) must not be cut short.
    `kl() { [ "$KG$KP" = "  " ] && exit 0; i=0; while [ $i -lt 10 ]; do a=; ` +
    `for y in $KG; do ka "$y" && a=1; done; [ -z "$a" ] && break; sleep 0.1 || sleep 1; i=$((i+1)); done; ` +
    `for y in $KG; do kill -TERM -"$y"; done; ` +
    `for y in $KP; do ks TERM "$y"; done; i=0; while [ $i -lt ${steps} ]; do a=; ` +
    `for y in $KG; do ka "$y" && a=1; done; [ -z "$a" ] && break; sleep 0.1 || sleep 1; ` +
    `i=$((i+1)); done; for y in $KG; do ka "$y" && kill -KILL -"$y"; done; for y in $KP; do ks KILL "$y"; rm -rf -- "\${TMPDIR:-/tmp}"/yonder-s."$y".*; done; exit 0; }`,
    `if [ -n "$BASH_VERSION" ]; then kr() { IFS= read -r -t ${DEADLINE_S} l; }; ` +
    `else kr() { IFS= read -r l; }; fi`,
    `printf '\\036${f}ready:%s\\n' "\${BASH_VERSION:+timed}"`,
    // A watched session shell that died leaves its relays in its process group: end them, and
    // remove its directory (a KILL gave it no time to).
    `kz() { for y in $KP; do kill -0 "$y" || { kill -KILL -"$y"; kd "$y"; ` +
    `rm -rf -- "\${TMPDIR:-/tmp}"/yonder-s."$y".*; }; done; }`,
    `km() { while kr; do kz; case $l in`,
    `  [wsuek]" "*) x=\${l#? }; case $x in ''|*[!0-9]*) continue;; esac;;`,
    `  *) continue;;`,
    `esac; case $l in`,
    `  w*) KG="$KG$x ";; s*) KP="$KP$x ";; u*) kd "$x";; k*) kd "$x"; kk "$x";;`,
    `  e*) kd "$x"; if kill -0 -"$x"; then ${deferredHangup('"$x"')} fi;;`,
    `esac; done; kl; }`,
    `km`,
  ].join("\n");
}

const enc = new TextEncoder();

/** The keeper of one master. */
export class Keeper {
  #child: Child;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #log: Logger;
  #alive = true;
  #ready = deferred<boolean>();
  #kills = new Map<number, () => void>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #pumps: Promise<unknown>;
  #writes: Promise<unknown> = Promise.resolve();
  #readySeen = false;
  /** True once the remote said it can notice a dropped link (bash's timed read). */
  timed = false;

  private constructor(child: Child, nonce: string, log: Logger) {
    this.#child = child;
    this.#log = log;
    this.#writer = child.stdin!.getWriter();
    const scanner = new FrameScanner(nonce, () => {}, (kind, value) => {
      if (kind === "ready") {
        this.timed = value === "timed";
        this.#readySeen = true;
        this.#ready.resolve(true);
      } else if (kind === "killed") {
        const done = this.#kills.get(Number(value));
        this.#kills.delete(Number(value));
        done?.();
      }
    });
    this.#pumps = pump(child.stdout, (c) => scanner.push(c)).catch(() => {}).finally(() => {
      this.#gone();
    });
    child.status.then(() => this.#gone());
    const heartbeat = setInterval(() => this.#send("h\n"), HEARTBEAT_MS);
    Deno.unrefTimer(heartbeat);
    this.#heartbeat = heartbeat;
    child.unref();
  }

  /** Starts the keeper on a channel of the master at `controlPath`. */
  static start(
    target: Target,
    options: SshConnectOptions,
    controlPath: string,
    log: Logger,
  ): Keeper {
    const nonce = newNonce();
    const child = spawn(options.sshPath ?? "ssh", {
      args: buildSshArgv(target, options, {
        kind: "client",
        controlPath,
        command: FIRST_HOP,
        stdin: true,
      }),
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    });
    const keeper = new Keeper(child, nonce, log);
    keeper.#send(hopPreambleText(keeperCommand(keeperScript(nonce)), nonce));
    return keeper;
  }

  /** True while the keeper runs. */
  get alive(): boolean {
    return this.#alive;
  }

  /** True once the keeper said it runs (and still does). */
  get isReady(): boolean {
    return this.#alive && this.#readySeen;
  }

  /** Resolves to true once the keeper runs, false if it could not start. */
  ready(): Promise<boolean> {
    return this.#ready.promise;
  }

  #gone(): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#ready.resolve(false);
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    for (const done of this.#kills.values()) done();
    this.#kills.clear();
  }

  #send(text: string): void {
    if (!this.#alive) return;
    this.#writes = this.#writes.then(() => this.#writer.write(enc.encode(text))).catch(() => {
      this.#gone();
    });
  }

  /** Stop group `pgid` if the client goes away. */
  watchGroup(pgid: number): void {
    this.#send(`w ${pgid}\n`);
  }

  /** Stop session shell `pid` (the groups of its calls, its relays) if the client goes away. */
  watchSession(pid: number): void {
    this.#send(`s ${pid}\n`);
  }

  /** Forget a group or process (it ended, or outlives its call on purpose). */
  unwatch(id: number): void {
    this.#send(`u ${id}\n`);
  }

  /** The call in group `pgid` ended: forget it; what it left there gets the deferred hangup. */
  ended(pgid: number): void {
    this.#send(`e ${pgid}\n`);
  }

  /**
   * Stops group `pgid` now: TERM, then KILL after the grace period. Resolves once it is gone, or
   * false when the keeper cannot do it (the caller then kills another way).
   */
  async kill(pgid: number): Promise<boolean> {
    // A keeper that never said ready (a stuck startup file, a forced command) does not hold a
    // kill up for more than a moment.
    if (!this.#alive || await withTimeout(this.ready(), 2000) !== true) return false;
    this.#child.ref();
    try {
      const done = deferred();
      this.#kills.set(pgid, done.resolve);
      this.#send(`k ${pgid}\n`);
      const ok = await withTimeout(done.promise, KILL_GRACE_MS + 5000);
      if (ok === null) this.#log(`keeper did not confirm the kill of group ${pgid}`);
      return ok !== null && this.#alive;
    } finally {
      if (this.#alive) this.#child.unref();
    }
  }

  /** Ends the keeper (it stops what is still watched, which a clean close leaves empty). */
  async close(): Promise<void> {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#child.ref();
    await this.#writes;
    await this.#writer.close().catch(() => {});
    if (await withTimeout(this.#child.status, KILL_GRACE_MS + 3000) === null) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
    await this.#pumps;
    this.#gone();
  }
}
