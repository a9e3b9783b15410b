/** `yonder check`: probe a target and say what works and what to fix. */

import { parseFlags } from "./_args.ts";
import { FLEET_FLAGS, FLEET_HELP, fleetHosts, fleetRun, type FleetValues } from "./fleet.ts";
import type { Environment } from "../core/environment.ts";
import { SshConnectError, YonderError } from "../core/errors.ts";
import { formatTarget, parseTarget } from "../core/target.ts";
import { SshEnvironment } from "../ssh/environment.ts";
import { describeBanner, readServerBanner } from "../ssh/banner.ts";
import {
  checkConnectionFlags,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  EXIT,
  type Io,
  openEnvironment,
} from "./_common.ts";

/** Help for `yonder check`. */
export const CHECK_HELP = `Usage: yonder check [-r TARGET] [--json]

Probes a target: connection and authentication, the SSH server's software (its banner), the remote
POSIX shell and the account's login shell, tar and sha256sum (needed for tree sync and verified
transfers), whether each call can have a process group of its own (what timeouts and aborts stop),
and the round-trip time of a command over the connection.
Prints one line per probe, with a hint for each failure. Without a target it probes this machine
(what yonder's commands use when run without -r).

Options:
      --json                print one JSON object instead of lines

${CONNECTION_HELP}

${FLEET_HELP}

Exit codes: 0 all probes pass; 1 a tool is missing; 255 cannot connect or authenticate.`;

/** One probe's outcome. */
export interface Probe {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

const enc = new TextEncoder();

const PROBE_SCRIPT = `echo "shell=$(command -v sh)"
echo "login=\${SHELL:-}"
echo "os=$(uname -s 2>/dev/null)"
if command -v tar >/dev/null 2>&1; then
  v=$(tar --version 2>/dev/null | head -n 1)
  echo "tar=$(command -v tar) \${v:-unknown version}"
else echo "tar="; fi
s=$(command -v sha256sum 2>/dev/null || command -v shasum 2>/dev/null || command -v sha256 2>/dev/null)
echo "sha256=$s"
if kill -0 -"$PPID" 2>/dev/null; then echo "group=own"; else echo "group=shared"; fi`;

/** Runs `yonder check`; returns the exit code. */
export async function checkCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(
    argv,
    { ...CONNECTION_FLAGS, ...FLEET_FLAGS, json: { type: "boolean" } },
    false,
  );
  if (values.help) {
    await io.stdout(enc.encode(CHECK_HELP + "\n"));
    return EXIT.ok;
  }
  checkConnectionFlags(values);
  const hosts = await fleetHosts(io, values);
  if (hosts !== null) return await checkFleet(io, values, hosts);
  const given = values.remote ?? io.env("YONDER_REMOTE");
  // Named as exec --json names it: the canonical form, or "local".
  const target = given ? formatTarget(parseTarget(given)) : "local";
  const json = values.json === true;
  const { probes, report } = probeReport(io, { json });
  const started = performance.now();
  let env: Environment;
  try {
    // check runs yonder's own fixed probes: the policy fences what a caller asks for, not them.
    env = await openEnvironment(io, values, { ownProbes: true });
  } catch (e) {
    if (!(e instanceof SshConnectError)) throw e;
    await report({ name: "connect", ok: false, detail: `${e.kind}: ${e.message}`, hint: e.hint });
    if (json) await printJson(io, target, probes);
    return EXIT.connection;
  }
  try {
    await report(connectProbe(env, started));
    await runProbes(env, report);
  } catch (e) {
    if (!(e instanceof YonderError)) throw e;
    await report({
      name: "exec",
      ok: false,
      detail: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
    });
  } finally {
    await env.close();
  }
  if (json) await printJson(io, target, probes);
  return probes.every((p) => p.ok) ? EXIT.ok : EXIT.failure;
}

/** The probes `check --json` reports, of `env` (opened since `started`): the MCP check tool's. */
export async function probeAll(env: Environment, started: number): Promise<Probe[]> {
  const probes: Probe[] = [connectProbe(env, started)];
  try {
    await runProbes(env, (p) => Promise.resolve(void probes.push(p)));
  } catch (e) {
    if (!(e instanceof YonderError)) throw e;
    probes.push({
      name: "exec",
      ok: false,
      detail: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
    });
  }
  return probes;
}

/** `check` on many hosts: one line (or JSON object) per host, then the summary. */
function checkFleet(io: Io, values: FleetValues, hosts: string[]): Promise<number> {
  const good = (probes: Probe[]) => probes.every((p) => p.ok);
  return fleetRun(io, values, hosts, (env) => probeAll(env, performance.now()), {
    ok: good,
    describe: (probes) =>
      good(probes)
        ? `ok (${probes.map((p) => p.name).join(", ")})`
        : `FAIL ${probes.filter((p) => !p.ok).map((p) => `${p.name}: ${p.detail}`).join("; ")}`,
    json: (probes) => ({
      ok: good(probes),
      probes: probes.map((p) => ({
        name: p.name,
        ok: p.ok,
        detail: p.detail,
        hint: p.hint ?? null,
      })),
    }),
  }, { ownProbes: true });
}

