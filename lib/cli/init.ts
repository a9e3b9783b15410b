/**
 * `yonder init`: set up one host. It writes the host into a `yonder.yaml` (or adds it to one, as
 * text, keeping the file's comments), prints the `~/.ssh/config` block for it (and writes that
 * block between marker comments with `--write-ssh-config`), then runs `yonder check` on it.
 * Running it again with the same arguments changes nothing.
 *
 * @module
 */

import { type FlagValues, parseFlags } from "./_args.ts";
import { FileError, UsageError, YonderError } from "../core/errors.ts";
import { parseTarget, type Target } from "../core/target.ts";
import { type Config, loadConfig } from "../config/config.ts";
import type { RawHost, RawOptions } from "../config/schema.ts";
import { basename, dirname } from "../util/path.ts";
import { checkCommand } from "./check.ts";
import { EXIT, type Io, reportError, say } from "./_common.ts";

/** Help for `yonder init`. */
export const INIT_HELP =
  `Usage: yonder init [-r TARGET] [--name NAME] [-i KEY] [-J JUMP] [--config FILE]
                   [--write-ssh-config] [--no-check] [--yes] [--force]

Sets up one host: writes it into a yonder.yaml (so that -r NAME reaches it), prints the
~/.ssh/config block for it on stdout, then runs yonder check on it. Without -r (and without
$YONDER_REMOTE) it asks for the target and the name on the terminal. Run again with the same
arguments, it changes nothing.

An existing config keeps its content and comments: the host is added under its hosts: as text,
or the file is left alone when it has the host with that target already. When the file has the
name with another target, or cannot be edited that simply, init refuses and prints the entry to
add by hand; --force replaces the file instead (keeping the old one as FILE.bak).

~/.ssh/config is never touched without --write-ssh-config; with it the block is appended between
"# >>> yonder NAME >>>" and "# <<< yonder NAME <<<" (or replaces what is between them), and the old
file is kept as ~/.ssh/config.yonder-backup. ssh takes the first value it finds for each option:
a "Host *" block above the appended one wins over it.

Options:
  -r, --remote TARGET       the host: user@host, user@host:port, ssh://user@host:port/path or an
                            ssh_config alias (default: $YONDER_REMOTE, else asked on the terminal)
      --name NAME           its name in yonder.yaml and ~/.ssh/config (letters, digits, _ . -;
                            default: the host part of TARGET)
  -i, --identity FILE       private key (identity_file; IdentityFile with IdentitiesOnly yes)
  -J, --jump HOST           jump host, repeat for a chain (jump; ProxyJump)
      --known-hosts FILE    known_hosts file to use (known_hosts; UserKnownHostsFile)
      --strict-host-key     require a known host key (strict_host_key; StrictHostKeyChecking yes)
      --config FILE         the config to write (default: $YONDER_CONFIG, else ./yonder.yaml)
      --write-ssh-config    also write the block into ~/.ssh/config
      --force               replace a config init will not edit (the old one is kept as FILE.bak)
      --no-check            do not run yonder check afterwards
      --yes                 never ask on the terminal (then -r or $YONDER_REMOTE is needed)
  -v                        yonder's debug lines during the check; -vv also ssh's own

Exit codes: 0 written (and checked); 2 usage error (bad target or name, a config init will not
edit); else the check's own code (1 a tool is missing, 255 cannot connect or authenticate), with
the files written all the same.`;

const FLAGS = {
  remote: { type: "string", short: "r" },
  name: { type: "string" },
  identity: { type: "string", short: "i" },
  jump: { type: "string", short: "J", multiple: true },
  "known-hosts": { type: "string" },
  "strict-host-key": { type: "boolean" },
  config: { type: "string" },
  "write-ssh-config": { type: "boolean" },
  force: { type: "boolean" },
  "no-check": { type: "boolean" },
  yes: { type: "boolean" },
  verbose: { type: "boolean", short: "v", multiple: true },
  help: { type: "boolean", short: "h" },
} as const;

type Values = FlagValues<typeof FLAGS>;

/** What to write for the host. */
interface Plan {
  /** Its name (`-r NAME`, `Host NAME`). */
  name: string;
  /** The target, as given. */
  target: string;
  /** The target, parsed. */
  parsed: Target;
  /** Private key, absolute (or `~/…`). */
  identity: string | undefined;
  /** Jump hosts, in order. */
  jump: string[];
  /** known_hosts file, absolute (or `~/…`). */
  knownHosts: string | undefined;
  /** Require a known host key. */
  strict: boolean;
}

