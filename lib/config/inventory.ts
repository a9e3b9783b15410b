/**
 * Reads an Ansible inventory, INI or YAML, into the hosts and groups yonder's config loader merges
 * into its own. Only what yonder needs to reach a host is kept: its inventory name, a target built
 * from `ansible_host`, `ansible_port` and `ansible_user` (or their legacy `ansible_ssh_*` names)
 * and an identity file from `ansible_ssh_private_key_file` (or `ansible_private_key_file`). Every
 * other variable is ignored.
 *
 * The INI form: `[group]` sections of host lines (`web1 ansible_port=2222`), `[group:vars]`
 * sections of `key=value` lines, `[group:children]` sections of group names, host lines before the
 * first section in the implicit group `ungrouped`, and whole-line comments starting with `#` or
 * `;`. On a host line a word starting with `#` starts a comment, quotes work as in a POSIX shell,
 * and the host may be a range (`web[01:03]`, `db-[a:c]`, `node[1:9:2]`) and carry a port
 * (`web1:2222`).
 *
 * The YAML form: `all: { hosts, vars, children }`, each child group again a map of `hosts`,
 * `vars` and `children`, a host a map of its variables (or empty); other top-level keys are
 * groups too. A group or a host may be named in several places: their variables are merged.
 *
 * Every problem found is reported in one {@linkcode ConfigError}, each with its `line:col` in the
 * inventory and a key path (`[web:vars].ansible_port`, `all.children.web.hosts.web1.ansible_port`).
 *
 * @example
 * ```ts
 * import { parseInventory } from "./inventory.ts";
 *
 * const inv = parseInventory("[web]\nweb[01:02] ansible_user=deploy\n", "hosts");
 * // inv.hosts[1] = { name: "web02", target: "ssh://deploy@web02", line: 2, col: 1 }
 * // inv.groups[0] = { name: "web", hosts: ["web01", "web02"], children: [], line: 1, col: 1 }
 * ```
 *
 * @module
 */

import { TargetError } from "../core/errors.ts";
import { formatTarget, parseTarget, type Target } from "../core/target.ts";
import { ConfigError, type ConfigIssue } from "./errors.ts";
import { formatPath, type KeyPath, parseYaml, type YamlSource } from "./yaml.ts";

/**
 * A host of an inventory, as yonder reaches it.
 *
 * @example
 * ```ts
 * import type { InventoryHost } from "./inventory.ts";
 *
 * const host: InventoryHost = {
 *   name: "web1",
 *   target: "ssh://deploy@10.0.0.11:2222",
 *   identityFile: "~/.ssh/web",
 *   line: 3,
 *   col: 1,
 * };
 * ```
 */
export interface InventoryHost {
  /** The inventory name (`web1`). */
  readonly name: string;
  /**
   * `ssh://user@host:port`, from `ansible_host` (the name when not set), `ansible_port` and
   * `ansible_user`; an IPv6 host is in brackets. {@linkcode parseTarget} accepts it.
   */
  readonly target: string;
  /** From `ansible_ssh_private_key_file` or `ansible_private_key_file`, when set. */
  readonly identityFile?: string;
  /** 1-based line where the host is first named. */
  readonly line: number;
  /** 1-based column where the host is first named. */
  readonly col: number;
}

/**
 * A group of an inventory (never `all` or `ungrouped`).
 *
 * @example
 * ```ts
 * import type { InventoryGroup } from "./inventory.ts";
 *
 * const prod: InventoryGroup = { name: "prod", hosts: [], children: ["web", "db"], line: 9, col: 1 };
 * ```
 */
export interface InventoryGroup {
  /** The group name. */
  readonly name: string;
  /** The hosts listed in the group itself, in file order, each once. */
  readonly hosts: readonly string[];
  /** The child groups, in file order, each once. */
  readonly children: readonly string[];
  /** 1-based line where the group is first defined. */
  readonly line: number;
  /** 1-based column where the group is first defined. */
  readonly col: number;
}

/**
 * An inventory: every host (including those only in `all` or `ungrouped`) and every other group.
 *
 * @example
 * ```ts
 * import { type Inventory, parseInventoryIni } from "./inventory.ts";
 *
 * const inv: Inventory = parseInventoryIni("bastion ansible_host=203.0.113.10\n", "hosts");
 * // inv = { hosts: [{ name: "bastion", target: "ssh://203.0.113.10", line: 1, col: 1 }], groups: [] }
 * ```
 */
export interface Inventory {
  /** The hosts, in the order they are first named. */
  readonly hosts: readonly InventoryHost[];
  /** The groups, in the order they are first defined. */
  readonly groups: readonly InventoryGroup[];
}

