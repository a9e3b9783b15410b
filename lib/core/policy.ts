/**
 * Argv-level policy: what a command may run, decided on its argv (never on a command string),
 * with the usual wrappers looked through and the ones that hide a command refused as opaque.
 *
 * A command is first *unwrapped*: `env`, `nohup`, `timeout`, `nice`, `ionice`, `stdbuf`,
 * `sudo` and `doas` are stepped over (their options and operands skipped) to the command they
 * run, which is decided on as well; `sh -c`, `bash -c` (and dash, ash, zsh, ksh) make the inner
 * text a *script*; `find … -exec CMD ;` adds CMD as another command to decide on. Commands that
 * hide what runs are *opaque* and refused under an allowlist: `xargs` (its arguments come from
 * stdin), `git -c` / `--config-env` / `--exec-path` (a config can run any program), `find
 * -delete` / `-fprint*` / `-fls` (writes), and a wrapper whose operands cannot be parsed.
 *
 * Every command of the unwrapped chain is decided on: the first rule that matches it decides
 * (`allow`, `deny` or `approve`), and the strictest decision of the chain wins. A wrapper that
 * was stepped over counts only when a rule names it (`deny sudo`); otherwise its command speaks
 * for it. What no rule matches is denied in `allowlist` mode, allowed in `denylist` mode.
 *
 * @module
 */

import { underRoot } from "../util/path.ts";
import { YonderError } from "./errors.ts";
import type { Hooks, Operation } from "./hooks.ts";

/** What a rule or the policy decides. */
export type Decision = "allow" | "deny" | "approve";

/** A word matcher: an exact word, or an anchored regular expression (`{ re: "^-[lah]+$" }`). */
export type WordMatch = string | { readonly re: string };

/** One rule. */
export interface PolicyRule {
  /** Reported with the decision. */
  readonly id: string;
  /** What it decides when it matches. */
  readonly decision: Decision;
  /**
   * Program names: a bare name (`rm`) matches that name run from PATH and, for `deny` and
   * `approve`, any path ending in it (`/bin/rm`, `./rm`); for `allow`, a path matches only when
   * it is listed itself or lies in a system directory (`/bin`, `/usr/bin`, …), so a file an agent
   * wrote and named `ls` is not `ls`. Omitted: any program.
   */
  readonly program?: string | readonly string[];
  /** The arguments, word by word from argv[1]; exactly these many unless `more` is set. */
  readonly args?: readonly WordMatch[];
  /** More arguments may follow `args` (each must match `each` when that is set). */
  readonly more?: boolean;
  /** Every argument must match this. */
  readonly each?: WordMatch;
  /** Some argument must match this. */
  readonly some?: WordMatch;
  /** The working directory must lie under one of these (absolute paths). */
  readonly cwd?: readonly string[];
  /** Only environment variables with these names may be set by the call. */
  readonly env?: readonly string[];
  /** For shell scripts (a string command, `sh -c`): this rule decides them. */
  readonly shell?: boolean;
}

/** A policy: a mode and ordered rules. */
export interface Policy {
  /** `allowlist`: what no rule allows is denied (default). `denylist`: the reverse. */
  readonly mode?: "allowlist" | "denylist";
  /** Tried in order; the first match decides. */
  readonly rules: readonly PolicyRule[];
}

/** What is asked: an argv or a script, with its working directory and environment. */
export interface PolicyRequest {
  /** The argv, or a shell script. */
  readonly command: readonly string[] | string;
  /** The working directory, if given. */
  readonly cwd?: string | undefined;
  /** Names of the variables the call sets. */
  readonly env?: readonly string[];
}

/** The outcome, with the rule that decided and why. */
export interface Verdict {
  /** The decision. */
  readonly decision: Decision;
  /** The id of the rule that decided, or `default` / `opaque`. */
  readonly rule: string;
  /** A sentence for the refusal message. */
  readonly reason: string;
}

/** Directories whose programs an `allow` rule's bare name covers when given as a path. */
const SYSTEM_DIRS = new Set(["/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin"]);
/** Shells whose `-c` argument is a script. */
const SHELLS = new Set(["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"]);

