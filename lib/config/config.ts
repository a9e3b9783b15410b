/**
 * `yonder.yaml`: where it is found, how it is read (YAML, then the schema, then the references
 * between hosts, groups and inventories), and what a host name or `@group` resolves to — its
 * target, its connection settings, and the policy and audit log in force for it.
 *
 * Settings of a host come from `defaults`, then its groups (ancestors before descendants, then
 * file order), then the host itself: the later wins, key by key. Policy rules are tried host
 * first, then its groups (descendants first), then the global ones; `mode` and each of
 * `paths.read` / `paths.write` come from the most specific level that sets them.
 *
 * @module
 */

import type { AuditArgs } from "../core/audit.ts";
import type { Become } from "../core/environment.ts";
import { UsageError } from "../core/errors.ts";
import type { PathRoots, Policy, PolicyRule } from "../core/policy.ts";
import type { Sandbox } from "../posix/sandbox.ts";
import { parseTarget } from "../core/target.ts";
import { ConfigError, type ConfigIssue, fileIssue } from "./errors.ts";
import { type Inventory, parseInventory } from "./inventory.ts";
import {
  checkConfig,
  loadSchema,
  type RawAudit,
  type RawConfig,
  type RawOptions,
  type RawPolicy,
} from "./schema.ts";
import { formatPath, type KeyPath, loadYaml, parseYaml, type YamlSource } from "./yaml.ts";
import { home } from "./find.ts";

/** Connection and exec settings, resolved (seconds, bytes, absolute local paths). */
export interface Settings {
  /** Exec timeout, seconds. */
  timeout?: number;
  /** Connect timeout, seconds. */
  connectTimeout?: number;
  /** Session mode (`false`: one channel per call). */
  session?: "stateless" | "stateful" | false;
  /** Most bytes kept of each output stream. */
  maxOutput?: number;
  /** Private key file. */
  identityFile?: string;
  /** Jump hosts, in order. */
  jump?: string[];
  /** Extra `-o KEY=VALUE` options. */
  sshOptions?: string[];
  /** An ssh_config file. */
  sshConfig?: string;
  /** A known_hosts file. */
  knownHosts?: string;
  /** Require a known host key. */
  strictHostKey?: boolean;
  /** Keep the master for later commands this long (seconds); false: do not. */
  persist?: number | false;
  /** Run commands as another user through sudo or doas (null: `become: false` in the file). */
  become?: Become | null;
  /** The environment variable holding the become password (`become.password_env`). */
  becomePasswordEnv?: string;
  /** Let ssh ask on the terminal for passphrases and passwords (as --ask-pass). */
  interactive?: boolean;
  /** Run commands in this bubblewrap sandbox (`enabled: false` in the file: none). */
  sandbox?: Sandbox | null;
}

/** The audit log in force. */
export interface AuditSettings {
  /** The log file. */
  readonly path: string;
  /** How much of a command's arguments a line keeps. */
  readonly args: AuditArgs;
  /** Refuse operations when the log cannot be written. */
  readonly required: boolean;
}

/** What is in force for one host (or for local runs and unnamed targets). */
export interface Resolved {
  /** The configured name, or null for an unnamed target and local runs. */
  readonly name: string | null;
  /** The target text (null: run locally). */
  readonly target: string | null;
  /** Connection and exec settings. */
  readonly settings: Settings;
  /** The argv-level policy, or null when none is configured. */
  readonly policy: Policy | null;
  /** File operation roots, or null when not restricted. */
  readonly paths: PathRoots | null;
  /** The audit log, or null when off. */
  readonly audit: AuditSettings | null;
  /** The groups the host is in (directly or through a child group), file order. */
  readonly groups: readonly string[];
}

/** A configured host, as the config and its inventories define it. */
export interface HostEntry {
  /** Its name (`-r NAME`). */
  readonly name: string;
  /** Its target. */
  readonly target: string;
  /** Where it is defined (`file:line:col`). */
  readonly from: string;
}

/** A group: its direct hosts and child groups, and every host it selects. */
export interface GroupEntry {
  /** Its name (`-r @NAME`). */
  readonly name: string;
  /** Hosts listed in it. */
  readonly hosts: readonly string[];
  /** Child groups. */
  readonly children: readonly string[];
  /** Every host, through the children too, in file order. */
  readonly members: readonly string[];
}

