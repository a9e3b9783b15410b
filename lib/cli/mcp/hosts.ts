/**
 * The hosts an MCP server may reach: the one `-r` names, or the config's hosts (and groups of
 * one host) by name, or with `--allow-any-host` any target too. Each is opened once, fenced by the
 * config's policy, sandbox and audit log like the CLI's, and kept for the server's life.
 *
 * @module
 */

import { UsageError, YonderError } from "../../core/errors.ts";
import type { Environment } from "../../core/environment.ts";
import type { PolicyRequest, Verdict } from "../../core/policy.ts";
import type { Config } from "../../config/config.ts";
import {
  type ConnValues,
  type ExecDefaults,
  type Io,
  type OpenExtra,
  openTarget,
} from "../_common.ts";

/** A host name the server does not serve. */
export class HostNotAllowed extends YonderError {
  /** Always `"HostNotAllowed"`. */
  override readonly name = "HostNotAllowed";
}

/** What the pool is built from. */
export interface HostPoolOptions {
  /** The connection flags of `yonder mcp` (`-r`, `-i`, `--config`…). */
  conn: ConnValues;
  /** The config, when there is one. */
  config: Config | null;
  /** Any target may be named, not only the configured ones. */
  allowAnyHost: boolean;
  /** The approver the policy's `approve` rules ask. */
  approver: NonNullable<OpenExtra["approver"]>;
  /** Stdio for the opening code (its stdout must not be the protocol's). */
  io: Io;
}

/** An opened host. */
export interface OpenHost {
  env: Environment;
  defaults: ExecDefaults;
}

/** The hosts of one server. */
export class HostPool {
  readonly #o: HostPoolOptions;
  readonly #open = new Map<string, Promise<OpenHost>>();
  readonly #names: string[];

  constructor(o: HostPoolOptions) {
    this.#o = o;
    const config = o.config;
    if (o.conn.remote) this.#names = [o.conn.remote];
    else if (config) {
      const one = [...config.groups.values()].filter((g) => g.members.length === 1);
      this.#names = [...config.hosts.keys(), ...one.map((g) => `@${g.name}`)];
    } else this.#names = [];
  }

  /** Whether any target may be named (`--allow-any-host`, no `-r`). */
  anyHost(): boolean {
    return this.#o.allowAnyHost && !this.#o.conn.remote;
  }

  /** The names a call may give. */
  names(): string[] {
    return [...this.#names];
  }

  /** The host a call without `host` runs on: `-r`'s, or the config's only host; else none. */
  defaultHost(): string | undefined {
    if (this.#o.conn.remote) return this.#o.conn.remote;
    const hosts = this.#o.config ? [...this.#o.config.hosts.keys()] : [];
    return hosts.length === 1 ? hosts[0] : undefined;
  }

  /** The host `given` names, or the default; a name not served throws {@linkcode HostNotAllowed}. */
  resolve(given: string | undefined): string {
    const allowed = this.#names;
    const name = given ?? this.defaultHost();
    if (name !== undefined && name.trim() === "") {
      throw new HostNotAllowed("An empty host name names no host (it is not this machine)");
    }
    const list = allowed.length > 0 ? allowed.join(", ") : "(none configured)";
    if (name === undefined) {
      throw new HostNotAllowed(`No host given and no default host: name one of ${list}`);
    }
    if (allowed.includes(name) || (this.#o.allowAnyHost && !this.#o.conn.remote)) return name;
    throw new HostNotAllowed(`Host "${name}" is not served here; allowed: ${list}`, {
      hint: this.#o.conn.remote
        ? "This server was started with -r for one host"
        : "Add it to yonder.yaml, or start the server with --allow-any-host",
    });
  }

  /** Opens `host` (once; a failed open is tried again next time). */
  open(host: string): Promise<OpenHost> {
    let opening = this.#open.get(host);
    if (!opening) {
      opening = openTarget(this.#o.io, { ...this.#o.conn, remote: host }, {
        approver: this.#o.approver,
      });
      this.#open.set(host, opening);
      opening.catch(() => this.#open.delete(host));
    }
    return opening;
  }

  /** Opens `host` for yonder's own probes (outside the policy); the caller closes it. */
  async openForProbes(host: string): Promise<Environment> {
    return (await openTarget(this.#o.io, { ...this.#o.conn, remote: host }, { ownProbes: true }))
      .env;
  }

  /** Closes every opened host. */
  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(all.map(async (p) => {
      try {
        await (await p).env.close();
      } catch {
        // One that failed to open has nothing to close.
      }
    }));
  }
}

/**
 * A policy request as an approval names it. Every word the caller chose is JSON-quoted: a control
 * character cannot redraw what the human reads.
 */
export function describeRequest(req: PolicyRequest, verdict: Verdict, host: string): string {
  const what = typeof req.command === "string"
    ? `script: ${JSON.stringify(req.command)}`
    : `argv: ${JSON.stringify(req.command)}`;
  return `${verdict.rule}: ${verdict.reason}\nhost: ${JSON.stringify(host)}\n` +
    `cwd: ${req.cwd === undefined ? "(default)" : JSON.stringify(req.cwd)}\n${what}` +
    (req.env && req.env.length > 0 ? `\nenv: ${JSON.stringify(req.env)}` : "");
}

/** Refuses the flags that make no sense for a server whose stdin is the protocol. */
export function checkServerFlags(v: ConnValues): void {
  for (const flag of ["approve", "ask-pass", "ask-become-pass"] as const) {
    if (v[flag]) {
      throw new UsageError(`--${flag} cannot be used with yonder mcp`, {
        hint: flag === "approve"
          ? "Approvals go to the client's user (elicitation) or to yonder approve"
          : "Its stdin is the protocol: load keys into ssh-agent, give passwords by environment",
      });
    }
  }
}