/** Collects the probes; `report` also prints each as a line, unless the output is JSON. */
function probeReport(
  io: Io,
  output: { json: boolean },
): { probes: Probe[]; report: (p: Probe) => Promise<void> } {
  const probes: Probe[] = [];
  const report = async (p: Probe) => {
    probes.push(p);
    if (output.json) return;
    let text = `${p.ok ? "ok  " : "FAIL"}  ${p.name.padEnd(10)} ${p.detail}\n`;
    if (!p.ok && p.hint) text += `      hint: ${p.hint}\n`;
    await io.stdout(enc.encode(text));
  };
  return { probes, report };
}

/** The connect probe of an environment that opened. */
function connectProbe(env: Environment, started: number): Probe {
  return {
    name: "connect",
    ok: true,
    detail: env.kind === "local"
      ? "local: no connection needed (no -r and no $YONDER_REMOTE)"
      : `connected and authenticated in ${Math.round(performance.now() - started)} ms`,
  };
}

/** Runs the probes over the connection, reporting each as it is known. */
async function runProbes(env: Environment, report: (p: Probe) => Promise<void>): Promise<void> {
  const ssh = env instanceof SshEnvironment;
  if (ssh) await report(await serverProbe(env));
  const r = await env.exec(PROBE_SCRIPT, { timeoutMs: 15000 });
  const facts = probeFacts(r.stdout);
  for (const p of toolProbes(r.code, facts)) await report(p);
  if (ssh && r.code === 0) await report(groupsProbe(facts.get("group") === "own"));
  await report(await rttProbe(env));
}

/** The server probe: which SSH server software answers (informational: never a failure). */
async function serverProbe(env: SshEnvironment): Promise<Probe> {
  const r = await readServerBanner(env.target, env.options);
  return {
    name: "server",
    ok: true,
    detail: "banner" in r ? `${describeBanner(r.banner)}: ${r.banner}` : `unknown (${r.reason})`,
  };
}

/**
 * The process-group probe, as seen from inside a call: its wrapper (the probe's parent) must lead
 * a process group, which is what timeouts, aborts and `close()` stop. OpenSSH starts each
 * session's shell as a leader; elsewhere (Dropbear) the first hop makes one with `setsid` or perl.
 */
function groupsProbe(own: boolean): Probe {
  return {
    name: "groups",
    ok: own,
    detail: own
      ? "each call runs in a process group of its own"
      : "calls share the server's process group: a timeout or abort stops only part of a command",
    hint: "Install setsid (util-linux, or BusyBox with its setsid applet) or perl on the remote",
  };
}

/**
 * The family of a login shell, by its name: every family runs yonder's calls (the first hop is
 * read alike by all), but rc files and interactive use differ.
 */
export function shellFamily(path: string): string {
  const name = path.split("/").at(-1) ?? "";
  if (/^(sh|bash|dash|ash|ksh|ksh93|mksh|pdksh|zsh|yash|posh|busybox)$/.test(name)) return "POSIX";
  if (name === "fish") return "fish";
  if (/^t?csh$/.test(name)) return "csh";
  return "unknown";
}

/** The `name=value` lines the probe script prints. */
function probeFacts(stdout: Uint8Array): Map<string, string> {
  const facts = new Map<string, string>();
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) facts.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return facts;
}

/** The shell, tar and sha256sum probes, from the probe script's exit code and output. */
function toolProbes(code: number, facts: ReadonlyMap<string, string>): Probe[] {
  const shellOk = code === 0 && (facts.get("shell") ?? "") !== "";
  const tar = facts.get("tar") ?? "";
  const sha = facts.get("sha256") ?? "";
  return [
    {
      name: "shell",
      ok: shellOk,
      detail: shellOk
        ? `POSIX sh at ${facts.get("shell")} (${facts.get("os") || "unknown OS"}), ` +
          `login shell ${loginShell(facts.get("login") ?? "")}`
        : `the remote shell did not run the probe (exit ${code})`,
      hint: "The login shell must run POSIX sh scripts; check the account's shell and rc files",
    },
    {
      name: "tar",
      ok: tar !== "",
      detail: tar !== "" ? tar : "not found",
      hint: "Install tar on the remote (needed by push and pull)",
    },
    {
      name: "sha256sum",
      ok: sha !== "",
      detail: sha !== "" ? sha : "not found",
      hint: "Install coreutils (sha256sum) or perl (shasum) on the remote",
    },
  ];
}

function loginShell(path: string): string {
  return path === "" ? "unknown" : `${path} (${shellFamily(path)} family)`;
}

/** The round-trip probe: the median time of up to 5 `true` commands (stops at one that fails). */
async function rttProbe(env: Environment): Promise<Probe> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = await env.exec(["true"], { timeoutMs: 15000 });
    if (t.code !== 0) break;
    times.push(t.durationMs);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return {
    name: "rtt",
    ok: median !== undefined,
    detail: median !== undefined
      ? `${median.toFixed(1)} ms per command over the connection (median of ${times.length})`
      : "the round-trip probe failed",
  };
}

async function printJson(io: Io, target: string, probes: Probe[]): Promise<void> {
  const out = {
    target,
    ok: probes.every((p) => p.ok),
    probes: probes.map((p) => ({ name: p.name, ok: p.ok, detail: p.detail, hint: p.hint ?? null })),
  };
  await io.stdout(enc.encode(JSON.stringify(out) + "\n"));
}
