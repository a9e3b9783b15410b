/**
 * Builds the argv of every `ssh` yonder runs. The safety flags (BatchMode, the ControlPath, `-T`,
 * `-n` when no stdin is given) are always added here, so no caller can forget them.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { sshDestination, type Target } from "../core/target.ts";

/**
 * How ssh treats the remote host's key.
 *
 * @example
 * ```ts
 * import { type HostKeyPolicy, SshEnvironment } from "../../mod.ts";
 * // In CI, where known_hosts is provisioned: never trust a key on first sight.
 * const hostKeyPolicy: HostKeyPolicy = Deno.env.get("CI") ? "strict" : "accept-new";
 * await using env = await SshEnvironment.open("deploy@build.example.com", { hostKeyPolicy });
 * console.log(env.label);
 * ```
 */
export type HostKeyPolicy =
  /** Trust a host's key the first time, refuse a changed one (`StrictHostKeyChecking=accept-new`). */
  | "accept-new"
  /** Require the key to be known already (`StrictHostKeyChecking=yes`). */
  | "strict";

/**
 * How to reach a host: everything that ends up on ssh's command line.
 *
 * @example
 * ```ts
 * import { type SshConnectOptions, SshEnvironment } from "../../mod.ts";
 * const viaBastion: SshConnectOptions = {
 *   jump: "ops@bastion.example.com",
 *   identityFile: "~/.ssh/deploy_ed25519",
 *   knownHostsFile: "./ci/known_hosts",
 *   hostKeyPolicy: "strict",
 *   connectTimeout: 5,
 *   options: ["Compression=yes"],
 * };
 * await using env = await SshEnvironment.open("deploy@10.0.3.12", viaBastion);
 * console.log((await env.exec(["hostname"])).code);
 * ```
 */
export interface SshConnectOptions {
  /** Port, when the target does not give one. */
  port?: number;
  /** Private key file (`-i`); also sets `IdentitiesOnly=yes`. */
  identityFile?: string;
  /** ssh_config file (`-F`) instead of `~/.ssh/config`. */
  configFile?: string;
  /** Jump host(s) (`-J`), e.g. `bastion` or `["a", "user@b:2222"]`. */
  jump?: string | string[];
  /** Extra `-o Key=Value` options; yonder's own safety options win over these. */
  options?: string[];
  /** Host key policy; default `"accept-new"`. */
  hostKeyPolicy?: HostKeyPolicy;
  /** known_hosts file to use (`UserKnownHostsFile`). */
  knownHostsFile?: string;
  /** Seconds to wait for the TCP connection and banner; default 10. */
  connectTimeout?: number;
  /** Seconds between keepalives; default 15. */
  serverAliveInterval?: number;
  /** Keepalives missed before the connection counts as lost; default 3. */
  serverAliveCountMax?: number;
  /** The ssh program; default `ssh` on PATH. */
  sshPath?: string;
  /** Pass `-v` to ssh (its debug lines go to the master's log file). */
  sshVerbose?: boolean;
  /**
   * Seconds a master outlives this process, idle, for later processes to reuse (see
   * `SshEnvironment.open`); unset: nothing outlives the process.
   */
  persist?: number;
  /**
   * A terminal device (`/dev/pts/3`) on which ssh may ask for key passphrases, passwords,
   * keyboard-interactive answers and host-key confirmations, once per master (through
   * `SSH_ASKPASS`, a helper of yonder's that reads the answer from that terminal without echo).
   * Unset (default): `BatchMode=yes`, ssh never asks.
   */
  askPassTty?: string;
  /**
   * Run the remote lifeline (the keeper) on each master, which stops the remote commands of this
   * process if it or its connection goes away; default true.
   */
  lifeline?: boolean;
}

/** Default seconds for ConnectTimeout. */
export const DEFAULT_CONNECT_TIMEOUT = 10;

