/**
 * The CLI's side of `yonder.yaml`: `-r NAME` and `-r @group` resolved through the config, the
 * host's settings under the flags, and the config's policy, path roots and audit log put around
 * the environment (with approval asked on the terminal, or given by `--approve`). Loaded only
 * when there is a config.
 */

import { UsageError } from "../core/errors.ts";
import type { Environment } from "../core/environment.ts";
import type { PolicyRequest, Verdict } from "../core/policy.ts";
import { parseTarget } from "../core/target.ts";
import {
  type AuditSettings,
  type Config,
  EMPTY_CONFIG,
  loadConfig,
  type Resolved,
  resolveHost,
  selectHosts,
} from "../config/config.ts";
import type { AuditOptions } from "../core/audit.ts";
import { guard } from "../config/guard.ts";
import { type Sandbox, withSandbox } from "../config/sandbox.ts";
import { checkProtected } from "../config/protect.ts";
import {
  type ConnValues,
  type ExecDefaults,
  type Io,
  type OpenExtra,
  openPlain,
  say,
} from "./_common.ts";

const enc = new TextEncoder();

/** Whether `target` names this machine (loopback address or localhost). */
function isLoopback(target: string | null): boolean {
  if (target === null) return true;
  try {
    const host = parseTarget(target).host.toLowerCase();
    return host === "localhost" || host === "::1" || /^127\./.test(host) ||
      host.endsWith(".localhost");
  } catch {
    return false;
  }
}

