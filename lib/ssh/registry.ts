/**
 * The process's masters: one per target and connection options, shared by every environment
 * opened on it and closed by the last one that lets go.
 *
 * @module
 */

import type { Logger } from "../core/environment.ts";
import type { Target } from "../core/target.ts";
import { ControlDir } from "./_control_dir.ts";
import { Master } from "./master.ts";
import type { SshConnectOptions } from "./options.ts";

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