/** The role an ssh process plays. */
export type SshRole =
  /** The ControlMaster: authenticates once, runs no command (`-M -N`). */
  | { kind: "master"; controlPath: string; logFile: string }
  /** A master that also runs one command as its own session (one-shot calls). */
  | { kind: "carrier"; controlPath: string; logFile: string; command: string; stdin: boolean }
  /** A command multiplexed over the master; never dials on its own. */
  | { kind: "client"; controlPath: string; command: string; stdin: boolean }
  /**
   * A master that outlives this process: ssh goes to the background once authenticated (`-f`)
   * and stays `idleSeconds` after its last client left (`ControlPersist`).
   */
  | { kind: "persistent"; controlPath: string; logFile: string; idleSeconds: number }
  /**
   * A control request to the master (`-O check` / `-O exit`, or `-O forward` / `-O cancel` with
   * the forwarding's flag and spec).
   */
  | {
    kind: "control";
    controlPath: string;
    request: "check" | "exit" | "forward" | "cancel";
    forward?: readonly [string, string];
  }
  /** A plain connection with its own login (Windows, where there is no ControlMaster). */
  | { kind: "direct"; command: string; stdin: boolean }
  /** Print the settings ssh would use for the target (`-G`); connects nowhere. */
  | { kind: "config" };

/**
 * Text an exec client prints (through a ProxyCommand) if it could not reach the master and would
 * otherwise have logged in on its own. Its presence proves the command never started.
 */
export const NO_MASTER_SENTINEL = "yonder-no-master";

const OPTION_RE = /^[A-Za-z][A-Za-z0-9]*=.*$/s;

/** Checks the `-o` options and other values a caller gave; throws {@linkcode UsageError}. */
export function validateConnectOptions(o: SshConnectOptions): void {
  for (const opt of o.options ?? []) {
    if (!OPTION_RE.test(opt) || /[\0\n\r]/.test(opt)) {
      throw new UsageError(`Invalid ssh option "${opt}": expected Key=Value`, {
        hint: "Pass options like -o ServerAliveInterval=30",
      });
    }
  }
  for (
    const [name, value] of [
      ["port", o.port],
      ["connectTimeout", o.connectTimeout],
      ["serverAliveInterval", o.serverAliveInterval],
      ["serverAliveCountMax", o.serverAliveCountMax],
      ["persist", o.persist],
    ] as const
  ) {
    if (value !== undefined && (!Number.isInteger(value) || value < (name === "port" ? 1 : 0))) {
      throw new UsageError(`Invalid ${name} "${value}": expected a whole number`);
    }
  }
  if (o.port !== undefined && o.port > 65535) {
    throw new UsageError(`Invalid port "${o.port}": must be 1-65535`);
  }
  for (
    const [name, value] of [
      ["identity file", o.identityFile],
      ["config file", o.configFile],
      ["known_hosts file", o.knownHostsFile],
    ] as const
  ) {
    if (value !== undefined && (value === "" || /[\0\n\r]/.test(value))) {
      throw new UsageError(`Invalid ${name} "${value}"`);
    }
  }
  for (const j of jumpHosts(o)) {
    if (j === "" || j.startsWith("-") || /[\s\0]/.test(j)) {
      throw new UsageError(`Invalid jump host "${j}"`, { hint: "Use -J user@bastion[:port]" });
    }
  }
}

function jumpHosts(o: SshConnectOptions): string[] {
  if (o.jump === undefined) return [];
  return Array.isArray(o.jump) ? o.jump : [o.jump];
}

/** The `-o` value for the ControlPath; `%` must be doubled because ssh expands tokens in it. */
function controlPathOption(path: string): string {
  return `ControlPath=${path.replaceAll("%", "%%")}`;
}

/**
 * Builds ssh's argv (without the program name) for `target` in `role`.
 *
 * @example
 * ```ts
 * import { buildSshArgv } from "./options.ts";
 * const argv = buildSshArgv({ host: "build-box" }, {}, {
 *   kind: "client",
 *   controlPath: "/tmp/yonder-1/c0",
 *   command: "true",
 *   stdin: false,
 * });
 * console.log(argv); // ["-o", "BatchMode=yes", ..., "-T", "-n", "--", "build-box", "true"]
 * ```
 */