/** A loaded config. */
export interface Config {
  /** The file it came from, or null when there is none (built-in defaults). */
  readonly file: string | null;
  /** Hosts by name, file order. */
  readonly hosts: ReadonlyMap<string, HostEntry>;
  /** Groups by name, file order (`all` is implicit unless defined). */
  readonly groups: ReadonlyMap<string, GroupEntry>;
  /** The raw file, for resolving. */
  readonly raw: RawConfig;
  /** Inventory hosts' own settings (identity file). */
  readonly inventorySettings: ReadonlyMap<string, Settings>;
  /** Inventory groups' direct hosts and children (no settings of their own). */
  readonly inventoryGroups: ReadonlySet<string>;
}

/** An empty config: no hosts, no policy, no audit. */
export const EMPTY_CONFIG: Config = {
  file: null,
  hosts: new Map(),
  groups: new Map(),
  raw: {},
  inventorySettings: new Map(),
  inventoryGroups: new Set(),
};

/** A duration as the schema accepts it, in seconds. */
function seconds(v: number | string): number {
  if (typeof v === "number") return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v)!;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, "": 1 }[m[2] ?? ""]!;
}

function dirOf(file: string): string {
  const at = file.lastIndexOf("/");
  return at < 0 ? "." : at === 0 ? "/" : file.slice(0, at);
}

/** A local path from the config: `~` is the home, relative paths are relative to the file. */
function localPath(path: string, file: string, env: (n: string) => string | undefined): string {
  if (path === "~") return home(env);
  if (path.startsWith("~/")) return `${home(env)}/${path.slice(2)}`;
  if (path.startsWith("/") || path.includes("%")) return path;
  return `${dirOf(file)}/${path}`;
}

/** The settings one level of the config gives. */
function settingsOf(
  o: RawOptions | undefined,
  file: string,
  env: (n: string) => string | undefined,
): Settings {
  if (!o) return {};
  const s: Settings = {};
  if (o.timeout !== undefined) s.timeout = seconds(o.timeout);
  if (o.connect_timeout !== undefined) s.connectTimeout = seconds(o.connect_timeout);
  if (o.session !== undefined) s.session = o.session;
  if (o.max_output !== undefined) s.maxOutput = o.max_output;
  if (o.identity_file !== undefined) s.identityFile = localPath(o.identity_file, file, env);
  if (o.jump !== undefined) s.jump = typeof o.jump === "string" ? [o.jump] : [...o.jump];
  if (o.ssh_options !== undefined) s.sshOptions = [...o.ssh_options];
  if (o.ssh_config !== undefined) s.sshConfig = localPath(o.ssh_config, file, env);
  if (o.known_hosts !== undefined) s.knownHosts = localPath(o.known_hosts, file, env);
  if (o.strict_host_key !== undefined) s.strictHostKey = o.strict_host_key;
  if (o.persist !== undefined) s.persist = o.persist === false ? false : seconds(o.persist);
  if (o.sandbox !== undefined) s.sandbox = sandboxOf(o.sandbox);
  if (o.interactive !== undefined) s.interactive = o.interactive;
  if (o.become !== undefined) s.become = becomeOf(o.become);
  if (o.become && o.become.password_env !== undefined) {
    s.becomePasswordEnv = o.become.password_env;
  }
  return s;
}

/** A `become:` section as the environment takes it (null: `become: false`). */
function becomeOf(b: NonNullable<RawOptions["become"]>): Become | null {
  if (b === false) return null;
  return { method: b.method ?? "sudo", ...(b.user !== undefined ? { user: b.user } : {}) };
}

/** A `sandbox:` section as the environment takes it (null: `enabled: false`). */
function sandboxOf(b: NonNullable<RawOptions["sandbox"]>): Sandbox | null {
  if (b.enabled === false) return null;
  return {
    kind: "bwrap",
    write: [...(b.write ?? [])],
    ...(b.read !== undefined ? { read: [...b.read] } : {}),
    ...(b.network !== undefined ? { network: b.network } : {}),
    ...(b.tmp !== undefined ? { tmp: b.tmp } : {}),
    ...(b.program !== undefined ? { program: b.program } : {}),
  };
}