// ---------------------------------------------------------------------------------------------
// The draft both formats fill in

/** The group every host is in. */
const ALL = "all";
/** The group of hosts that are in no other group. */
const UNGROUPED = "ungrouped";
/** Most host names one host pattern may expand to. */
const MAX_EXPANSION = 10_000;
/** A variable name. */
const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What yonder takes from an inventory's variables. */
type Setting = "host" | "port" | "user" | "identityFile";

/** The variables that set a {@linkcode Setting}; a legacy name yields to the current one. */
const VARIABLES: ReadonlyMap<string, { setting: Setting; legacy: boolean }> = new Map([
  ["ansible_host", { setting: "host", legacy: false }],
  ["ansible_ssh_host", { setting: "host", legacy: true }],
  ["ansible_port", { setting: "port", legacy: false }],
  ["ansible_ssh_port", { setting: "port", legacy: true }],
  ["ansible_user", { setting: "user", legacy: false }],
  ["ansible_ssh_user", { setting: "user", legacy: true }],
  ["ansible_private_key_file", { setting: "identityFile", legacy: false }],
  ["ansible_ssh_private_key_file", { setting: "identityFile", legacy: true }],
]);

/** A place in the inventory, with its key path. */
interface Place {
  readonly line: number;
  readonly col: number;
  readonly path: string;
}

/** One setting as one level (a group or a host) gives it; `null` means "explicitly not set". */
interface SettingDef {
  readonly value: string | number | null;
  readonly legacy: boolean;
  readonly at: Place;
}

/** The settings one level gives. */
type Settings = Map<Setting, SettingDef>;

/** A host as read so far. */
interface HostDraft {
  readonly name: string;
  readonly at: Place;
  readonly vars: Settings;
}

/** A group as read so far; `at` is unset until the group is defined (INI may name it earlier). */
interface GroupDraft {
  readonly name: string;
  at: Place | undefined;
  /** The first `[name:vars]` section (INI). */
  varsAt: Place | undefined;
  readonly hosts: Set<string>;
  children: { readonly name: string; readonly at: Place }[];
  readonly vars: Settings;
}

/** A checked value, or what is wrong with it. */
type Checked<T> = { readonly value: T } | { readonly error: string };

/** Quotes a value for a message. */
function q(value: string): string {
  return JSON.stringify(value);
}

/** The hosts, groups and issues found so far in one inventory file. */
class Drafts {
  readonly issues: ConfigIssue[] = [];
  readonly hosts = new Map<string, HostDraft>();
  readonly groups = new Map<string, GroupDraft>();

  constructor(readonly file: string) {
    const nowhere = { line: 0, col: 0, path: "" };
    this.define(ALL, nowhere);
    this.define(UNGROUPED, nowhere);
  }

  /** Records a problem at `at`. */
  issue(at: Place, message: string): void {
    this.issues.push({ file: this.file, line: at.line, col: at.col, path: at.path, message });
  }

  /** The group `name`, created (not yet defined) when new. */
  group(name: string): GroupDraft {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = {
        name,
        at: undefined,
        varsAt: undefined,
        hosts: new Set(),
        children: [],
        vars: new Map(),
      };
      this.groups.set(name, g);
    }
    return g;
  }

  /** The group `name`, defined at `at` unless it was defined before. */
  define(name: string, at: Place): GroupDraft {
    const g = this.group(name);
    g.at ??= at;
    return g;
  }

  /** Puts host `name` (created at `at` when new) in `group`. */
  addHost(group: GroupDraft, name: string, at: Place): HostDraft {
    let h = this.hosts.get(name);
    if (h === undefined) {
      h = { name, at, vars: new Map() };
      this.hosts.set(name, h);
    }
    group.hosts.add(name);
    return h;
  }

  /** Makes group `name` a child of `parent`. */
  addChild(parent: GroupDraft, name: string, at: Place): void {
    this.group(name);
    parent.children.push({ name, at });
  }

  /**
   * Assigns variable `key` in each of `targets` (one level each), if it is one yonder uses. A
   * later assignment replaces an earlier one, except that a legacy name never replaces the
   * current one.
   */
  setVar(targets: readonly Settings[], key: string, value: unknown, at: Place): void {
    const spec = VARIABLES.get(key);
    if (spec === undefined) return;
    const checked = spec.setting === "port" ? checkPort(value) : checkText(key, value);
    if ("error" in checked) {
      this.issue(at, checked.error);
      return;
    }
    for (const vars of targets) {
      const before = vars.get(spec.setting);
      if (before !== undefined && spec.legacy && !before.legacy) continue;
      vars.set(spec.setting, { value: checked.value, legacy: spec.legacy, at });
    }
  }
}