const enc = new TextEncoder();
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const NAME_HINT = `Use letters, digits, "_", "." and "-", starting with a letter, digit or "_"`;

/**
 * Runs `yonder init`; returns the exit code (the check's when it fails).
 *
 * @example
 * ```ts
 * import { initCommand } from "./init.ts";
 * import { denoIo } from "./_common.ts";
 * const code = await initCommand(["-r", "deploy@web1.example.com", "--no-check"], denoIo);
 * console.log(code); // 0: ./yonder.yaml has host "web1.example.com"
 * ```
 */
export async function initCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, FLAGS, false);
  if (values.help) {
    await io.stdout(enc.encode(INIT_HELP + "\n"));
    return EXIT.ok;
  }
  const plan = await planFrom(values, io);
  const file = values.config || io.env("YONDER_CONFIG") || "yonder.yaml";
  await writeConfig(io, file, plan, values.force === true);
  const block = sshBlock(plan);
  await io.stdout(enc.encode(block));
  if (values["write-ssh-config"]) await writeSshConfig(io, plan.name, block);
  else {
    await say(
      io,
      `yonder: the ~/.ssh/config block for "${plan.name}" is on stdout ` +
        `(add it yourself, or run init again with --write-ssh-config)`,
    );
  }
  // -r NAME finds the host later when the config is where yonder looks by itself.
  const cfg = values.config ? ` --config ${values.config}` : "";
  if (values["no-check"]) {
    await say(io, `yonder: skipped the check; run yonder check${cfg} -r ${plan.name}`);
    return EXIT.ok;
  }
  const code = await runCheck(io, plan, file, values);
  if (code !== EXIT.ok) {
    await say(io, `yonder: the check failed (exit ${code}); ${file} is written all the same`);
    await say(io, `hint: Fix what the check says, then run yonder check${cfg} -r ${plan.name}`);
    return code;
  }
  await say(io, `yonder: ready: yonder exec${cfg} -r ${plan.name} -- uname -a`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// What to write

/** The plan from the flags, asking on the terminal for what is missing when it can. */
async function planFrom(values: Values, io: Io): Promise<Plan> {
  const asking = values.yes !== true && Deno.stdin.isTerminal() &&
    (io.stderrIsTerminal?.() ?? false);
  let target = values.remote ?? io.env("YONDER_REMOTE") ?? "";
  let name = values.name;
  if (target === "") {
    if (!asking) {
      throw new UsageError("No target given, and no terminal to ask for one on", {
        hint: "Pass -r TARGET (user@host, user@host:port or ssh://user@host:port)",
      });
    }
    target = await askTarget(io);
    name ??= await askName(io, defaultName(parseTarget(target).host));
  }
  const parsed = parseTarget(target);
  name ??= defaultName(parsed.host);
  if (!NAME_RE.test(name)) {
    throw new UsageError(`Invalid --name "${name}"`, { hint: NAME_HINT });
  }
  const jump = values.jump ?? [];
  for (const j of jump) {
    if (j === "" || j.startsWith("-") || /[\s\0",]/.test(j)) {
      throw new UsageError(`Invalid jump host "${j}"`, { hint: "Use -J user@bastion[:port]" });
    }
  }
  return {
    name,
    target,
    parsed,
    identity: localFile("identity", values.identity),
    jump,
    knownHosts: localFile("known-hosts", values["known-hosts"]),
    strict: values["strict-host-key"] === true,
  };
}

/** The default name for `host`: its characters a name may hold (others become `-`). */
function defaultName(host: string): string {
  const name = host.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[.-]+/, "");
  return name === "" ? "host" : name;
}

/** A local file a flag names, made absolute (a `~/` path stays so); undefined when not given. */
function localFile(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  if (path === "" || /[\0\n\r"]/.test(path)) {
    throw new UsageError(`Invalid --${flag} "${path}"`, {
      hint: "Give a file path without quotes or line breaks",
    });
  }
  if (path.startsWith("/") || path === "~" || path.startsWith("~/")) return path;
  if (/^[A-Za-z]:[\\/]/.test(path)) return path;
  return `${Deno.cwd()}/${path.replace(/^(\.\/)+/, "")}`;
}

/** Reads one line from the terminal after printing `question` on stderr; null at its end. */
async function ask(io: Io, question: string): Promise<string | null> {
  await io.stderr(enc.encode(question));
  const buf = new Uint8Array(1024);
  const dec = new TextDecoder();
  const aborted = new Promise<null>((resolve) => {
    if (io.signal?.aborted) resolve(null);
    io.signal?.addEventListener("abort", () => resolve(null), { once: true });
  });
  let text = "";
  while (!text.includes("\n")) {
    const n = await Promise.race([Deno.stdin.read(buf), aborted]);
    io.signal?.throwIfAborted();
    if (n === null) return text === "" ? null : text.trim();
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  return text.slice(0, text.indexOf("\n")).trim();
}

/** Asks for the target until one parses (three tries). */
async function askTarget(io: Io): Promise<string> {
  for (let tries = 0; tries < 3; tries++) {
    const answer = await ask(io, "Target (user@host, user@host:port or ssh://user@host:port): ");
    if (answer === null) break;
    if (answer === "") continue;
    try {
      parseTarget(answer);
      return answer;
    } catch (e) {
      if (!(e instanceof YonderError)) throw e;
      await say(io, `yonder: ${e.message}`);
    }
  }
  throw new UsageError("No target given", {
    hint: "Pass -r TARGET (user@host, user@host:port or ssh://user@host:port)",
  });
}

/** Asks for the name, `fallback` when the answer is empty. */
async function askName(io: Io, fallback: string): Promise<string> {
  for (let tries = 0; tries < 3; tries++) {
    const answer = await ask(io, `Name for it (-r NAME) [${fallback}]: `);
    if (answer === null || answer === "") return fallback;
    if (NAME_RE.test(answer)) return answer;
    await say(io, `yonder: invalid name "${answer}": ${NAME_HINT}`);
  }
  return fallback;
}

// ---------------------------------------------------------------------------------------------
// yonder.yaml

/** A YAML scalar for `s`: plain when that reads back as the same string, else double-quoted. */
function yamlScalar(s: string): string {
  const plain = /^[A-Za-z0-9_/~][A-Za-z0-9_.@/~:%+=-]*$/.test(s) && !s.endsWith(":") &&
    !/^(true|false|null|yes|no|on|off|~)$/i.test(s) && !/^[0-9+.-]/.test(s);
  return plain ? s : JSON.stringify(s);
}

/** The host's keys and values, as YAML. */
function hostFields(plan: Plan): [string, string][] {
  const fields: [string, string][] = [["target", yamlScalar(plan.target)]];
  if (plan.identity !== undefined) fields.push(["identity_file", yamlScalar(plan.identity)]);
  if (plan.jump.length === 1) fields.push(["jump", yamlScalar(plan.jump[0]!)]);
  if (plan.jump.length > 1) fields.push(["jump", `[${plan.jump.map(yamlScalar).join(", ")}]`]);
  if (plan.knownHosts !== undefined) fields.push(["known_hosts", yamlScalar(plan.knownHosts)]);
  if (plan.strict) fields.push(["strict_host_key", "true"]);
  return fields;
}

/** The host's entry under `hosts:`, each level indented by `unit`. */
function hostEntry(plan: Plan, unit: string): string {
  const lines = [`${unit}${yamlScalar(plan.name)}:`];
  for (const [key, value] of hostFields(plan)) lines.push(`${unit}${unit}${key}: ${value}`);
  return lines.join("\n") + "\n";
}

/** The example fence at the end of a new config, commented out. */
const FENCE_EXAMPLE =
  `# To fence what runs on the hosts, uncomment and adapt (yonder config check reads it back):
# policy:
#   mode: allowlist            # what no rule allows is refused
#   rules:
#     - {id: look, decision: allow, program: [ls, cat, df, uptime, journalctl]}
#     - {id: restart, decision: approve, program: systemctl, args: [restart, {re: "^[a-z.-]+$"}]}
#   paths:
#     read: [/srv, /var/log]
#     write: [/srv/app]
# audit:
#   path: ~/.local/state/yonder/audit.jsonl
#   args: hash                 # none, hash or full
`;

/** A new config with the one host. */
function freshConfig(plan: Plan): string {
  return `# yonder.yaml, written by yonder init: -r NAME reaches a host below.
# yonder config check shows what yonder makes of it; yonder hosts lists the hosts.
version: 1

hosts:
${hostEntry(plan, "  ")}
${FENCE_EXAMPLE}`;
}

/** A file's text, mode and real path (its symlinks followed); null when it does not exist. */
async function readExisting(
  path: string,
): Promise<{ text: string; mode: number; real: string } | null> {
  try {
    const real = await Deno.realPath(path);
    const text = await Deno.readTextFile(real);
    const mode = (await Deno.stat(real)).mode;
    return { text, mode: mode === null ? 0o600 : mode & 0o7777, real };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw fileError(e, path, "read");
  }
}

/** A local file system failure as a {@linkcode FileError}. */
function fileError(e: unknown, path: string, what: string): YonderError {
  if (e instanceof YonderError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new FileError(path, `cannot ${what} it: ${message}`, { where: "local" });
}

/**
 * Writes `text` to `path` through a temporary file in the same directory (synced, given `mode`,
 * passed to `validate`) renamed over it: a reader sees the old file or the new one, never a part.
 */
async function writeAtomic(
  path: string,
  text: string,
  mode: number,
  validate?: (tmp: string) => Promise<void>,
): Promise<void> {
  let tmp: string;
  try {
    tmp = await Deno.makeTempFile({ dir: dirname(path), prefix: `.${basename(path)}.` });
  } catch (e) {
    throw fileError(e, path, "write");
  }
  let done = false;
  try {
    try {
      using f = await Deno.open(tmp, { write: true, truncate: true });
      const bytes = enc.encode(text);
      for (let at = 0; at < bytes.length;) at += await f.write(bytes.subarray(at));
      await f.syncData();
      if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    } catch (e) {
      throw fileError(e, path, "write");
    }
    await validate?.(tmp);
    await Deno.rename(tmp, path).catch((e) => Promise.reject(fileError(e, path, "write")));
    done = true;
  } finally {
    if (!done) await Deno.remove(tmp).catch(() => {});
  }
}

/** A validator: the staged file must load and hold `plan`'s host and `before` others. */
function holdsHost(plan: Plan, before: number): (tmp: string) => Promise<void> {
  return async (tmp) => {
    const config = await loadConfig(tmp);
    if (config.hosts.get(plan.name)?.target !== plan.target || config.hosts.size !== before + 1) {
      throw new UsageError(`the edited text does not read back with host "${plan.name}" added`);
    }
  };
}

/** The error for a config init will not edit; the entry to add by hand is printed first. */
async function refusal(io: Io, file: string, message: string, plan: Plan): Promise<UsageError> {
  await say(io, `yonder: the entry for "${plan.name}", to add under hosts: in ${file}:`);
  await say(io, hostEntry(plan, "  "));
  return new UsageError(message, {
    hint: `Edit "${file}" yourself, pick another --name, or pass --force to replace the file ` +
      `(the old one is kept as "${file}.bak")`,
  });
}

/** Writes the config: new, unchanged, the host added, or (with `force`) replaced. */
async function writeConfig(io: Io, file: string, plan: Plan, force: boolean): Promise<void> {
  const fresh = freshConfig(plan);
  const dir = dirname(file);
  if (dir !== ".") {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 }).catch((e) => {
      throw fileError(e, dir, "create");
    });
  }
  const old = await readExisting(file);
  if (old === null) {
    await writeAtomic(file, fresh, 0o600, holdsHost(plan, 0));
    await say(io, `yonder: wrote ${file} with host "${plan.name}" (${plan.target})`);
    return;
  }
  if (old.text === fresh) {
    await say(io, `yonder: ${file} unchanged (host "${plan.name}" is in it)`);
    return;
  }
  let problem: string;
  try {
    problem = await addHost(io, file, old, plan);
    if (problem === "") return;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problem = `Cannot add host "${plan.name}" to "${file}": ${e.message.split("\n")[0]}`;
  }
  if (!force) throw await refusal(io, file, problem, plan);
  try {
    await Deno.copyFile(old.real, `${file}.bak`);
  } catch (e) {
    throw fileError(e, `${file}.bak`, "write");
  }
  await writeAtomic(old.real, fresh, old.mode, holdsHost(plan, 0));
  await say(io, `yonder: replaced ${file} (--force); the old one is ${file}.bak`);
}

/**
 * Adds the host to an existing config, or sees it is there; returns "" when done, else why it
 * cannot (throws a {@linkcode UsageError} when the file or the edited text does not load).
 */
async function addHost(
  io: Io,
  file: string,
  old: { text: string; mode: number; real: string },
  plan: Plan,
): Promise<string> {
  const config = await loadConfig(old.real);
  const have = config.hosts.get(plan.name);
  if (have !== undefined && have.target !== plan.target) {
    return `Host "${plan.name}" in "${file}" has target "${have.target}", not "${plan.target}"`;
  }
  if (have !== undefined) {
    await say(io, `yonder: ${file} unchanged (host "${plan.name}" is in it, ${plan.target})`);
    await warnDiffering(io, file, config, plan);
    return "";
  }
  const text = addHostText(old.text, config, plan);
  if (text === null) {
    return `Cannot add host "${plan.name}" to "${file}" as text: its hosts: is not a plain block`;
  }
  await writeAtomic(old.real, text, old.mode, holdsHost(plan, config.hosts.size));
  await say(io, `yonder: added host "${plan.name}" (${plan.target}) to ${file}`);
  return "";
}

/** Warns about settings given now that the host in the config has otherwise. */
async function warnDiffering(io: Io, file: string, config: Config, plan: Plan): Promise<void> {
  const raw: RawHost | undefined = config.raw.hosts?.[plan.name];
  const have: RawOptions = typeof raw === "object" ? raw : {};
  const jumps = (j: string | string[] | undefined) => j === undefined ? [] : [j].flat();
  const differ: string[] = [];
  if (plan.identity !== undefined && have.identity_file !== plan.identity) {
    differ.push("identity_file");
  }
  if (plan.jump.length > 0 && jumps(have.jump).join(",") !== plan.jump.join(",")) {
    differ.push("jump");
  }
  if (plan.knownHosts !== undefined && have.known_hosts !== plan.knownHosts) {
    differ.push("known_hosts");
  }
  if (plan.strict && have.strict_host_key !== true) differ.push("strict_host_key");
  if (differ.length === 0) return;
  await say(
    io,
    `yonder: warning: host "${plan.name}" in ${file} has other ${differ.join(", ")} than given; ` +
      `edit it to change them`,
  );
}

/**
 * `text` with the host's entry added at the end of its top-level `hosts:` block (or a new
 * `hosts:` block at the end); null when the file's hosts are not written as a plain block.
 */
function addHostText(text: string, config: Config, plan: Plan): string | null {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => /^hosts:[ \t]*(#.*)?$/.test(l));
  if (at < 0) {
    if (config.raw.hosts !== undefined) return null;
    const base = text === "" || text.endsWith("\n") ? text : text + "\n";
    return `${base}${base === "" ? "" : "\n"}hosts:\n${hostEntry(plan, "  ")}`;
  }
  let last = at;
  let unit: string | undefined;
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    if (!line.startsWith(" ")) break;
    if (line.trimStart().startsWith("#")) continue;
    unit ??= /^ +/.exec(line)![0];
    last = i;
  }
  if (unit === undefined) return null;
  const entry = hostEntry(plan, unit).replace(/\n$/, "");
  return [...lines.slice(0, last + 1), entry, ...lines.slice(last + 1)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// ~/.ssh/config

/** An ssh_config argument: `%` doubled (ssh expands tokens), quoted when it has spaces. */
function sshArg(value: string, tokens = true): string {
  const v = tokens ? value.replaceAll("%", "%%") : value;
  return /\s/.test(v) ? `"${v}"` : v;
}

/** The `~/.ssh/config` block for the host, between its marker comments. */
function sshBlock(plan: Plan): string {
  const t = plan.parsed;
  const lines = [
    `# >>> yonder ${plan.name} >>>`,
    `Host ${plan.name}`,
    `  HostName ${sshArg(t.host)}`,
  ];
  if (t.user !== undefined) lines.push(`  User ${sshArg(t.user, false)}`);
  if (t.port !== undefined) lines.push(`  Port ${t.port}`);
  if (plan.identity !== undefined) {
    lines.push(`  IdentityFile ${sshArg(plan.identity)}`, "  IdentitiesOnly yes");
  }
  if (plan.jump.length > 0) lines.push(`  ProxyJump ${plan.jump.join(",")}`);
  if (plan.knownHosts !== undefined) lines.push(`  UserKnownHostsFile ${sshArg(plan.knownHosts)}`);
  if (plan.strict) lines.push("  StrictHostKeyChecking yes");
  lines.push(
    "  ServerAliveInterval 15",
    "  ServerAliveCountMax 4",
    `# <<< yonder ${plan.name} <<<`,
  );
  return lines.join("\n") + "\n";
}

/**
 * `text` with `block` in place of the one between the markers of `name`, or appended; throws
 * when only one of the markers is there (or one twice).
 */
function spliceBlock(text: string, name: string, block: string, path: string): string {
  const lines = text.split("\n");
  const begin = `# >>> yonder ${name} >>>`;
  const end = `# <<< yonder ${name} <<<`;
  const b = lines.indexOf(begin);
  const e = lines.indexOf(end);
  if (b < 0 && e < 0) {
    if (text === "") return block;
    return `${text.endsWith("\n") ? text : text + "\n"}\n${block}`;
  }
  if (b < 0 || e < b || lines.lastIndexOf(begin) !== b || lines.lastIndexOf(end) !== e) {
    throw new UsageError(`The "yonder ${name}" marker lines in "${path}" do not make one pair`, {
      hint: `Edit "${path}": keep one "${begin}" line and one "${end}" line after it`,
    });
  }
  const inner = block.replace(/\n$/, "").split("\n");
  return [...lines.slice(0, b), ...inner, ...lines.slice(e + 1)].join("\n");
}

/** Warns when a `Host` line outside the block also matches `name` (ssh takes the first value). */
async function warnOtherHost(io: Io, text: string, name: string, path: string): Promise<void> {
  const begin = `# >>> yonder ${name} >>>`;
  const end = `# <<< yonder ${name} <<<`;
  let inside = false;
  for (const line of text.split("\n")) {
    if (line === begin || line === end) inside = line === begin;
    const m = /^\s*Host\s+(.*)$/i.exec(line);
    if (inside || !m || !m[1]!.split(/\s+/).includes(name)) continue;
    await say(
      io,
      `yonder: warning: ${path} has another "Host ${name}" block: ssh uses the ` +
        `first value it finds for each option`,
    );
    return;
  }
}

/** Writes `block` into `~/.ssh/config` (creating `~/.ssh` and the file), keeping a backup. */
async function writeSshConfig(io: Io, name: string, block: string): Promise<void> {
  const home = io.env("HOME");
  if (home === undefined || home === "") {
    throw new UsageError("Cannot find ~/.ssh/config: $HOME is not set", {
      hint: "Set HOME, or add the block printed on stdout to your ssh config yourself",
    });
  }
  const dir = `${home}/.ssh`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fileError(e, dir, "create");
  });
  const path = `${dir}/config`;
  const old = await readExisting(path);
  const next = spliceBlock(old?.text ?? "", name, block, path);
  if (old !== null) await warnOtherHost(io, old.text, name, path);
  if (old !== null && next === old.text) {
    await say(io, `yonder: ${path} unchanged (it has the "yonder ${name}" block)`);
    return;
  }
  if (old !== null) {
    const backup = `${dir}/config.yonder-backup`;
    try {
      await Deno.copyFile(old.real, backup);
      if (Deno.build.os !== "windows") await Deno.chmod(backup, 0o600);
    } catch (e) {
      throw fileError(e, backup, "write");
    }
  }
  await writeAtomic(old?.real ?? path, next, old?.mode ?? 0o600);
  const kept = old === null ? "" : `; the old one is ${dir}/config.yonder-backup`;
  await say(io, `yonder: wrote the "yonder ${name}" block into ${path}${kept}`);
}

// ---------------------------------------------------------------------------------------------
// The check

/** Runs `yonder check` on the host with the connection flags given; returns its exit code. */
async function runCheck(io: Io, plan: Plan, file: string, values: Values): Promise<number> {
  const argv = ["-r", plan.target, "--config", file];
  if (plan.identity !== undefined) argv.push("-i", plan.identity);
  for (const j of plan.jump) argv.push("-J", j);
  if (plan.knownHosts !== undefined) argv.push("--known-hosts", plan.knownHosts);
  if (plan.strict) argv.push("--strict-host-key");
  for (const _ of values.verbose ?? []) argv.push("-v");
  await say(io, `yonder: checking "${plan.name}" (${plan.target})`);
  try {
    return await checkCommand(argv, io);
  } catch (e) {
    io.signal?.throwIfAborted();
    return await reportError(io, e);
  }
}