/** One command of the unwrapped chain, or a script, or something that hides what runs. */
type Part =
  | { kind: "argv"; argv: readonly string[]; wrapper?: boolean }
  | { kind: "script"; text: string }
  | { kind: "opaque"; why: string };

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function dirname(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

/** Skips `env`'s options and NAME=value words; the rest is the command. */
function afterEnv(args: readonly string[]): readonly string[] | null {
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === "--") return args.slice(i + 1);
    if (a === "-i" || a === "-0" || a === "--ignore-environment" || a === "--null") i++;
    else if (a === "-u" || a === "--unset" || a === "-C" || a === "--chdir") i += 2;
    else if (/^--(unset|chdir)=/.test(a)) i++;
    else if (a.startsWith("-")) return null; // -S (split string) and the like hide the command.
    else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) i++;
    else return args.slice(i);
  }
  return [];
}

/**
 * Skips a wrapper's options: `flags` take no value, `valued` take the next word (or `=value`),
 * then `operands` plain words (timeout's duration); null when an option is unknown.
 */
function afterOptions(
  args: readonly string[],
  flags: readonly string[],
  valued: readonly string[],
  operands = 0,
): readonly string[] | null {
  let i = 0;
  while (i < args.length && args[i]!.startsWith("-") && args[i] !== "-") {
    const a = args[i]!;
    if (a === "--") {
      i++;
      break;
    }
    const name = a.includes("=") ? a.slice(0, a.indexOf("=")) : a;
    if (flags.includes(a)) i++;
    else if (valued.includes(name)) i += a.includes("=") ? 1 : 2;
    else if (valued.some((v) => v.length === 2 && a.startsWith(v) && a.length > 2)) i++; // -n5
    else return null;
  }
  i += operands;
  return i <= args.length ? args.slice(i) : null;
}

/** The command a wrapper runs, or null if `argv` is not a wrapper we step over. */
function unwrapOnce(argv: readonly string[]): readonly string[] | null | "bad" {
  const name = basename(argv[0] ?? "");
  const rest = argv.slice(1);
  let inner: readonly string[] | null;
  switch (name) {
    case "env":
      inner = afterEnv(rest);
      break;
    case "nohup":
      inner = afterOptions(rest, [], []);
      break;
    case "timeout":
      inner = afterOptions(rest, ["--preserve-status", "--foreground", "-v", "--verbose"], [
        "-s",
        "--signal",
        "-k",
        "--kill-after",
      ], 1);
      break;
    case "nice":
      inner = afterOptions(rest, [], ["-n", "--adjustment"]);
      break;
    case "ionice":
      inner = afterOptions(rest, ["-t"], ["-c", "-n", "--class", "--classdata"]);
      break;
    case "stdbuf":
      inner = afterOptions(rest, [], ["-i", "-o", "-e", "--input", "--output", "--error"]);
      break;
    case "sudo":
      inner = afterOptions(rest, ["-n", "-E", "-H", "-S", "-k", "-P", "-b", "--"], [
        "-u",
        "-g",
        "-p",
        "-C",
        "-D",
        "-h",
        "-r",
        "-t",
        "-U",
        "--user",
        "--group",
      ]);
      break;
    case "doas":
      inner = afterOptions(rest, ["-n", "-s"], ["-u", "-C"]);
      break;
    default:
      return null;
  }
  // A wrapper left with nothing to run runs nothing we can see (`sudo -s`, `env` alone).
  return inner === null || inner.length === 0 ? "bad" : inner;
}

/** What `find … -exec CMD ; …` runs, and whether it writes on its own. */
function findParts(argv: readonly string[]): Part[] {
  const parts: Part[] = [{ kind: "argv", argv }];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-delete" || a.startsWith("-fprint") || a === "-fls") {
      parts.push({ kind: "opaque", why: `find ${a} writes files` });
    }
    if (a === "-exec" || a === "-execdir" || a === "-ok" || a === "-okdir") {
      const end = argv.findIndex((w, j) => j > i && (w === ";" || w === "+"));
      if (end < 0) return [{ kind: "opaque", why: `find ${a} without its end` }];
      parts.push(...unwrap(argv.slice(i + 1, end)));
      i = end;
    }
  }
  return parts;
}

