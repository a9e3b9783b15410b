/**
 * Port forwarding over a connection already open: `ssh -O forward` / `-O cancel` on the master,
 * with port 0 meaning "any free port" for all three kinds (ssh itself takes 0 only for -R: for -L
 * and -D yonder finds a free local port and asks for that one).
 *
 * @module
 */

import { UsageError, YonderError } from "../core/errors.ts";
import { freeTcpPorts } from "../util/net.ts";

/** A forwarding: local (-L), remote (-R) or dynamic SOCKS (-D). */
export interface ForwardSpec {
  /** `local`: a port here reaches `host:hostPort` from the remote; `remote`: the reverse. */
  kind: "local" | "remote" | "dynamic";
  /** The address to listen on (default: loopback). */
  bind?: string;
  /** The port to listen on; 0 for any free one. */
  port: number;
  /** Where connections go (local and remote forwardings). */
  host?: string;
  /** The port there. */
  hostPort?: number;
}

/** A forwarding in place; closing it cancels it (the connection stays). */
export interface Forward extends AsyncDisposable {
  /** What was asked, with the port that is listening. */
  readonly spec: ForwardSpec;
  /** The port that listens (here for local and dynamic, on the remote for remote). */
  readonly port: number;
  /** Cancels the forwarding. */
  close(): Promise<void>;
}

const FLAG = { local: "-L", remote: "-R", dynamic: "-D" } as const;

function portOf(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`Bad forwarding ${what} port "${text}": expected 0-65535`);
  }
  return Number(text);
}

/** Splits at colons outside `[…]` (IPv6 addresses), dropping the brackets. */
function fields(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inBrackets = false;
  for (const ch of text) {
    if (ch === "[" || ch === "]") inBrackets = ch === "[";
    else if (ch === ":" && !inBrackets) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * Parses ssh's forwarding syntax: `-L`/`-R` `[bind:]port:host:hostport`, `-D` `[bind:]port`.
 *
 * @example
 * ```ts
 * import { parseForward } from "./forward.ts";
 * console.log(parseForward("local", "0:db.internal:5432")); // { kind: "local", port: 0, … }
 * ```
 */
export function parseForward(kind: ForwardSpec["kind"], text: string): ForwardSpec {
  const f = fields(text.trim());
  if (kind === "dynamic") {
    if (f.length < 1 || f.length > 2) {
      throw new UsageError(`Bad -D "${text}": expected [bind:]port`);
    }
    const port = portOf(f[f.length - 1]!, "listen");
    return { kind, port, ...(f.length === 2 && f[0] ? { bind: f[0] } : {}) };
  }
  if (f.length < 3 || f.length > 4 || f.some((x, i) => x === "" && !(f.length === 4 && i === 0))) {
    throw new UsageError(`Bad ${FLAG[kind]} "${text}": expected [bind:]port:host:hostport`);
  }
  const [bind, port, host, hostPort] = f.length === 4 ? f : [undefined, ...f];
  return {
    kind,
    port: portOf(port!, "listen"),
    host: host!,
    hostPort: portOf(hostPort!, "destination"),
    ...(bind ? { bind } : {}),
  };
}

/** The spec as ssh reads it, with `port` listening. */
export function forwardArg(spec: ForwardSpec, port = spec.port): string {
  const wrap = (h: string) => (h.includes(":") ? `[${h}]` : h);
  const listen = `${spec.bind ? `${wrap(spec.bind)}:` : ""}${port}`;
  return spec.kind === "dynamic" ? listen : `${listen}:${wrap(spec.host!)}:${spec.hostPort}`;
}

/** A free TCP port on `bind` here (loopback for none, `localhost` or `*`). */
function freeLocalPort(bind: string | undefined): number {
  const hostname = !bind || bind === "localhost" || bind === "*" ? "127.0.0.1" : bind;
  return freeTcpPorts(1, hostname)[0]!;
}

/** What a forwarding needs of the master. */
export interface ForwardingMaster {
  forwarding(
    request: "forward" | "cancel",
    flag: "-L" | "-R" | "-D",
    spec: string,
  ): Promise<string>;
}

/** Sets up `spec` on `master`; a port-0 local or dynamic one retries if its free port was taken. */
export async function openForward(master: ForwardingMaster, spec: ForwardSpec): Promise<Forward> {
  const flag = FLAG[spec.kind];
  let port = spec.port;
  for (let attempt = 0;; attempt++) {
    if (spec.kind !== "remote" && spec.port === 0) port = freeLocalPort(spec.bind);
    try {
      const out = await master.forwarding("forward", flag, forwardArg(spec, port));
      if (spec.kind === "remote" && spec.port === 0) {
        if (!/^\d+$/.test(out)) {
          throw new YonderError(`ssh did not say which port it got ("${out}")`);
        }
        port = Number(out);
      }
      break;
    } catch (e) {
      // Another process took the free port between our look and ssh's bind: look again.
      if (spec.port !== 0 || spec.kind === "remote" || attempt >= 3) throw e;
    }
  }
  const active = { ...spec, port };
  // The master knows a remote forwarding asked on port 0 by that spec, not by the port it got.
  const cancelArg = spec.kind === "remote" ? forwardArg(spec) : forwardArg(active);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    // A master already gone took its forwardings with it.
    await master.forwarding("cancel", flag, cancelArg).catch(() => {});
  };
  return { spec: active, port, close, [Symbol.asyncDispose]: close };
}
