/**
 * Fan-out in the CLI: `-r @group`, `-r h1,h2`, `-r 'web[1-5]'` or `--hosts FILE` on exec, check
 * and put. Live output as `host: line` (whole lines, stdout and stderr apart), or gathered
 * (`--gather`: identical outputs under one folded header), or one JSON object per host; a summary;
 * the exit status of the worst host.
 */

import type { Environment, ExecOptions, ExecResult } from "../core/environment.ts";
import { SshConnectError, UsageError } from "../core/errors.ts";
import { DEFAULT_FORKS, Fleet, type FleetEvent } from "../fleet/fleet.ts";
import { expandHosts, foldHosts } from "../fleet/hosts.ts";
import type { FlagSpec } from "./_args.ts";
import { jsonBytes, resultJson } from "./_json.ts";
import {
  type ConnValues,
  errorJson,
  EXIT,
  exitCodeFor,
  intFlag,
  type Io,
  type OpenExtra,
  openTarget,
  say,
} from "./_common.ts";

/** The flags of fan-out. */
export const FLEET_FLAGS = {
  hosts: { type: "string" },
  forks: { type: "string" },
  batch: { type: "string" },
  "max-fail": { type: "string" },
  gather: { type: "boolean" },
  "no-prefix": { type: "boolean" },
  "out-dir": { type: "string" },
} as const satisfies Record<string, FlagSpec>;

/** Help for the fan-out flags. */
export const FLEET_HELP = `Many hosts (-r @GROUP, -r h1,h2, -r 'web[1-5]', --hosts FILE):
      --hosts FILE          hosts, one per line (# comments, ranges allowed)
      --forks N             hosts at work at once (default ${DEFAULT_FORKS}, as pssh and pdsh; behind
                            one jump host keep it at 10 or less: sshd's MaxStartups)
      --batch N             rolling waves of N hosts: a wave starts when the last one ended
      --max-fail N|P%       stop starting hosts once more than N (or P% of them) failed
      --gather              group identical output under one header (web[1-3,5] (4)), at the end
      --no-prefix           live lines without the "host: " prefix
      --out-dir DIR         also write DIR/HOST.stdout, .stderr and .json for each host
  Exit status: 0 when every host succeeded; else the largest exit code of a failed host; 255
  when hosts were unreachable and none failed otherwise.`;

/** Values of the fan-out and connection flags. */
export type FleetValues = ConnValues & {
  hosts?: string | undefined;
  forks?: string | undefined;
  batch?: string | undefined;
  "max-fail"?: string | undefined;
  gather?: boolean | undefined;
  "no-prefix"?: boolean | undefined;
  "out-dir"?: string | undefined;
  json?: boolean | undefined;
};

/** The hosts of `--hosts FILE`: one per line, `#` comments, ranges expanded. */
async function hostsFile(file: string): Promise<string[]> {
  const text = file === "-" ? "" : await Deno.readTextFile(file).catch((e) => {
    throw new UsageError(`--hosts ${file}: ${e instanceof Error ? e.message : e}`);
  });
  const names = text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter((l) => l !== "");
  if (names.length === 0) throw new UsageError(`--hosts ${file}: no hosts in it`);
  return expandHosts(names.join(","));
}

/**
 * The hosts a fan-out runs on, or null when the flags name one target (the single-host path).
 */
export async function fleetHosts(io: Io, v: FleetValues): Promise<string[] | null> {
  if (v.hosts !== undefined) {
    if (v.remote !== undefined) throw new UsageError("Give -r or --hosts, not both");
    return await hostsFile(v.hosts);
  }
  const remote = v.remote ?? io.env("YONDER_REMOTE");
  if (remote === undefined || remote === "") return null;
  if (remote.startsWith("@")) {
    const { findConfig } = await import("../config/find.ts");
    const file = await findConfig({ flag: v.config, env: io.env });
    if (file === null) return null; // the single-host path says a group needs a config
    const [{ selectHosts }, { loadConfigOnce }] = await Promise.all([
      import("../config/config.ts"),
      import("./_config.ts"),
    ]);
    const hosts = selectHosts(await loadConfigOnce(file), remote);
    return hosts.length > 1 ? hosts : null;
  }
  const hosts = expandHosts(remote);
  return hosts.length > 1 ? hosts : null;
}

