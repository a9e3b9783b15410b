/** `yonder config check` and `yonder hosts`: the config as yonder reads it. */

import { parseFlags } from "./_args.ts";
import { UsageError } from "../core/errors.ts";
import { type Config, loadConfig, type Resolved, resolveHost } from "../config/config.ts";
import { findConfig } from "../config/find.ts";
import { EXIT, type Io } from "./_common.ts";

/** Help for `yonder config`. */
export const CONFIG_HELP = `Usage: yonder config check [--config FILE] [--json]

Reads the config (--config FILE, $YONDER_CONFIG, ./yonder.yaml, ~/.config/yonder/config.yaml),
checks it (unknown keys, types, targets, inventories, group references) and prints what yonder
makes of it: every host with its target, groups, settings, policy and audit log.

Options:
      --config FILE   the config to check
      --json          print the resolved model as one JSON object

Exit codes: 0 valid; 2 invalid (each problem as file:line:col: key.path: what) or not found.`;

/** Help for `yonder hosts`. */
export const HOSTS_HELP = `Usage: yonder hosts [--config FILE] [--json]

Lists the configured hosts (usable as -r NAME) and groups (-r @GROUP).

Options:
      --config FILE   the config to read
      --json          one JSON object: {hosts: [{name, target, groups}], groups: [{name, hosts}]}`;

const enc = new TextEncoder();
const FLAGS = {
  config: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

async function load(io: Io, flag: string | undefined): Promise<Config> {
  const file = await findConfig({ flag, env: io.env });
  if (file === null) {
    throw new UsageError("No config found (./yonder.yaml, ~/.config/yonder/config.yaml)", {
      hint: "Write one with yonder init, or name one with --config FILE or $YONDER_CONFIG",
    });
  }
  return await loadConfig(file);
}

function fenceJson(r: Resolved): Record<string, unknown> {
  return {
    policy: r.policy ? { mode: r.policy.mode, rules: r.policy.rules.map((x) => x.id) } : null,
    paths: r.paths,
    audit: r.audit,
  };
}

function fenceText(r: Resolved): string {
  const p = r.policy
    ? `${r.policy.mode}, rules ${r.policy.rules.map((x) => x.id).join(" ")}`
    : "none";
  const paths = r.paths
    ? `; paths read ${JSON.stringify(r.paths.read ?? "any")} write ${
      JSON.stringify(r.paths.write ?? "any")
    }`
    : "";
  const audit = r.audit ? `${r.audit.path} (args: ${r.audit.args})` : "off";
  return `policy: ${p}${paths}; audit: ${audit}`;
}

/** Runs `yonder config SUBCOMMAND`; returns the exit code. */
export async function configCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (values.help) {
    await io.stdout(enc.encode(CONFIG_HELP + "\n"));
    return EXIT.ok;
  }
  if (positionals.length !== 1 || positionals[0] !== "check") {
    throw new UsageError(`Expected "yonder config check", got ${JSON.stringify(positionals)}`);
  }
  const config = await load(io, values.config);
  const hosts = [...config.hosts.values()].map((h) => ({
    host: h,
    r: resolveHost(config, h.name, io.env),
  }));
  const local = resolveHost(config, null, io.env);
  if (values.json) {
    const out = {
      file: config.file,
      valid: true,
      hosts: hosts.map(({ host, r }) => ({
        name: host.name,
        target: host.target,
        from: host.from,
        groups: r.groups,
        settings: r.settings,
        ...fenceJson(r),
      })),
      groups: [...config.groups.values()].map((g) => ({
        name: g.name,
        hosts: g.hosts,
        children: g.children,
        members: g.members,
      })),
      other_targets: { settings: local.settings, ...fenceJson(local) },
    };
    await io.stdout(enc.encode(JSON.stringify(out) + "\n"));
    return EXIT.ok;
  }
  const lines = [`${config.file}: valid`, `hosts (${hosts.length}):`];
  for (const { host, r } of hosts) {
    const groups = r.groups.length > 0 ? `  groups: ${r.groups.join(", ")}` : "";
    lines.push(`  ${host.name}  ${host.target}${groups}`);
    const settings = Object.entries(r.settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    if (settings.length > 0) lines.push(`    settings: ${settings.join(" ")}`);
    lines.push(`    ${fenceText(r)}`);
  }
  lines.push(`groups (${config.groups.size}):`);
  for (const g of config.groups.values()) {
    lines.push(`  @${g.name}  ${g.members.join(", ") || "(no hosts)"}`);
  }
  lines.push(`local runs and other targets:`, `    ${fenceText(local)}`);
  await io.stdout(enc.encode(lines.join("\n") + "\n"));
  return EXIT.ok;
}

/** Runs `yonder hosts`; returns the exit code. */
export async function hostsCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, FLAGS, false);
  if (values.help) {
    await io.stdout(enc.encode(HOSTS_HELP + "\n"));
    return EXIT.ok;
  }
  const config = await load(io, values.config);
  const hosts = [...config.hosts.values()].map((h) => ({
    name: h.name,
    target: h.target,
    groups: resolveHost(config, h.name, io.env).groups,
  }));
  const groups = [...config.groups.values()].map((g) => ({ name: g.name, hosts: g.members }));
  if (values.json) {
    await io.stdout(enc.encode(JSON.stringify({ hosts, groups }) + "\n"));
    return EXIT.ok;
  }
  const width = Math.max(4, ...hosts.map((h) => h.name.length));
  const lines = hosts.map((h) =>
    `${h.name.padEnd(width)}  ${h.target}${h.groups.length ? `  @${h.groups.join(" @")}` : ""}`
  );
  for (const g of groups) lines.push(`@${g.name}  ${g.hosts.join(", ") || "(no hosts)"}`);
  await io.stdout(enc.encode(lines.join("\n") + "\n"));
  return EXIT.ok;
}