/** The chain of commands `argv` runs, outermost first. */
function unwrap(argv: readonly string[], depth = 0): Part[] {
  if (depth > 16) return [{ kind: "opaque", why: "wrappers nested too deep" }];
  const name = basename(argv[0] ?? "");
  if (SHELLS.has(name)) {
    const c = argv.indexOf("-c");
    if (c > 0) {
      const text = argv[c + 1];
      if (text === undefined) return [{ kind: "opaque", why: `${name} -c without a script` }];
      return [{ kind: "argv", argv, wrapper: true }, { kind: "script", text }];
    }
  }
  if (name === "xargs") {
    return [{ kind: "opaque", why: "xargs takes its arguments from stdin" }];
  }
  if (name === "git" && argv.some((a) => /^(-c|--config-env|--exec-path)(=|$)/.test(a))) {
    return [{ kind: "opaque", why: "git -c and --config-env can make git run any program" }];
  }
  if (name === "find") return findParts(argv);
  const inner = unwrapOnce(argv);
  if (inner === null) return [{ kind: "argv", argv }];
  if (inner === "bad") return [{ kind: "opaque", why: `cannot tell what ${name} runs` }];
  return [{ kind: "argv", argv, wrapper: true }, ...unwrap(inner, depth + 1)];
}

function wordMatches(word: string, m: WordMatch): boolean {
  if (typeof m === "string") return word === m;
  return new RegExp(`^(?:${m.re})$`, "s").test(word);
}

function programMatches(rule: PolicyRule, program: string): boolean {
  if (rule.program === undefined) return true;
  const names = typeof rule.program === "string" ? [rule.program] : rule.program;
  const base = basename(program);
  const isPath = program.includes("/");
  return names.some((n) => {
    if (n.includes("/")) return n === program;
    if (n !== base) return false;
    if (!isPath || rule.decision !== "allow") return true;
    return program.startsWith("/") && SYSTEM_DIRS.has(dirname(program));
  });
}

function argsMatch(rule: PolicyRule, args: readonly string[]): boolean {
  const fixed = rule.args ?? [];
  if (args.length < fixed.length) return false;
  if (!rule.more && rule.args !== undefined && args.length !== fixed.length) return false;
  for (let i = 0; i < fixed.length; i++) if (!wordMatches(args[i]!, fixed[i]!)) return false;
  if (rule.each && !args.slice(fixed.length).every((a) => wordMatches(a, rule.each!))) {
    return false;
  }
  if (rule.some && !args.some((a) => wordMatches(a, rule.some!))) return false;
  return true;
}

/** Whether `rule` matches one part, given the request's cwd and env. */
function ruleMatches(rule: PolicyRule, part: Part, req: PolicyRequest): boolean {
  if (part.kind === "opaque") return false;
  if (rule.cwd !== undefined) {
    if (req.cwd === undefined || !req.cwd.startsWith("/") || !underRoot(req.cwd, rule.cwd)) {
      return false;
    }
  }
  if (rule.env !== undefined && !(req.env ?? []).every((n) => rule.env!.includes(n))) return false;
  if (part.kind === "script") return rule.shell === true;
  if (rule.shell === true) return false;
  const [program = "", ...args] = part.argv;
  return programMatches(rule, program) && argsMatch(rule, args);
}

/** The first rule that matches `part`, or null. */
function firstMatch(policy: Policy, part: Part, req: PolicyRequest): PolicyRule | null {
  return policy.rules.find((r) => ruleMatches(r, part, req)) ?? null;
}

function describe(part: Part): string {
  if (part.kind === "opaque") return part.why;
  if (part.kind === "script") return "a shell script";
  return JSON.stringify(part.argv[0] ?? "");
}

const RANK: Record<Decision, number> = { allow: 0, approve: 1, deny: 2 };

/**
 * Decides `req` under `policy`. Every command of the unwrapped chain is decided on; the strictest
 * decision wins (deny, then approve, then allow).
 *
 * @example
 * ```ts
 * import { decide } from "./policy.ts";
 * const policy = { rules: [{ id: "ls", decision: "allow" as const, program: "ls", more: true }] };
 * console.log(decide(policy, { command: ["ls", "-l"] }).decision); // "allow"
 * console.log(decide(policy, { command: ["env", "rm", "-rf", "/"] }).decision); // "deny"
 * ```
 */