/** The fan-out settings the flags ask for. */
export function fanOutOptions(io: Io, v: FleetValues): {
  forks: number;
  batch?: number;
  maxFail?: string;
  signal?: AbortSignal;
} {
  if (v.gather && v.json) throw new UsageError("Give --gather or --json, not both");
  return {
    forks: v.forks !== undefined ? intFlag("forks", v.forks, 1, 10_000) : DEFAULT_FORKS,
    ...(v.batch !== undefined ? { batch: intFlag("batch", v.batch, 1, 1_000_000) } : {}),
    ...(v["max-fail"] !== undefined ? { maxFail: v["max-fail"] } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  };
}

/** Opens each host as a one-host command would (config, policy, sandbox, audit), `-r` set to it. */
export function fleetFor(io: Io, v: FleetValues, hosts: string[], extra: OpenExtra): Fleet {
  const { hosts: _file, ...conn } = v;
  return new Fleet(hosts, async (host) => {
    const opened = await openTarget(io, { ...conn, remote: host }, extra);
    return opened.env;
  });
}

/** How {@linkcode fleetRun} reports a task's value. */
export interface TaskReport<T> {
  /** One line for the host (after `host: `). */
  describe?(value: T): string;
  /** Prints a host's value instead of {@linkcode describe} (without `--json`). */
  print?(host: string, value: T): Promise<void>;
  /** Runs after the last host, before the summary (a gathered print). */
  end?(): Promise<void>;
  /** The host's `--json` object (without `host`). */
  json(value: T): Record<string, unknown>;
  /** Whether the value is a success. */
  ok(value: T): boolean;
}

/**
 * Runs `task` on `hosts` (not exec: check, put…), printing a line (or a JSON object) per host as
 * it ends and the summary; returns the exit status (1 for a task that did not succeed).
 */
export async function fleetRun<T>(
  io: Io,
  v: FleetValues,
  hosts: string[],
  task: (env: Environment, host: string) => Promise<T>,
  report: TaskReport<T>,
  extra: OpenExtra = {},
): Promise<number> {
  const fan = fanOutOptions(io, v);
  await using fleet = fleetFor(io, v, hosts, extra);
  const tally = new Tally();
  const writer = new LineWriter(io);
  const line = (obj: Record<string, unknown>, text: string, stream: "stdout" | "stderr") =>
    writer.write(
      v.json ? "stdout" : stream,
      enc.encode((v.json ? JSON.stringify(obj) : text) + "\n"),
    );
  for await (const e of fleet.run(task, { ...fan, failed: (x) => !report.ok(x) })) {
    if ("kind" in e) {
      tally.skipped.push({ host: e.host, reason: e.reason });
      if (v.json) await line({ host: e.host, not_started: e.reason }, "", "stdout");
    } else if ("value" in e) {
      if (report.ok(e.value)) tally.ok.push(e.host);
      else tally.failed.push({ host: e.host, code: EXIT.failure, why: "failed" });
      if (v.json || !report.print) {
        await line(
          { host: e.host, ...report.json(e.value) },
          `${e.host}: ${report.describe?.(e.value) ?? "ok"}`,
          "stdout",
        );
      } else await report.print(e.host, e.value);
    } else {
      tally.error(e.host, e.error);
      await line(
        { host: e.host, ...errorJson(e.host, e.error) },
        `${e.host}: yonder: ${errorLine(e.error)}`,
        "stderr",
      );
    }
  }
  await writer.flush();
  await report.end?.();
  if (v.json) await io.stdout(enc.encode(JSON.stringify(tally.json()) + "\n"));
  else await say(io, `yonder: ${tally.line()}`);
  return tally.exitCode();
}

/** The most a text fan-out (cat, ls) keeps of one host's output. */
export const TEXT_CAP = 8 * 1024 * 1024;

/**
 * A fan-out whose hosts each produce text (cat, ls): printed as `host: line` once the host is
 * done, or gathered (`--gather`); `--json` carries it as `output` (or `output_base64`).
 */
export function fleetText(
  io: Io,
  v: FleetValues,
  hosts: string[],
  produce: (env: Environment, host: string) => Promise<Uint8Array>,
): Promise<number> {
  const writer = new LineWriter(io);
  const gathered: { host: string; code: number; stdout: Uint8Array; stderr: Uint8Array }[] = [];
  const prefix = !v["no-prefix"];
  return fleetRun(io, v, hosts, produce, {
    ok: () => true,
    json: (b) => ({ ok: true, bytes: b.length, ...jsonBytes("output", b) }),
    async print(host, bytes) {
      if (v.gather) {
        return void gathered.push({ host, code: 0, stdout: bytes, stderr: new Uint8Array(0) });
      }
      let start = 0;
      while (start < bytes.length) {
        const nl = bytes.indexOf(10, start);
        const end = nl === -1 ? bytes.length : nl;
        await writer.write("stdout", prefixed(prefix ? host : null, bytes.subarray(start, end)));
        start = end + 1;
      }
    },
    async end() {
      await writer.flush();
      if (v.gather) await printGathered(io, gatherResults(gathered));
    },
  });
}

/** How each host ended, for the summary and the exit status. */
export class Tally {
  ok: string[] = [];
  failed: { host: string; code: number; why: string }[] = [];
  unreachable: { host: string; why: string }[] = [];
  timedOut: string[] = [];
  skipped: { host: string; reason: string }[] = [];

  /** Set when the run can be interrupted: a command it stopped did not complete. */
  stoppedBy: AbortSignal | undefined;

  /** Counts a result. */
  result(host: string, r: ExecResult): void {
    if (r.timedOut) this.timedOut.push(host);
    const why = r.timedOut
      ? "timed out"
      : this.stoppedBy?.aborted && r.signal !== null
      ? "interrupted"
      : `rc ${r.code}`;
    if (r.code === 0) this.ok.push(host);
    else this.failed.push({ host, code: r.code, why });
  }

  /** Counts an error. */
  error(host: string, e: unknown): void {
    const code = exitCodeFor(e);
    const why = e instanceof SshConnectError
      ? e.kind
      : e instanceof Error
      ? e.message.split("\n")[0]!.slice(0, 80)
      : String(e);
    if (code === EXIT.connection) this.unreachable.push({ host, why });
    else this.failed.push({ host, code, why });
  }

  /** The exit status: 0, the largest failed code, or 255 when only unreachable hosts failed. */
  exitCode(): number {
    if (this.failed.length > 0) return Math.max(...this.failed.map((f) => f.code));
    if (this.unreachable.length > 0) return EXIT.connection;
    return this.skipped.length > 0 ? EXIT.failure : EXIT.ok;
  }

  /** `ok 48 · failed 1 (web7: rc 1) · unreachable 1 (db2: refused) · timed out 0`. */
  line(): string {
    const some = <T>(xs: T[], f: (x: T) => string) =>
      xs.length === 0 ? "" : ` (${xs.slice(0, 5).map(f).join(", ")}${xs.length > 5 ? ", …" : ""})`;
    const parts = [
      `ok ${this.ok.length}`,
      `failed ${this.failed.length}${some(this.failed, (f) => `${f.host}: ${f.why}`)}`,
      `unreachable ${this.unreachable.length}${
        some(this.unreachable, (u) => `${u.host}: ${u.why}`)
      }`,
      `timed out ${this.timedOut.length}`,
    ];
    if (this.skipped.length > 0) {
      parts.push(
        `not started ${this.skipped.length}${some(this.skipped, (s) => `${s.host}: ${s.reason}`)}`,
      );
    }
    return parts.join(" · ");
  }

  /** The summary as JSON. */
  json(): Record<string, unknown> {
    return {
      summary: {
        ok: this.ok.length,
        failed: this.failed,
        unreachable: this.unreachable,
        timed_out: this.timedOut,
        not_started: this.skipped,
        code: this.exitCode(),
      },
    };
  }
}

const enc = new TextEncoder();

/**
 * Writes whole lines in order, several at a time but never a part of one, so lines of different
 * hosts never mix; {@linkcode write} waits while much is queued (the reader's pace).
 */
export class LineWriter {
  #pending: Record<"stdout" | "stderr", Uint8Array[]> = { stdout: [], stderr: [] };
  #bytes = 0;
  #draining: Promise<void> | null = null;
  constructor(private readonly io: Io) {}

  /** Queues `bytes` (whole lines) for stdout or stderr. */
  async write(stream: "stdout" | "stderr", bytes: Uint8Array): Promise<void> {
    this.#pending[stream].push(bytes);
    this.#bytes += bytes.length;
    this.#draining ??= this.#drain();
    if (this.#bytes > 1024 * 1024) await this.#draining;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#bytes > 0) {
        for (const stream of ["stdout", "stderr"] as const) {
          const parts = this.#pending[stream];
          if (parts.length === 0) continue;
          this.#pending[stream] = [];
          const size = parts.reduce((n, p) => n + p.length, 0);
          const all = new Uint8Array(size);
          let at = 0;
          for (const p of parts) {
            all.set(p, at);
            at += p.length;
          }
          this.#bytes -= size;
          await this.io[stream](all).catch((e) => {
            if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
          });
        }
      }
    } finally {
      this.#draining = null;
    }
  }

  /** Resolves once everything queued is written. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }
}

const prefixes = new Map<string, Uint8Array>();

/** `host: line\n` (or the line alone). */
function prefixed(host: string | null, line: Uint8Array): Uint8Array {
  let head: Uint8Array = new Uint8Array(0);
  if (host !== null) {
    head = prefixes.get(host) ?? enc.encode(`${host}: `);
    prefixes.set(host, head);
  }
  const out = new Uint8Array(head.length + line.length + 1);
  out.set(head);
  out.set(line, head.length);
  out[out.length - 1] = 10;
  return out;
}

/** A file name for `host` in `--out-dir` (no slashes, no leading dot). */
function safeName(host: string): string {
  return host.replace(/[^A-Za-z0-9@._:,+=-]/g, "_").replace(/^\./, "_");
}

/** Per-host output files under `--out-dir`: stdout and stderr as they come, the result at the end. */
export class OutDir {
  #files = new Map<string, { out: Deno.FsFile; err: Deno.FsFile }>();
  constructor(readonly dir: string) {}

  /** Exec options that also write `host`'s streams to its files. */
  async optionsFor(host: string): Promise<Partial<ExecOptions>> {
    await Deno.mkdir(this.dir, { recursive: true });
    const base = `${this.dir}/${safeName(host)}`;
    const out = await Deno.open(`${base}.stdout`, { write: true, create: true, truncate: true });
    const err = await Deno.open(`${base}.stderr`, { write: true, create: true, truncate: true });
    this.#files.set(host, { out, err });
    return { onStdout: (c) => out.write(c), onStderr: (c) => err.write(c) };
  }

  /** Writes `host`'s result (or error) and closes its files. */
  async finish(host: string, json: Record<string, unknown>): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    await Deno.writeTextFile(`${this.dir}/${safeName(host)}.json`, JSON.stringify(json) + "\n");
    const f = this.#files.get(host);
    this.#files.delete(host);
    f?.out.close();
    f?.err.close();
  }

  /** Closes what is still open. */
  close(): void {
    for (const f of this.#files.values()) {
      f.out.close();
      f.err.close();
    }
    this.#files.clear();
  }
}