export function buildSshArgv(target: Target, o: SshConnectOptions, role: SshRole): string[] {
  // Caller's options after the role's: ssh keeps the first value it sees, so the role's lines
  // always win and the caller's win over the defaults after them.
  // Only a process that authenticates (a master) may ask, and only when a terminal was given.
  const asks = o.askPassTty !== undefined &&
    (role.kind === "master" || role.kind === "carrier" || role.kind === "persistent");
  return [
    "-o",
    asks ? "BatchMode=no" : "BatchMode=yes",
    ...roleArgs(o, role),
    ...callerOptionArgs(o),
    ...defaultOptionArgs(o),
    ...connectionArgs(target, o),
    ...commandArgs(target, role),
  ];
}

/** The flags of `role`: its ControlPath (every role but `direct`), then what it does. */
function roleArgs(o: SshConnectOptions, role: SshRole): string[] {
  if (role.kind === "direct") return [];
  if (role.kind === "config") return ["-G"];
  const argv = ["-o", controlPathOption(role.controlPath)];
  switch (role.kind) {
    case "master":
      argv.push("-M", "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=no");
      argv.push("-E", role.logFile);
      break;
    case "persistent":
      argv.push("-M", "-N", "-f", "-o", "ControlMaster=yes");
      argv.push("-o", `ControlPersist=${role.idleSeconds}s`, "-E", role.logFile);
      break;
    case "carrier":
      argv.push("-M", "-o", "ControlMaster=yes", "-o", "ControlPersist=no");
      argv.push("-E", role.logFile);
      break;
    case "client":
      argv.push("-o", "ControlMaster=no");
      // If the master is gone, ssh would quietly log in on its own; make that fail loudly instead.
      argv.push("-o", `ProxyCommand=sh -c "echo ${NO_MASTER_SENTINEL} >&2; exit 1"`);
      break;
    case "control":
      argv.push("-O", role.request);
      if (role.forward) argv.push(...role.forward);
      break;
  }
  // The roles that start a master log to a file, where `-v` sends ssh's debug lines.
  if (o.sshVerbose && "logFile" in role) argv.push("-v");
  return argv;
}

/**
 * The caller's `-o` options. An explicit jump host wins over a ProxyJump option (ssh refuses the
 * two together), so that option is left out then.
 */
function callerOptionArgs(o: SshConnectOptions): string[] {
  const jumping = jumpHosts(o).length > 0;
  const kept = (o.options ?? []).filter((opt) => !(jumping && /^proxyjump=/i.test(opt)));
  return kept.flatMap((opt) => ["-o", opt]);
}

/** The `-o` options yonder sets unless the caller did: timeouts, keepalives, host keys. */
function defaultOptionArgs(o: SshConnectOptions): string[] {
  const hostKeys = o.hostKeyPolicy === "strict" ? "yes" : "accept-new";
  const argv = ["-o", `ConnectTimeout=${o.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT}`];
  argv.push("-o", `ServerAliveInterval=${o.serverAliveInterval ?? 15}`);
  argv.push("-o", `ServerAliveCountMax=${o.serverAliveCountMax ?? 3}`);
  argv.push("-o", `StrictHostKeyChecking=${hostKeys}`);
  if (o.knownHostsFile !== undefined) {
    argv.push("-o", `UserKnownHostsFile=${o.knownHostsFile}`);
  }
  return argv;
}

/** The identity file, config file, jump hosts and port, for those that are set. */
function connectionArgs(target: Target, o: SshConnectOptions): string[] {
  const argv: string[] = [];
  if (o.identityFile !== undefined) {
    argv.push("-i", o.identityFile, "-o", "IdentitiesOnly=yes");
  }
  if (o.configFile !== undefined) argv.push("-F", o.configFile);
  const jumps = jumpHosts(o);
  if (jumps.length > 0) argv.push("-J", jumps.join(","));
  const port = target.port ?? o.port;
  if (port !== undefined) argv.push("-p", String(port));
  return argv;
}

/**
 * The end of the argv: the destination, and for a role that runs a command, `-T` (and `-n` when
 * it has no stdin) before it and the command after it.
 */
function commandArgs(target: Target, role: SshRole): string[] {
  const destination = ["--", sshDestination(target)];
  if (role.kind !== "client" && role.kind !== "direct" && role.kind !== "carrier") {
    return destination;
  }
  return ["-T", ...(role.stdin ? [] : ["-n"]), ...destination, role.command];
}