export function decide(policy: Policy, req: PolicyRequest): Verdict {
  const allowlist = (policy.mode ?? "allowlist") === "allowlist";
  const parts: Part[] = typeof req.command === "string"
    ? [{ kind: "script", text: req.command }]
    : req.command.length === 0
    ? [{ kind: "opaque", why: "an empty command" }]
    : unwrap(req.command);
  let verdict: Verdict | null = null;
  for (const part of parts) {
    const rule = firstMatch(policy, part, req);
    if (!rule && part.kind === "argv" && part.wrapper) continue;
    const v: Verdict = rule
      ? { decision: rule.decision, rule: rule.id, reason: `${describe(part)}: rule ${rule.id}` }
      : part.kind === "opaque" && allowlist
      ? { decision: "deny", rule: "opaque", reason: part.why }
      : {
        decision: allowlist ? "deny" : "allow",
        rule: "default",
        reason: allowlist ? `${describe(part)} is not allowed by any rule` : "no rule matched",
      };
    if (verdict === null || RANK[v.decision] > RANK[verdict.decision]) verdict = v;
  }
  return verdict!;
}

/**
 * A command the policy refused (or that needed an approval it did not get); nothing ran. The CLI
 * exits 77 for it.
 *
 * @example
 * ```ts
 * import { PolicyRefused } from "./policy.ts";
 * const e = new PolicyRefused({ decision: "deny", rule: "default", reason: "not allowed" });
 * console.log(e.message); // "refused: default: not allowed"
 * ```
 */
export class PolicyRefused extends YonderError {
  /** Always `"PolicyRefused"`. */
  override readonly name = "PolicyRefused";
  /** The verdict behind the refusal. */
  readonly verdict: Verdict;

  /** Creates the refusal for `verdict` (`approvalMissing`: it needed an approval it did not get). */
  constructor(verdict: Verdict, approvalMissing = false) {
    super(`refused: ${verdict.rule}: ${verdict.reason}`, {
      hint: approvalMissing
        ? "This command needs an approval: pass --approve, or answer on a terminal"
        : verdict.rule.startsWith("paths.")
        ? "The policy's path roots do not cover this path"
        : "The policy does not allow this command; change the policy, not the command",
    });
    this.verdict = verdict;
  }
}

/** Roots a file operation's path must lie under, after resolving `..` and symlinks. */
export interface PathRoots {
  /** Reads (read, stat, list, download, pull) are allowed under these, and under `write`. */
  readonly read?: readonly string[];
  /** Writes (write, upload, mkdir, remove, push) are allowed under these. */
  readonly write?: readonly string[];
}

/** Options of {@linkcode policyHooks}. */
export interface PolicyHookOptions {
  /**
   * Asked for a command whose verdict is `approve`: true (or the approver's name) runs it.
   * Without one, such commands are refused.
   */
  approve?: (req: PolicyRequest, verdict: Verdict) => boolean | string | Promise<boolean | string>;
  /** Roots for file operations, push and pull (unset: file operations are not restricted). */
  paths?: PathRoots;
  /**
   * Resolves a path as the environment would use it to an absolute path with `..` and symlinks
   * resolved (for a remote environment, on the remote). Required with `paths`.
   */
  resolvePath?: (path: string) => Promise<string>;
  /** Told of every decision that let an operation run (`approver` set when one approved it). */
  onDecision?: (op: Operation, verdict: Verdict, approver: string | null) => void | Promise<void>;
}

/**
 * The paths of a file operation: which argument, read or written. The local side of a transfer
 * counts only when the environment is this machine too.
 */
const FILE_ACCESS: Partial<
  Record<Operation["name"], readonly { at: number; write: boolean; localOnly?: boolean }[]>
> = {
  readFile: [{ at: 0, write: false }],
  readFileStream: [{ at: 0, write: false }],
  stat: [{ at: 0, write: false }],
  list: [{ at: 0, write: false }],
  download: [{ at: 0, write: false }, { at: 1, write: true, localOnly: true }],
  pull: [{ at: 0, write: false }, { at: 1, write: true, localOnly: true }],
  writeFile: [{ at: 0, write: true }],
  mkdir: [{ at: 0, write: true }],
  remove: [{ at: 0, write: true }],
  upload: [{ at: 1, write: true }, { at: 0, write: false, localOnly: true }],
  push: [{ at: 1, write: true }, { at: 0, write: false, localOnly: true }],
};

const rootCache = new WeakMap<(path: string) => Promise<string>, Map<string, Promise<string>>>();