/** Describes a value's type (and a scalar's start) for a message. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  const text = String(value);
  return `a ${typeof value} (${q(text.length > 40 ? `${text.slice(0, 40)}…` : text)})`;
}

/** Checks a port: a whole number 1-65535, as a number or as digits. */
function checkPort(value: unknown): Checked<number | null> {
  if (value === null) return { value: null };
  if (typeof value !== "number" && typeof value !== "string") {
    return { error: `Expected a port from 1 to 65535, got ${describe(value)}` };
  }
  const text = String(value).trim();
  const port = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (port >= 1 && port <= 65535) return { value: port };
  return { error: `Invalid port ${q(String(value))}: must be 1-65535` };
}

/** Checks a text setting; empty or null means "not set" (as Ansible ignores an empty one). */
function checkText(key: string, value: unknown): Checked<string | null> {
  if (value === null || value === "") return { value: null };
  if (typeof value === "string") return { value };
  if (typeof value === "number") return { value: String(value) };
  return { error: `Expected a string for ${q(key)}, got ${describe(value)}` };
}

// ---------------------------------------------------------------------------------------------
// Host patterns: ranges and ports

/** The hosts a pattern names, with the port it gives them. */
interface HostPattern {
  readonly names: readonly string[];
  readonly port?: number;
}

/** What is wrong with a pattern, and at which offset in it. */
interface PatternError {
  readonly error: string;
  readonly offset: number;
}

/** A bare IPv6 address (its last group is not a port). */
const IPV6_ISH_RE = /^[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9._-]+)?$/;

/** The letters of an alphabetic range, in order (as Ansible orders them). */
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * Reads a host pattern: `name`, `name:port`, a bare IPv6 address, with ranges such as
 * `web[01:03]` expanded.
 */
function readPattern(text: string): HostPattern | PatternError {
  if (text === "") return { error: "Empty host name", offset: 0 };
  if (IPV6_ISH_RE.test(text)) return { names: [text] };
  const colon = text.lastIndexOf(":");
  // A ":" outside brackets separates the port; one inside is part of a range.
  const isPort = colon >= 0 && text.lastIndexOf("[", colon) <= text.lastIndexOf("]", colon);
  let port: number | undefined;
  if (isPort) {
    const portText = text.slice(colon + 1);
    port = /^[0-9]+$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      return {
        error: `Invalid port ${q(portText)} in host ${q(text)}: must be 1-65535`,
        offset: colon + 1,
      };
    }
  }
  const names = expandRanges(isPort ? text.slice(0, colon) : text, 0, text);
  if (!Array.isArray(names)) return names;
  if (names.includes("")) return { error: `Empty host name in ${q(text)}`, offset: 0 };
  return port === undefined ? { names } : { names, port };
}

/**
 * Expands every `[begin:end]` / `[begin:end:step]` range of `text`, which starts at offset `base`
 * of the pattern `whole` (named in messages).
 */
function expandRanges(text: string, base: number, whole: string): string[] | PatternError {
  const open = text.indexOf("[");
  const close = text.indexOf("]");
  if (open < 0 && close < 0) return [text];
  if (close >= 0 && (open < 0 || close < open)) {
    return { error: `Unbalanced "]" in host pattern ${q(whole)}`, offset: base + close };
  }
  if (close < 0) return { error: `Unclosed "[" in host pattern ${q(whole)}`, offset: base + open };
  const items = rangeItems(text.slice(open + 1, close));
  if (!Array.isArray(items)) return { error: items.error, offset: base + open };
  const tails = expandRanges(text.slice(close + 1), base + close + 1, whole);
  if (!Array.isArray(tails)) return tails;
  if (items.length * tails.length > MAX_EXPANSION) {
    return {
      error: `Host pattern ${q(whole)} expands to more than ${MAX_EXPANSION} names`,
      offset: base + open,
    };
  }
  const head = text.slice(0, open);
  return items.flatMap((item) => tails.map((tail) => head + item + tail));
}

/** The values of one range, given the text between its brackets. */
function rangeItems(body: string): string[] | { error: string } {
  const where = `Invalid range ${q(`[${body}]`)}`;
  const parts = body.split(":");
  if (parts.length < 2 || parts.length > 3) {
    return { error: `${where}: expected "[begin:end]" or "[begin:end:step]"` };
  }
  const [begin = "", end = "", stepText = "1"] = parts;
  const step = /^[0-9]+$/.test(stepText) ? Number(stepText) : 0;
  if (step < 1) return { error: `${where}: the step must be a whole number from 1` };
  if (/^[0-9]*$/.test(begin) && /^[0-9]+$/.test(end)) return numberRange(where, begin, end, step);
  if (/^[A-Za-z]$/.test(begin) && /^[A-Za-z]$/.test(end)) {
    return letterRange(where, begin, end, step);
  }
  return { error: `${where}: begin and end must both be numbers or both single letters` };
}