/** Reads the inventories the config names, relative to it. */
async function readInventories(raw: RawConfig, file: string, src: YamlSource) {
  const names = raw.inventory === undefined
    ? []
    : typeof raw.inventory === "string"
    ? [raw.inventory]
    : raw.inventory;
  const out: Inventory[] = [];
  for (const [i, name] of names.entries()) {
    const path = localPath(name, file, Deno.env.get.bind(Deno.env));
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      const at: KeyPath = typeof raw.inventory === "string" ? ["inventory"] : ["inventory", i];
      throw new ConfigError([{
        file,
        ...src.locate(at),
        path: formatPath(at),
        message: `cannot read ${JSON.stringify(path)}: ${e instanceof Error ? e.message : e}`,
      }]);
    }
    out.push(parseInventory(text, path));
  }
  return out;
}

/** Adds an issue at a key path of the file. */
type Report = (path: KeyPath, message: string, key?: boolean) => void;

/** The hosts of `hosts:`, each target checked. */
function fileHosts(raw: RawConfig, file: string, src: YamlSource, issue: Report) {
  const hosts = new Map<string, HostEntry>();
  for (const [name, h] of Object.entries(raw.hosts ?? {})) {
    const target = typeof h === "string" ? h : h.target;
    const path: KeyPath = typeof h === "string" ? ["hosts", name] : ["hosts", name, "target"];
    try {
      parseTarget(target);
    } catch (e) {
      issue(path, `bad target: ${e instanceof Error ? e.message : e}`);
    }
    const at = src.locate(["hosts", name], true);
    hosts.set(name, { name, target, from: `${file}:${at.line}:${at.col}` });
  }
  return hosts;
}

/** Adds the inventories' hosts and groups (a host defined twice is an issue). */
function addInventories(
  inventories: Inventory[],
  hosts: Map<string, HostEntry>,
  groups: Map<string, { hosts: string[]; children: string[] }>,
  issue: Report,
) {
  const inventorySettings = new Map<string, Settings>();
  const inventoryGroups = new Set<string>();
  for (const inv of inventories) {
    for (const h of inv.hosts) {
      if (hosts.has(h.name)) {
        issue(["hosts", h.name], `also defined in the inventory (line ${h.line}): pick one`, true);
        continue;
      }
      hosts.set(h.name, { name: h.name, target: h.target, from: `inventory:${h.line}:${h.col}` });
      if (h.identityFile !== undefined) {
        inventorySettings.set(h.name, { identityFile: h.identityFile });
      }
    }
    for (const g of inv.groups) {
      const have = groups.get(g.name);
      groups.set(g.name, {
        hosts: [...new Set([...(have?.hosts ?? []), ...g.hosts])],
        children: [...new Set([...(have?.children ?? []), ...g.children])],
      });
      inventoryGroups.add(g.name);
    }
  }
  return { inventorySettings, inventoryGroups };
}

/** Adds the groups of `groups:`, checking the hosts and child groups they name. */
function addFileGroups(
  raw: RawConfig,
  hosts: ReadonlyMap<string, HostEntry>,
  groups: Map<string, { hosts: string[]; children: string[] }>,
  inventoryGroups: ReadonlySet<string>,
  issue: Report,
) {
  for (const [name, g] of Object.entries(raw.groups ?? {})) {
    if (inventoryGroups.has(name)) {
      issue(["groups", name], "also a group of the inventory: pick another name", true);
    }
    for (const [i, h] of (g.hosts ?? []).entries()) {
      if (!hosts.has(h)) issue(["groups", name, "hosts", i], `no host named "${h}"`);
    }
    groups.set(name, { hosts: [...(g.hosts ?? [])], children: [...(g.children ?? [])] });
  }
  for (const [name, g] of Object.entries(raw.groups ?? {})) {
    for (const [i, c] of (g.children ?? []).entries()) {
      if (!groups.has(c)) issue(["groups", name, "children", i], `no group named "${c}"`);
    }
  }
}