/** Identical results grouped: the hosts, folded, with what they printed. */
export function gatherResults(
  results: { host: string; code: number; stdout: Uint8Array; stderr: Uint8Array }[],
): { hosts: string[]; code: number; stdout: Uint8Array; stderr: Uint8Array }[] {
  const groups = new Map<
    string,
    { hosts: string[]; code: number; stdout: Uint8Array; stderr: Uint8Array }
  >();
  const dec = new TextDecoder("latin1");
  for (const r of results) {
    const key = `${r.code}\u0000${dec.decode(r.stdout)}\u0000${dec.decode(r.stderr)}`;
    const g = groups.get(key) ?? { hosts: [], code: r.code, stdout: r.stdout, stderr: r.stderr };
    g.hosts.push(r.host);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => b.hosts.length - a.hosts.length);
}

/** Prints the gathered groups: `----- web[1-3,5] (4) rc 0` and the output under it. */
export async function printGathered(
  io: Io,
  groups: ReturnType<typeof gatherResults>,
): Promise<void> {
  for (const g of groups) {
    const head = `----- ${foldHosts(g.hosts)} (${g.hosts.length})${
      g.code !== 0 ? ` rc ${g.code}` : ""
    }\n`;
    await io.stdout(enc.encode(head));
    if (g.stdout.length > 0) await io.stdout(g.stdout);
    if (g.stdout.length > 0 && g.stdout[g.stdout.length - 1] !== 10) {
      await io.stdout(enc.encode("\n"));
    }
    if (g.stderr.length > 0) await io.stderr(g.stderr);
  }
}