/** Reads one line from `tty`, or null at its end or when `signal` aborts. */
async function readLine(tty: Deno.FsFile, signal: AbortSignal | undefined): Promise<string | null> {
  const buf = new Uint8Array(256);
  let text = "";
  const aborted = new Promise<null>((resolve) => {
    if (signal?.aborted) resolve(null);
    signal?.addEventListener("abort", () => resolve(null), { once: true });
  });
  while (!text.includes("\n")) {
    const n = await Promise.race([tty.read(buf), aborted]);
    if (n === null) return text === "" ? null : text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.slice(0, text.indexOf("\n"));
}

/**
 * Shows `text` on the terminal and asks `question` [y/N]; false without a terminal (stdin or
 * stderr one, and `/dev/tty` openable), on no, or at the terminal's end. Default no.
 */
export async function confirmOnTty(io: Io, text: string, question: string): Promise<boolean> {
  if (!Deno.stdin.isTerminal() && !(io.stderrIsTerminal?.() ?? false)) return false;
  let tty: Deno.FsFile;
  try {
    tty = await Deno.open("/dev/tty", { read: true, write: true });
  } catch {
    return false; // No controlling terminal.
  }
  try {
    await tty.write(enc.encode(`${text}\n${question} [y/N] `));
    const answer = await readLine(tty, io.signal);
    if (answer === null) await tty.write(enc.encode("\n"));
    return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    tty.close();
  }
}

/** Asks on the terminal whether to run `req`, showing its exact argv (or script), host and cwd. */
function askOnTty(io: Io, req: PolicyRequest, verdict: Verdict, host: string): Promise<boolean> {
  const what = typeof req.command === "string"
    ? `  script: ${JSON.stringify(req.command)}`
    : `  argv: ${JSON.stringify(req.command)}`;
  const env = req.env && req.env.length > 0 ? `\n  env:  ${req.env.join(" ")}` : "";
  return confirmOnTty(
    io,
    `yonder: approval needed: ${verdict.rule}: ${verdict.reason}\n  host: ${host}\n` +
      `  cwd:  ${req.cwd ?? "(default)"}\n${what}${env}`,
    "Run it?",
  );
}

const loaded = new Map<string, Promise<Config>>();

/**
 * The config at `file`, read and checked once per process: a fan-out opens every host through
 * here, and a YAML parse and schema check per host would be the same work fifty times.
 */
export function loadConfigOnce(file: string): Promise<Config> {
  let p = loaded.get(file);
  if (!p) {
    p = loadConfig(file);
    loaded.set(file, p);
    p.catch(() => loaded.delete(file));
  }
  return p;
}

/** The one host `remote` names: a host, a target, or a group of exactly one. */
function oneHost(config: Config, remote: string | undefined): string | undefined {
  if (!remote?.startsWith("@")) return remote === "" ? undefined : remote;
  const hosts = selectHosts(config, remote);
  if (hosts.length !== 1) {
    throw new UsageError(`-r ${remote} selects ${hosts.length} hosts; this command runs on one`, {
      hint: hosts.length > 0 ? `Name one of them: ${hosts.join(", ")}` : "Add hosts to it",
    });
  }
  return hosts[0];
}

/** The exec defaults the host's settings give. */
function execDefaults(r: Resolved): ExecDefaults {
  const defaults: ExecDefaults = {};
  if (r.settings.timeout !== undefined) defaults.timeout = r.settings.timeout;
  if (r.settings.maxOutput !== undefined) defaults.maxOutput = r.settings.maxOutput;
  return defaults;
}

/** The sandbox in force: the host's, or with `--sandbox` and none configured, read-only. */
function sandboxFor(v: ConnValues, r: Resolved, extra: OpenExtra): Sandbox | null {
  if (extra.ownProbes) return null;
  if (v.sandbox) return r.settings.sandbox ?? { kind: "bwrap", write: [] };
  return r.settings.sandbox ?? null;
}

/** The audit options for `r`'s log: a failure to write it is said once on stderr. */
function auditFor(io: Io, r: Resolved, audit: AuditSettings): AuditOptions {
  let told = false;
  return {
    path: audit.path,
    args: audit.args,
    required: audit.required,
    ...(r.name !== null ? { host: r.name } : {}),
    onError: (e: unknown) => {
      if (told) return;
      told = true;
      say(io, `yonder: warning: audit log ${audit.path} cannot be written: ${e}`);
    },
  };
}

/**
 * Opens what the flags select under the config at `file` (null: no file, but `-r @group` was
 * asked for): fenced by its policy and audit log when it has them.
 */
export async function openConfigured(
  io: Io,
  v: ConnValues,
  extra: OpenExtra,
  file: string | null,
): Promise<{ env: Environment; defaults: ExecDefaults }> {
  const config = file === null ? EMPTY_CONFIG : await loadConfigOnce(file);
  const r = resolveHost(
    config,
    oneHost(config, v.remote ?? io.env("YONDER_REMOTE")) ?? null,
    io.env,
  );
  const defaults = execDefaults(r);
  const fenced = !extra.ownProbes && (r.policy !== null || r.paths !== null);
  if (fenced && config.file !== null) {
    const warnings = await checkProtected(config.file, {
      sameMachine: isLoopback(r.target),
      paths: r.paths,
    });
    for (const w of warnings) await say(io, `yonder: warning: ${w}`);
  }
  if (r.audit) {
    const dir = r.audit.path.slice(0, r.audit.path.lastIndexOf("/"));
    if (dir !== "") await Deno.mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => {});
  }
  const opened = await openPlain(io, v, r.target, r.settings, extra);
  // The sandbox goes inside the fence: the policy and the log see the command as asked.
  const box = sandboxFor(v, r, extra);
  const env = box ? withSandbox(opened, box) : opened;
  if (!fenced && !r.audit) return { env, defaults };
  const label = r.name ?? env.label;
  const approver = extra.approver;
  const approve = approver
    ? (req: PolicyRequest, verdict: Verdict) => approver(req, verdict, label)
    : async (req: PolicyRequest, verdict: Verdict) =>
      v.approve ? "flag" : (await askOnTty(io, req, verdict, label)) ? "tty" : false;
  return {
    env: guard(env, {
      ...(fenced && r.policy ? { policy: r.policy } : {}),
      ...(fenced && r.paths ? { paths: r.paths } : {}),
      approve,
      ...(r.audit ? { audit: auditFor(io, r, r.audit) } : {}),
    }),
    defaults,
  };
}