/** Collects hosts and groups from the file and its inventories, checking every reference. */
function buildModel(raw: RawConfig, file: string, src: YamlSource, inventories: Inventory[]) {
  const issues: ConfigIssue[] = [];
  const issue: Report = (path, message, key = false) =>
    issues.push({ file, ...src.locate(path, key), path: formatPath(path), message });
  const hosts = fileHosts(raw, file, src, issue);
  const groups = new Map<string, { hosts: string[]; children: string[] }>();
  const inv = addInventories(inventories, hosts, groups, issue);
  addFileGroups(raw, hosts, groups, inv.inventoryGroups, issue);
  if (issues.length > 0) throw new ConfigError(issues);
  return { hosts, groups, ...inv };
}

/** Every host a group selects (through its children), in host order; throws on a cycle. */
function membersOf(
  groups: ReadonlyMap<string, { hosts: string[]; children: string[] }>,
  hostOrder: readonly string[],
  file: string,
  src: YamlSource,
): Map<string, GroupEntry> {
  const out = new Map<string, GroupEntry>();
  const visit = (name: string, stack: string[]): Set<string> => {
    if (stack.includes(name)) {
      const cycle = [...stack.slice(stack.indexOf(name)), name].join(" -> ");
      throw new ConfigError([{
        file,
        ...src.locate(["groups", name]),
        path: formatPath(["groups", name, "children"]),
        message: `groups contain each other: ${cycle}`,
      }]);
    }
    const g = groups.get(name);
    const set = new Set(g?.hosts ?? []);
    for (const c of g?.children ?? []) for (const h of visit(c, [...stack, name])) set.add(h);
    return set;
  };
  for (const [name, g] of groups) {
    const set = visit(name, []);
    out.set(name, {
      name,
      hosts: g.hosts,
      children: g.children,
      members: hostOrder.filter((h) => set.has(h)),
    });
  }
  if (!out.has("all")) {
    out.set("all", { name: "all", hosts: [...hostOrder], children: [], members: [...hostOrder] });
  }
  return out;
}

/**
 * Reads and checks the config at `file`: YAML, schema, targets, inventories and every reference
 * between hosts and groups. Throws {@linkcode ConfigError} (`file:line:col: key.path: what`).
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const file = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(file, "hosts:\n  web1: deploy@web1.example.com\n");
 * const config = await loadConfig(file);
 * console.log(config.hosts.get("web1")?.target); // "deploy@web1.example.com"
 * ```
 */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ConfigError([fileIssue(file, `cannot read: ${e instanceof Error ? e.message : e}`)]);
  }
  await Promise.all([loadYaml(), loadSchema()]);
  const src = parseYaml(text, file);
  const raw = checkConfig(src);
  const inventories = await readInventories(raw, file, src);
  const model = buildModel(raw, file, src, inventories);
  const groups = membersOf(model.groups, [...model.hosts.keys()], file, src);
  return {
    file,
    hosts: model.hosts,
    groups,
    raw,
    inventorySettings: model.inventorySettings,
    inventoryGroups: model.inventoryGroups,
  };
}

/** The groups that select `host`, shallowest first (ancestors before their children). */
function groupsOf(config: Config, host: string): string[] {
  const direct = [...config.groups.values()].filter((g) => g.members.includes(host));
  const depth = new Map<string, number>();
  const depthOf = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    depth.set(name, 0);
    let d = 0;
    for (const g of config.groups.values()) {
      if (g.children.includes(name)) d = Math.max(d, depthOf(g.name) + 1);
    }
    depth.set(name, d);
    return d;
  };
  const order = [...config.groups.keys()];
  return direct
    .filter((g) => g.name !== "all" || config.raw.groups?.all !== undefined)
    .map((g) => g.name)
    .sort((a, b) => depthOf(a) - depthOf(b) || order.indexOf(a) - order.indexOf(b));
}

/** The default audit log: `$XDG_STATE_HOME/yonder/audit.jsonl` (`~/.local/state/…`). */
export function defaultAuditPath(env: (name: string) => string | undefined): string {
  const state = env("XDG_STATE_HOME") || `${home(env)}/.local/state`;
  return `${state}/yonder/audit.jsonl`;
}