/** What one fan-out exec prints, as its events come. */
export interface ExecPrinter {
  event(e: FleetEvent): Promise<void>;
  end(tally: Tally): Promise<void>;
}

/** The printer the flags ask for: live lines, JSON per host, or gathered at the end. */
export function execPrinter(
  io: Io,
  v: FleetValues,
  out: OutDir | null,
  label: (host: string) => string,
): ExecPrinter {
  const writer = new LineWriter(io);
  const gathered: { host: string; code: number; stdout: Uint8Array; stderr: Uint8Array }[] = [];
  const prefix = !v["no-prefix"];
  return {
    async event(e) {
      if (e.kind === "line" && !v.json && !v.gather) {
        await writer.write(e.stream, prefixed(prefix ? e.host : null, e.line));
      } else if (e.kind === "done") {
        const json = { host: e.host, ...resultJson(label(e.host), e.result) };
        if (v.json) await writer.write("stdout", enc.encode(JSON.stringify(json) + "\n"));
        if (v.gather) {
          gathered.push({
            host: e.host,
            code: e.result.code,
            stdout: e.result.stdout,
            stderr: e.result.stderr,
          });
        }
        await out?.finish(e.host, json);
      } else if (e.kind === "error") {
        const json = { host: e.host, ...errorJson(label(e.host), e.error) };
        if (v.json) await writer.write("stdout", enc.encode(JSON.stringify(json) + "\n"));
        else await writer.write("stderr", enc.encode(`${e.host}: yonder: ${errorLine(e.error)}\n`));
        if (v.gather) {
          gathered.push({
            host: e.host,
            code: exitCodeFor(e.error),
            stdout: new Uint8Array(0),
            stderr: enc.encode(`yonder: ${errorLine(e.error)}\n`),
          });
        }
        await out?.finish(e.host, json);
      } else if (e.kind === "skipped" && v.json) {
        await writer.write(
          "stdout",
          enc.encode(JSON.stringify({ host: e.host, not_started: e.reason }) + "\n"),
        );
      }
    },
    async end(tally) {
      await writer.flush();
      if (v.gather) await printGathered(io, gatherResults(gathered));
      if (v.json) await io.stdout(enc.encode(JSON.stringify(tally.json()) + "\n"));
      else await say(io, `yonder: ${tally.line()}`);
    },
  };
}