/** `roots` resolved by `resolve`, each once per resolver; a root that cannot be resolved stays. */
function resolvedRoots(
  roots: readonly string[],
  resolve: (path: string) => Promise<string>,
): Promise<string[]> {
  let cache = rootCache.get(resolve);
  if (!cache) rootCache.set(resolve, cache = new Map());
  return Promise.all(roots.map((r) => {
    let p = cache.get(r);
    if (!p) cache.set(r, p = resolve(r).catch(() => r));
    return p;
  }));
}

/** The verdict on one path of a file operation, or null when that kind is not restricted. */
async function decideOnePath(
  given: string,
  write: boolean,
  paths: PathRoots,
  resolvePath: (path: string) => Promise<string>,
): Promise<Verdict | null> {
  if (!write && paths.read === undefined) return null;
  if (write && paths.write === undefined) return null;
  const listed = write ? paths.write! : [...paths.read!, ...(paths.write ?? [])];
  const resolved = await resolvePath(given);
  // The roots are resolved the same way (once), so a root behind a symlink still matches.
  const roots = await resolvedRoots(listed, resolvePath);
  const kind = write ? "write" : "read";
  if (underRoot(resolved, roots)) {
    return { decision: "allow", rule: `paths.${kind}`, reason: `${resolved} is under a root` };
  }
  return {
    decision: "deny",
    rule: `paths.${kind}`,
    reason: `${JSON.stringify(given)} (${resolved}) is outside the ${kind} roots ${
      listed.map((r) => JSON.stringify(r)).join(", ") || "(none)"
    }`,
  };
}

/** The verdict on a file operation under `paths`, or null when it is not restricted. */
async function decidePath(op: Operation, options: PolicyHookOptions): Promise<Verdict | null> {
  const access = FILE_ACCESS[op.name];
  const paths = options.paths;
  if (!access || !paths) return null;
  if (!options.resolvePath) throw new YonderError("paths need a resolvePath to be checked");
  let verdict: Verdict | null = null;
  for (const a of access) {
    if (a.localOnly && op.env.kind !== "local") continue;
    const v = await decideOnePath(String(op.args[a.at]), a.write, paths, options.resolvePath);
    if (v?.decision === "deny") return v;
    verdict ??= v;
  }
  return verdict;
}

/** The request of an exec or spawn operation. */
function requestOf(op: Operation): PolicyRequest {
  const command = op.args[0];
  const opts = (op.args[1] ?? {}) as { cwd?: string; env?: Record<string, string> };
  return {
    command: typeof command === "string"
      ? command
      : Array.isArray(command)
      ? command.map(String)
      : [],
    cwd: opts.cwd,
    env: Object.keys(opts.env ?? {}),
  };
}

/**
 * Hooks for {@linkcode withHooks} that enforce `policy` on every exec and spawn of the wrapped
 * environment (the argv or script, the cwd and the names of the env variables) and, with
 * `paths`, the roots of every file operation, push and pull; they refuse with
 * {@linkcode PolicyRefused} before anything runs.
 *
 * @example
 * ```ts
 * import { policyHooks } from "./policy.ts";
 * import { withHooks } from "./hooks.ts";
 * import { LocalEnvironment } from "../local/environment.ts";
 * const env = withHooks(new LocalEnvironment(), policyHooks({
 *   rules: [{ id: "ls", decision: "allow", program: "ls", more: true }],
 * }));
 * await env.exec(["ls"]);
 * ```
 */
export function policyHooks(policy: Policy, options: PolicyHookOptions = {}): Hooks {
  return {
    async before(op: Operation) {
      let verdict: Verdict | null;
      let req: PolicyRequest | null = null;
      if (op.name === "exec" || op.name === "spawn") {
        req = requestOf(op);
        verdict = decide(policy, req);
      } else verdict = await decidePath(op, options);
      if (verdict === null) return;
      let approver: string | null = null;
      if (verdict.decision === "approve" && options.approve && req) {
        const answer = await options.approve(req, verdict);
        if (answer !== false) approver = answer === true ? "callback" : answer;
      }
      if (verdict.decision === "deny" || (verdict.decision === "approve" && approver === null)) {
        throw new PolicyRefused(verdict, verdict.decision === "approve");
      }
      await options.onDecision?.(op, verdict, approver);
    },
  };
}