/** Policy and audit of the levels, most specific first. */
function fenceOf(
  levels: readonly { policy?: RawPolicy | undefined; audit?: RawAudit | undefined }[],
  file: string,
  env: (n: string) => string | undefined,
): { policy: Policy | null; paths: PathRoots | null; audit: AuditSettings | null } {
  const policies = levels.flatMap((l) => l.policy ? [l.policy] : []);
  let policy: Policy | null = null;
  if (policies.length > 0) {
    const rules: PolicyRule[] = policies.flatMap((p) => (p.rules ?? []) as PolicyRule[]);
    const mode = policies.find((p) => p.mode !== undefined)?.mode ?? "allowlist";
    policy = { mode, rules };
  }
  const read = policies.find((p) => p.paths?.read !== undefined)?.paths?.read;
  const write = policies.find((p) => p.paths?.write !== undefined)?.paths?.write;
  const paths = read === undefined && write === undefined ? null : {
    ...(read !== undefined ? { read: [...read] } : {}),
    ...(write !== undefined ? { write: [...write] } : {}),
  };
  const audits = levels.flatMap((l) => l.audit ? [l.audit] : []);
  const pick = <K extends keyof RawAudit>(k: K) => audits.find((a) => a[k] !== undefined)?.[k];
  // A fence without a record is half a fence: a policy turns the log on unless told otherwise.
  const enabled = pick("enabled") ?? (audits.length > 0 || policy !== null || paths !== null);
  const path = pick("path");
  const audit = enabled
    ? {
      path: path !== undefined ? localPath(path, file, env) : defaultAuditPath(env),
      args: pick("args") ?? "hash",
      required: pick("required") ?? false,
    }
    : null;
  return { policy, paths, audit };
}

/**
 * What is in force for `name`: a configured host's target and settings, or (for any other
 * target, and for local runs with `name` null) the defaults; the policy and audit log either way.
 *
 * @example
 * ```ts
 * import { loadConfig, resolveHost } from "./config.ts";
 * const file = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(file, "hosts:\n  web1: {target: deploy@web1, timeout: 30s}\n");
 * const r = resolveHost(await loadConfig(file), "web1", (n) => Deno.env.get(n));
 * console.log(r.target, r.settings.timeout); // "deploy@web1" 30
 * ```
 */
export function resolveHost(
  config: Config,
  name: string | null,
  env: (name: string) => string | undefined,
): Resolved {
  const file = config.file ?? "yonder.yaml";
  const raw = config.raw;
  const host = name === null ? undefined : config.hosts.get(name);
  const groups = host ? groupsOf(config, host.name) : [];
  const rawHost = host ? raw.hosts?.[host.name] : undefined;
  const hostLevel = typeof rawHost === "object" ? rawHost : undefined;
  const groupLevels = groups.map((g) => raw.groups?.[g] ?? {});
  const settings: Settings = {
    ...settingsOf(raw.defaults, file, env),
    ...Object.assign({}, ...groupLevels.map((g) => settingsOf(g, file, env))),
    ...(host ? config.inventorySettings.get(host.name) : {}),
    ...settingsOf(hostLevel, file, env),
  };
  const levels = [...(hostLevel ? [hostLevel] : []), ...groupLevels.toReversed(), raw];
  return {
    name: host?.name ?? null,
    target: host ? host.target : name,
    settings,
    ...fenceOf(levels, file, env),
    groups,
  };
}

/**
 * The hosts `-r` selects: a configured name, `@group`, or (when it is neither) the text itself
 * as a target. Throws for an unknown `@group`.
 *
 * @example
 * ```ts
 * import { EMPTY_CONFIG, selectHosts } from "./config.ts";
 * console.log(selectHosts(EMPTY_CONFIG, "deploy@web1")); // ["deploy@web1"]
 * ```
 */
export function selectHosts(config: Config, remote: string): string[] {
  if (!remote.startsWith("@")) return [remote];
  const group = config.groups.get(remote.slice(1));
  if (!group) {
    const known = [...config.groups.keys()].map((g) => `@${g}`).join(", ");
    throw new UsageError(`No group "${remote.slice(1)}" in the config`, {
      hint: config.file === null
        ? "Groups come from yonder.yaml (see yonder init); none was found"
        : `Groups in ${config.file}: ${known}`,
    });
  }
  return [...group.members];
}