/** An error in one line. */
function errorLine(e: unknown): string {
  const err = e as { message?: string; hint?: string };
  return (err.message ?? String(e)).split("\n")[0]!;
}

/** Runs `command` on `hosts` and prints as the flags ask; returns the exit status. */
export async function fleetExec(
  io: Io,
  v: FleetValues,
  hosts: string[],
  command: readonly string[] | string,
  opts: ExecOptions,
): Promise<number> {
  const fan = fanOutOptions(io, v);
  const out = v["out-dir"] !== undefined ? new OutDir(v["out-dir"]) : null;
  // One command per host: let it carry the connection (no master, as a bare ssh loop).
  await using fleet = fleetFor(io, v, hosts, { oneShot: true });
  const tally = new Tally();
  tally.stoppedBy = io.signal;
  const printer = execPrinter(io, v, out, (h) => h);
  // Live lines need no copy of the output; --json, --gather and --out-dir keep each host's.
  const capture = v.json || v.gather ? (opts.maxOutputBytes ?? 1024 * 1024) : 0;
  const perHost = out ? (h: string) => out.optionsFor(h) : null;
  try {
    const events = fleet.exec(command, {
      ...opts,
      ...fan,
      maxOutputBytes: capture,
      lines: !v.json && !v.gather,
      ...(perHost ? { optionsFor: perHost } : {}),
    });
    for await (const e of events) {
      if (e.kind === "done") tally.result(e.host, e.result);
      if (e.kind === "error") tally.error(e.host, e.error);
      if (e.kind === "skipped") tally.skipped.push({ host: e.host, reason: e.reason });
      await printer.event(e);
    }
  } finally {
    out?.close();
  }
  await printer.end(tally);
  return tally.exitCode();
}

/** Refuses fan-out for a command that runs on one host. */
export function oneHostOnly(command: string, hosts: string[]): never {
  throw new UsageError(`${command} runs on one host; -r names ${hosts.length}`, {
    hint: `Name one (${hosts.slice(0, 3).join(", ")}${
      hosts.length > 3 ? ", …" : ""
    }), or use exec, check or put`,
  });
}