/** `01`…`10`: leading zeros of `begin` give the width of every value. */
function numberRange(where: string, begin: string, end: string, step: number) {
  const first = begin === "" ? 0 : Number(begin);
  const last = Number(end);
  const width = begin.length > 1 && begin.startsWith("0") ? begin.length : 0;
  if (width > 0 && end.length !== width) {
    return { error: `${where}: with leading zeros, begin and end must have as many digits` };
  }
  if (first > last) return { error: `${where}: begin must not be greater than end` };
  if ((last - first) / step >= MAX_EXPANSION) {
    return { error: `${where}: expands to more than ${MAX_EXPANSION} names` };
  }
  const out: string[] = [];
  for (let n = first; n <= last; n += step) out.push(String(n).padStart(width, "0"));
  return out;
}

/** `a`…`c`, in the order a-z then A-Z. */
function letterRange(where: string, begin: string, end: string, step: number) {
  const first = LETTERS.indexOf(begin);
  const last = LETTERS.indexOf(end);
  if (first > last) return { error: `${where}: begin must not come after end` };
  const out: string[] = [];
  for (let i = first; i <= last; i += step) out.push(LETTERS[i]!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resolving: children, precedence, targets

/** The group graph once its children are checked. */
interface Graph {
  readonly parents: ReadonlyMap<string, readonly string[]>;
  /** Longest chain of parents down from `all` (0); a top-level group is 1. */
  depth(name: string): number;
}

/**
 * Checks the group graph, resolves every host and builds the inventory, or throws a
 * {@linkcode ConfigError} with every issue found (in file order).
 */
function resolve(d: Drafts): Inventory {
  checkChildren(d);
  const graph = graphOf(d);
  const memberOf = new Map<string, string[]>();
  for (const g of d.groups.values()) {
    for (const h of g.hosts) memberOf.set(h, [...(memberOf.get(h) ?? []), g.name]);
  }
  const hosts: InventoryHost[] = [];
  for (const h of d.hosts.values()) {
    const host = buildHost(d, h, mergedVars(d, h, hostGroups(memberOf.get(h.name) ?? [], graph)));
    if (host !== undefined) hosts.push(host);
  }
  if (d.issues.length > 0) {
    throw new ConfigError(d.issues.toSorted((a, b) => a.line - b.line || a.col - b.col));
  }
  const groups: InventoryGroup[] = [];
  for (const g of d.groups.values()) {
    if (g.name === ALL || g.name === UNGROUPED || g.at === undefined) continue;
    const children = [...new Set(g.children.map((c) => c.name))];
    groups.push({ name: g.name, hosts: [...g.hosts], children, line: g.at.line, col: g.at.col });
  }
  groups.sort((a, b) => a.line - b.line || a.col - b.col);
  return { hosts, groups };
}

/** Reports (and drops) every child edge that names `all` or closes a cycle. */
function checkChildren(d: Drafts): void {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (g: GroupDraft): void => {
    state.set(g.name, "open");
    stack.push(g.name);
    g.children = g.children.filter((c) => {
      if (c.name === ALL) {
        d.issue(c.at, `Group "all" cannot be a child of ${q(g.name)}: every group is in "all"`);
        return false;
      }
      const seen = state.get(c.name);
      if (seen === "open") {
        const cycle = [...stack.slice(stack.indexOf(c.name)), c.name];
        d.issue(c.at, `Cycle in group children: ${cycle.map(q).join(" → ")}`);
        return false;
      }
      if (seen === undefined) visit(d.group(c.name));
      return true;
    });
    stack.pop();
    state.set(g.name, "done");
  };
  for (const g of d.groups.values()) if (!state.has(g.name)) visit(g);
}

/** The parents and depths of the (acyclic) group graph. */
function graphOf(d: Drafts): Graph {
  const parents = new Map<string, string[]>();
  for (const g of d.groups.values()) {
    for (const c of g.children) {
      const list = parents.get(c.name) ?? [];
      if (!list.includes(g.name)) list.push(g.name);
      parents.set(c.name, list);
    }
  }
  const depths = new Map<string, number>([[ALL, 0]]);
  const depth = (name: string): number => {
    let found = depths.get(name);
    if (found === undefined) {
      found = 1 + Math.max(0, ...(parents.get(name) ?? []).map(depth));
      depths.set(name, found);
    }
    return found;
  };
  return { parents, depth };
}

/**
 * The groups whose variables apply to a host listed directly in `direct`, lowest precedence first
 * (`all` excluded: it always comes first).
 *
 * Precedence follows Ansible: a group applies if the host is in it or in one of its descendants;
 * a shallower group (smaller {@linkcode Graph.depth}) yields to a deeper one, and among groups of
 * equal depth the one whose name sorts later wins. A host listed in no group other than `all` and
 * `ungrouped` is in `ungrouped`; one listed in another group is not in `ungrouped`.
 */
function hostGroups(direct: readonly string[], graph: Graph): string[] {
  const own = direct.filter((g) => g !== ALL && g !== UNGROUPED);
  const seen = new Set<string>();
  const add = (name: string): void => {
    if (name === ALL || seen.has(name)) return;
    seen.add(name);
    for (const p of graph.parents.get(name) ?? []) add(p);
  };
  for (const g of own.length > 0 ? own : [UNGROUPED]) add(g);
  return [...seen].sort((a, b) => graph.depth(a) - graph.depth(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A host's settings: `all`'s, then those of its groups in precedence order, then its own, each
 * level replacing what the ones before it set. A variable and its legacy alias
 * (`ansible_port`, `ansible_ssh_port`) are one setting: a higher level wins whichever name it
 * uses, and within one level the current name wins.
 */
function mergedVars(d: Drafts, h: HostDraft, groups: readonly string[]): Settings {
  const merged: Settings = new Map();
  const levels = [d.group(ALL).vars, ...groups.map((g) => d.group(g).vars), h.vars];
  for (const vars of levels) for (const [key, def] of vars) merged.set(key, def);
  return merged;
}

/** Builds a host from its settings; reports (and returns nothing for) a target yonder rejects. */
function buildHost(d: Drafts, h: HostDraft, vars: Settings): InventoryHost | undefined {
  const value = (s: Setting) => vars.get(s)?.value ?? undefined;
  const t: Target = { host: String(value("host") ?? h.name) };
  const user = value("user");
  const port = value("port");
  const identityFile = value("identityFile");
  if (user !== undefined) t.user = String(user);
  if (port !== undefined) t.port = Number(port);
  let target: string;
  try {
    target = formatTarget(t);
    parseTarget(target);
  } catch (e) {
    if (!(e instanceof TargetError)) throw e;
    const setting: Setting = e.part === "user" ? "user" : e.part === "port" ? "port" : "host";
    d.issue(vars.get(setting)?.at ?? h.at, `Host ${q(h.name)}: ${e.message}`);
    return undefined;
  }
  const base = { name: h.name, target, line: h.at.line, col: h.at.col };
  return identityFile === undefined ? base : { ...base, identityFile: String(identityFile) };
}

// ---------------------------------------------------------------------------------------------
// INI

/** The section a line of an INI inventory is in (`skip` after a bad header). */
type IniSection =
  | {
    readonly kind: "hosts" | "children" | "vars";
    readonly group: GroupDraft;
    readonly header: string;
  }
  | { readonly kind: "skip" };

/** `[name]` or `[name:type]`, then an optional comment. */
const HEADER_RE = /^\[([^:\]\s]+)(?::([^\]\s]*))?\]\s*(?:[#;].*)?$/;

/**
 * Reads an INI inventory (see the module documentation for the format).
 *
 * @param text The inventory's text.
 * @param file The file name used in messages.
 * @returns The hosts and groups.
 * @throws {ConfigError} With every problem found, each with its `line:col` and key path.
 *
 * @example
 * ```ts
 * import { parseInventoryIni } from "./inventory.ts";
 *
 * const inv = parseInventoryIni(
 *   "[web]\nweb1 ansible_host=10.0.0.11\n\n[web:vars]\nansible_user = deploy\n",
 *   "hosts.ini",
 * );
 * // inv.hosts[0].target = "ssh://deploy@10.0.0.11"
 * ```
 */
export function parseInventoryIni(text: string, file: string): Inventory {
  const d = new Drafts(file);
  let section: IniSection = { kind: "hosts", group: d.group(UNGROUPED), header: "[ungrouped]" };
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const body = raw.trim();
    if (body === "" || body.startsWith("#") || body.startsWith(";")) continue;
    const at = { line: i + 1, col: raw.length - raw.trimStart().length + 1 };
    if (body.startsWith("[")) section = readHeader(d, body, at);
    else if (section.kind === "hosts") readHostLine(d, section.group, section.header, raw, i + 1);
    else if (section.kind === "children") readChildLine(d, section.group, section.header, body, at);
    else if (section.kind === "vars") readVarLine(d, section.group, section.header, raw, i + 1);
  }
  checkDeclared(d);
  return resolve(d);
}

/** Reads a section header; a bad one is reported and its lines skipped. */
function readHeader(d: Drafts, body: string, at: { line: number; col: number }): IniSection {
  const m = HEADER_RE.exec(body);
  if (m === null) {
    d.issue(
      { ...at, path: "" },
      `Malformed section header ${
        q(body)
      }: expected "[group]", "[group:vars]" or "[group:children]"`,
    );
    return { kind: "skip" };
  }
  const name = m[1]!;
  const kind = m[2];
  const header = kind === undefined ? `[${name}]` : `[${name}:${kind}]`;
  const place = { ...at, path: header };
  if (kind === undefined) return { kind: "hosts", group: d.define(name, place), header };
  if (kind === "children") return { kind: "children", group: d.define(name, place), header };
  if (kind === "vars") {
    const group = d.group(name);
    group.varsAt ??= place;
    return { kind: "vars", group, header };
  }
  d.issue(place, `Unknown section type ${q(kind)} in ${q(header)}: expected "vars" or "children"`);
  return { kind: "skip" };
}

/** Reads `pattern key=value…` in section `header` of `group`. */
function readHostLine(d: Drafts, group: GroupDraft, header: string, raw: string, line: number) {
  const words = splitWords(raw);
  if (!Array.isArray(words)) {
    d.issue({ line, col: words.offset + 1, path: header }, words.error);
    return;
  }
  const [first, ...rest] = words;
  if (first === undefined) return;
  const hostAt = { line, col: first.col, path: `${header}.${first.raw}` };
  if (first.text.includes("=")) {
    d.issue(
      hostAt,
      `Expected a host name, got ${q(first.text)}: ` +
        `put variables after a host name or in a "[group:vars]" section`,
    );
    return;
  }
  const pattern = readPattern(first.text);
  if ("error" in pattern) {
    d.issue({ ...hostAt, col: first.col + pattern.offset }, pattern.error);
    return;
  }
  const levels = pattern.names.map((name) => d.addHost(group, name, hostAt).vars);
  if (pattern.port !== undefined) d.setVar(levels, "ansible_port", pattern.port, hostAt);
  for (const w of rest) {
    const eq = w.text.indexOf("=");
    const key = w.text.slice(0, Math.max(eq, 0));
    if (!VAR_NAME_RE.test(key)) {
      d.issue(
        { line, col: w.col, path: hostAt.path },
        `Malformed host variable ${q(w.text)}: expected "key=value"`,
      );
      continue;
    }
    const col = w.col + Math.max(w.raw.indexOf("="), 0) + 1;
    d.setVar(levels, key, w.text.slice(eq + 1), { line, col, path: `${hostAt.path}.${key}` });
  }
}

/** Reads one child group name in a `[group:children]` section. */
function readChildLine(
  d: Drafts,
  group: GroupDraft,
  header: string,
  body: string,
  at: { line: number; col: number },
): void {
  const m = /^([^:\]\s]+)\s*(?:[#;].*)?$/.exec(body);
  if (m === null) {
    d.issue(
      { ...at, path: header },
      `Malformed child group ${q(body)}: expected one group name on the line`,
    );
    return;
  }
  d.addChild(group, m[1]!, { ...at, path: `${header}.${m[1]}` });
}

/** Reads `key=value` (or `key = value`) in a `[group:vars]` section. */
function readVarLine(d: Drafts, group: GroupDraft, header: string, raw: string, line: number) {
  const start = raw.length - raw.trimStart().length;
  const eq = raw.indexOf("=");
  const key = eq < 0 ? "" : raw.slice(start, eq).trim();
  if (!VAR_NAME_RE.test(key)) {
    d.issue(
      { line, col: start + 1, path: header },
      `Malformed variable ${q(raw.trim())}: expected "key=value"`,
    );
    return;
  }
  const value = readIniValue(raw, eq + 1);
  const at = { line, col: value.offset + 1, path: `${header}.${key}` };
  if ("error" in value) d.issue(at, value.error);
  else d.setVar([group.vars], key, value.text, at);
}

/**
 * The value of a `[group:vars]` line from offset `from`: a quoted text (quotes removed), or the
 * rest of the line without a trailing ` # comment`.
 */
function readIniValue(
  raw: string,
  from: number,
): { text: string; offset: number } | { error: string; offset: number } {
  let i = from;
  while (i < raw.length && /\s/.test(raw[i]!)) i++;
  const c = raw[i];
  if (c !== '"' && c !== "'") {
    return { text: raw.slice(i).replace(/\s+#.*$/, "").trim(), offset: i };
  }
  const end = closingQuote(raw, i);
  if (end < 0) return { error: unterminated(c), offset: i };
  const rest = raw.slice(end + 1);
  const after = rest.trim();
  if (after !== "" && !after.startsWith("#")) {
    const offset = end + 1 + rest.length - rest.trimStart().length;
    return { error: `Unexpected text ${q(after)} after a quoted value`, offset };
  }
  return { text: unquote(raw.slice(i + 1, end), c), offset: i };
}

/** A word of a host line: its text (quotes removed), as written, and its 1-based column. */
interface Word {
  readonly text: string;
  readonly raw: string;
  readonly col: number;
}

/**
 * Splits a host line into words as a POSIX shell would: whitespace separates them, quotes and
 * `\` keep text together, and a word starting with `#` starts a comment.
 */
function splitWords(line: string): Word[] | PatternError {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    if (/\s/.test(line[i]!)) {
      i++;
      continue;
    }
    if (line[i] === "#") break;
    const start = i;
    let text = "";
    while (i < line.length && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === '"' || c === "'") {
        const end = closingQuote(line, i);
        if (end < 0) return { error: unterminated(c), offset: i };
        text += unquote(line.slice(i + 1, end), c);
        i = end + 1;
      } else {
        text += c === "\\" && i + 1 < line.length ? line[++i] : c;
        i++;
      }
    }
    words.push({ text, raw: line.slice(start, i), col: start + 1 });
  }
  return words;
}

/** The index of the quote closing the one at `open`, or -1 (`\` escapes in double quotes). */
function closingQuote(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === quote) return i;
    if (quote === '"' && text[i] === "\\") i++;
  }
  return -1;
}

/** The text between quotes: in double quotes, `\"` and `\\` stand for `"` and `\`. */
function unquote(text: string, quote: string): string {
  return quote === '"' ? text.replace(/\\(["\\])/g, "$1") : text;
}

/** The message for an unterminated quote. */
function unterminated(quote: string): string {
  const kind = quote === '"' ? "double" : "single";
  return `Unterminated ${kind} quote: add the closing ${kind} quote`;
}

/**
 * Reports groups that are named but never defined by a `[group]` or `[group:children]` section:
 * as a child (the edge is dropped) or by a `[group:vars]` section.
 */
function checkDeclared(d: Drafts): void {
  const defined = (name: string) => d.groups.get(name)?.at !== undefined;
  for (const g of d.groups.values()) {
    if (g.varsAt !== undefined && g.at === undefined) {
      d.issue(
        g.varsAt,
        `Group ${q(g.name)} is not defined: add a "[${g.name}]" or "[${g.name}:children]" section`,
      );
    }
    g.children = g.children.filter((c) => {
      if (defined(c.name)) return true;
      d.issue(
        c.at,
        `Child group ${q(c.name)} is not defined: add a "[${c.name}]" or ` +
          `"[${c.name}:children]" section`,
      );
      return false;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// YAML

/** What the YAML readers share. */
interface YamlContext {
  readonly src: YamlSource;
  readonly d: Drafts;
}

/**
 * Reads a YAML inventory (see the module documentation for the format).
 *
 * @param text The inventory's text.
 * @param file The file name used in messages.
 * @returns The hosts and groups.
 * @throws {ConfigError} With every problem found, each with its `line:col` and key path (or the
 *   YAML syntax error).
 *
 * @example
 * ```ts
 * import { parseInventoryYaml } from "./inventory.ts";
 * import { loadYaml } from "./yaml.ts";
 *
 * await loadYaml(); // the YAML library loads at run time
 * const inv = parseInventoryYaml(
 *   "all:\n  children:\n    web:\n      hosts:\n        web1:\n          ansible_port: 2222\n",
 *   "inventory.yaml",
 * );
 * // inv.hosts[0].target = "ssh://web1:2222"; inv.groups[0].hosts = ["web1"]
 * ```
 */
export function parseInventoryYaml(text: string, file: string): Inventory {
  const y: YamlContext = { src: parseYaml(text, file), d: new Drafts(file) };
  const top = asMap(y, y.src.value, [], `a map of groups (such as "all")`);
  for (const [name, node] of Object.entries(top ?? {})) readYamlGroup(y, name, node, [name]);
  return resolve(y.d);
}

/** The place of `path` (of its key when `key` is true). */
function yamlPlace(y: YamlContext, path: KeyPath, key = false): Place {
  return { ...y.src.locate(path, key), path: formatPath(path) };
}

/** `node` as a map (an empty one for null); reports anything else as not `expected`. */
function asMap(
  y: YamlContext,
  node: unknown,
  path: KeyPath,
  expected: string,
): Record<string, unknown> | undefined {
  if (node === null || node === undefined) return {};
  if (typeof node === "object" && !Array.isArray(node)) return node as Record<string, unknown>;
  y.d.issue(yamlPlace(y, path), `Expected ${expected}, got ${describe(node)}`);
  return undefined;
}

/** Reads group `name` (defining it) from its map of `hosts`, `vars` and `children`. */
function readYamlGroup(y: YamlContext, name: string, node: unknown, path: KeyPath): GroupDraft {
  const g = y.d.define(name, yamlPlace(y, path, true));
  const map = asMap(y, node, path, `a map with "hosts", "vars" or "children"`);
  for (const [key, value] of Object.entries(map ?? {})) {
    const at = [...path, key];
    if (key === "hosts") readYamlHosts(y, g, value, at);
    else if (key === "vars") {
      readYamlVars(y, [g.vars], asMap(y, value, at, "a map of variables"), at);
    } else if (key === "children") readYamlChildren(y, g, value, at);
    else {
      y.d.issue(
        yamlPlace(y, at, true),
        `Unknown key ${q(key)} in group ${q(name)}: expected "hosts", "vars" or "children"`,
      );
    }
  }
  return g;
}

/** Reads a group's `hosts`: host patterns, each with its map of variables or nothing. */
function readYamlHosts(y: YamlContext, g: GroupDraft, node: unknown, path: KeyPath): void {
  const hosts = asMap(y, node, path, "a map of host names");
  for (const [text, vars] of Object.entries(hosts ?? {})) {
    const at = [...path, text];
    const keyAt = yamlPlace(y, at, true);
    const pattern = readPattern(text);
    if ("error" in pattern) {
      y.d.issue(keyAt, pattern.error);
      continue;
    }
    const levels = pattern.names.map((name) => y.d.addHost(g, name, keyAt).vars);
    if (pattern.port !== undefined) y.d.setVar(levels, "ansible_port", pattern.port, keyAt);
    readYamlVars(y, levels, asMap(y, vars, at, "a map of variables"), at);
  }
}

/** Assigns the variables yonder uses from `vars` (at `path`) in each of `levels`. */
function readYamlVars(
  y: YamlContext,
  levels: readonly Settings[],
  vars: Record<string, unknown> | undefined,
  path: KeyPath,
): void {
  for (const [key, value] of Object.entries(vars ?? {})) {
    if (VARIABLES.has(key)) y.d.setVar(levels, key, value, yamlPlace(y, [...path, key]));
  }
}

/** Reads a group's `children`: each a group of its own. */
function readYamlChildren(y: YamlContext, g: GroupDraft, node: unknown, path: KeyPath): void {
  const children = asMap(y, node, path, "a map of group names");
  for (const [name, child] of Object.entries(children ?? {})) {
    const at = [...path, name];
    y.d.addChild(g, name, yamlPlace(y, at, true));
    readYamlGroup(y, name, child, at);
  }
}

// ---------------------------------------------------------------------------------------------
// Either

/**
 * Reads an inventory, picking the format by the file name: `.ini`, no extension or `hosts` is
 * INI, `.yaml` or `.yml` is YAML; otherwise a line starting with `[` means INI, and anything else
 * YAML.
 *
 * @param text The inventory's text.
 * @param file The file name (used to pick the format, and in messages).
 * @returns The hosts and groups.
 * @throws {ConfigError} With every problem found.
 *
 * @example
 * ```ts
 * import { parseInventory } from "./inventory.ts";
 *
 * parseInventory("[db]\ndb1 ansible_host=2001:db8::10\n", "inventory/hosts").hosts[0]?.target;
 * // "ssh://[2001:db8::10]"
 * parseInventory("db:\n  hosts:\n    db1:\n", "inventory.yml").groups[0]?.hosts; // ["db1"]
 * ```
 */
export function parseInventory(text: string, file: string): Inventory {
  const base = file.split(/[\\/]/).pop() ?? file;
  const dot = base.lastIndexOf(".");
  const ext = dot <= 0 ? "" : base.slice(dot + 1).toLowerCase();
  if (ext === "yaml" || ext === "yml") return parseInventoryYaml(text, file);
  if (ext === "ini" || ext === "" || base === "hosts") return parseInventoryIni(text, file);
  return /^\[/m.test(text) ? parseInventoryIni(text, file) : parseInventoryYaml(text, file);
}
