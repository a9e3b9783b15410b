/**
 * File commands: `cat`, `put`, `get`, `ls`, `push`, `pull`. Each works on the target given with
 * `-r` (or `$YONDER_REMOTE`), or locally without one.
 */

import { parseFlags } from "./_args.ts";
import { basename, join } from "../util/path.ts";
import { concat } from "../util/output.ts";
import { entryJson } from "./_json.ts";
import type { Environment } from "../core/environment.ts";
import { FileError, UsageError } from "../core/errors.ts";
import type { FileInfo, WriteFileOptions } from "../core/files.ts";
import type { PullResult, TreeResult } from "../core/tree_types.ts";
import {
  checkConnectionFlags,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  EXIT,
  type Io,
  openEnvironment,
  say,
} from "./_common.ts";
import { formatBytes, Progress } from "./_progress.ts";
import { FLEET_FLAGS, FLEET_HELP, fleetHosts, fleetRun, fleetText, TEXT_CAP } from "./fleet.ts";

const enc = new TextEncoder();

/** Help for `yonder cat`. */
export const CAT_HELP = `Usage: yonder cat [options] PATH...

Writes the files to stdout, byte for byte (streamed: large files are not held in memory).

${CONNECTION_HELP}

${FLEET_HELP}

Exit codes: 0 ok; 1 a file is missing or unreadable (yonder: PATH: not found); 255 connection.`;

/** Help for `yonder put`. */
export const PUT_HELP = `Usage: yonder put [options] LOCAL REMOTE

Copies LOCAL (a file, or - for stdin) to REMOTE atomically: the bytes go to a temp file beside
REMOTE (.NAME.yonder-tmp-PID-NONCE) that replaces REMOTE only once every byte has arrived, so
REMOTE holds the old content or the new, never a part. REMOTE ending in / (or an existing
directory) receives LOCAL under its own name.

Options:
      --mkdirs              create missing parent directories
  -m, --mode OCTAL          permission bits (default: an existing file keeps its mode)

      --json                with several hosts: one JSON object per host, then a summary

${CONNECTION_HELP}

${FLEET_HELP}

Exit codes: 0 ok; 1 not found, permission denied, no space (the old file is intact); 255
connection.`;

/** Help for `yonder get`. */
export const GET_HELP = `Usage: yonder get [options] REMOTE [LOCAL]

Copies REMOTE to LOCAL (default: its name in the current directory; - for stdout). LOCAL is
replaced atomically; a LOCAL directory receives REMOTE under its own name.

Options:
      --mkdirs              create missing local parent directories

${CONNECTION_HELP}

Exit codes: 0 ok; 1 not found or unreadable; 255 connection.`;

/** Help for `yonder ls`. */
export const LS_HELP = `Usage: yonder ls [options] [PATH]

Lists a directory (default: the target's directory, or the current one), sorted by name.

Options:
  -a, --all                 include names starting with .
  -R, --recursive           descend into directories (names become relative paths)
  -l, --long                mode, size, modification time and name
      --json                one JSON object per entry: name, type, size, mode, mtime

${CONNECTION_HELP}

${FLEET_HELP}

Exit codes: 0 ok; 1 not found or not a directory; 255 connection.`;

/** Help for `yonder push`. */
export const PUSH_HELP = `Usage: yonder push [options] LOCAL_DIR REMOTE_DIR

Sends LOCAL_DIR to REMOTE_DIR (created when missing) in one tar stream over the connection,
sending only what changed: a manifest (size, mtime, sha256 per file) in ~/.cache/yonder remembers
the last sync, the remote listing tells whether the remote changed behind our back. Modes are
kept exactly whatever the remote umask; REMOTE_DIR's own mode is never changed. Symlinks that
point out of LOCAL_DIR are refused.

Options:
      --exclude GLOB        leave matching paths alone (repeatable; no / in GLOB: any name)
      --delete              delete remote entries that LOCAL_DIR does not have
      --json                print the result as one JSON object

${CONNECTION_HELP}

${FLEET_HELP}

Exit codes: 0 ok; 1 a file error (the remote keeps each file old or new); 255 connection.`;

/** Help for `yonder pull`. */
export const PULL_HELP = `Usage: yonder pull [options] REMOTE_DIR LOCAL_DIR

Brings REMOTE_DIR to LOCAL_DIR in one tar stream, receiving only what differs. Every local write
is atomic (an interrupted pull leaves each file old or new); entries that escape LOCAL_DIR
(.., absolute paths, symlinks pointing out) are refused.

Options:
      --only-changed        sync-back: only files changed on the remote since the last push or
                            pull (by sha256) and new remote files; nothing local is deleted
      --prefer local|remote who wins a file changed on both sides (default local: a conflict,
                            reported and left alone)
      --exclude GLOB        leave matching paths alone (repeatable)
      --delete              delete local entries the remote does not have (not with
                            --only-changed)
      --json                print the result as one JSON object

${CONNECTION_HELP}

Exit codes: 0 ok; 1 a file error, or conflicts left alone; 255 connection.`;

/**
 * Runs `fn` with the environment the flags select, closing it afterwards. `oneShot` is for
 * commands that run a single remote command: it then carries the connection itself (one ssh
 * process instead of a master plus a channel).
 */
async function withEnv<T>(
  io: Io,
  values: Parameters<typeof openEnvironment>[1],
  fn: (env: Environment) => Promise<T>,
  oneShot = false,
): Promise<T> {
  const env = await openEnvironment(io, values, { oneShot });
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}

function parseMode(text: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) {
    throw new UsageError(`Invalid --mode "${text}": expected octal permission bits like 644`);
  }
  return parseInt(text, 8);
}

async function help(io: Io, text: string): Promise<number> {
  await io.stdout(enc.encode(text + "\n"));
  return EXIT.ok;
}

/** The CLI's interrupt signal (a never-aborted one when run without `main`). */
function interrupts(io: Io): { signal: AbortSignal; stop: () => void } {
  return { signal: io.signal ?? new AbortController().signal, stop: () => {} };
}

/** Runs `yonder cat`. */
export async function catCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    ...FLEET_FLAGS,
    json: { type: "boolean" },
  });
  if (values.help) return await help(io, CAT_HELP);
  checkConnectionFlags(values);
  if (positionals.length === 0) {
    throw new UsageError("No path given", { hint: "yonder cat [-r TARGET] PATH" });
  }
  const hosts = await fleetHosts(io, values);
  if (hosts !== null) {
    return await fleetText(io, values, hosts, async (env) => {
      const parts: Uint8Array[] = [];
      for (const path of positionals) parts.push(await env.readFile(path, { maxBytes: TEXT_CAP }));
      return concat(parts);
    });
  }
  manyHostsOnly(values);
  return await withEnv(io, values, async (env) => {
    for (const path of positionals) await toStdout(env, path, io);
    return EXIT.ok;
  }, positionals.length === 1);
}

/** Streams a file to stdout (synchronous writes when the Io has them, to hold the source back). */
async function toStdout(env: Environment, path: string, io: Io): Promise<void> {
  const { signal, stop } = interrupts(io);
  try {
    let writes = Promise.resolve();
    await env.readFileStream(path, (c) => {
      if (io.stdoutSync) io.stdoutSync(c);
      else {
        const copy = c.slice();
        writes = writes.then(() => io.stdout(copy));
      }
    }, { signal });
    await writes;
  } finally {
    stop();
  }
}

/** Runs `yonder put`. */
export async function putCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    ...FLEET_FLAGS,
    json: { type: "boolean" },
    mkdirs: { type: "boolean" },
    mode: { type: "string", short: "m" },
  });
  if (values.help) return await help(io, PUT_HELP);
  checkConnectionFlags(values);
  const [from, to] = positionals;
  if (from === undefined || to === undefined || positionals.length > 2) {
    throw new UsageError("Expected LOCAL and REMOTE", {
      hint: "yonder put [-r TARGET] LOCAL REMOTE",
    });
  }
  const mode = values.mode !== undefined ? parseMode(values.mode) : undefined;
  if (from !== "-") {
    const info = await Deno.stat(from).catch(() => null);
    if (info?.isDirectory) {
      throw new FileError(from, `"${from}" is a directory`, {
        hint: "Use yonder push to send a directory",
      });
    }
  }
  const name = from === "-" ? "stdin" : basename(from);
  let dest = to.endsWith("/") ? to + name : to;
  const hosts = await fleetHosts(io, values);
  if (hosts !== null) {
    if (from === "-") throw new UsageError("put - (stdin) cannot go to several hosts");
    const opts = { mkdirs: values.mkdirs ?? false, ...(mode !== undefined ? { mode } : {}) };
    return await fleetRun(io, values, hosts, (env) => uploadInto(env, from, dest, name, opts), {
      ok: () => true,
      describe: (r) => `${r.bytes} bytes to ${r.path}`,
      json: (r) => ({ ok: true, bytes: r.bytes, path: r.path }),
    });
  }
  manyHostsOnly(values);
  return await withEnv(io, values, async (env) => {
    const progress = new Progress(io);
    const { signal, stop } = interrupts(io);
    // Progress only when it is shown: without it the file goes to ssh directly.
    const opts = {
      mkdirs: values.mkdirs ?? false,
      signal,
      ...(progress.active ? { onProgress: progress.update } : {}),
      ...(mode !== undefined ? { mode } : {}),
    };
    const send = () =>
      from === "-" ? env.writeFile(dest, io.stdin(), opts) : env.upload(from, dest, opts);
    try {
      try {
        await send();
      } catch (e) {
        // An existing directory receives the file under its own name.
        if (!(e instanceof FileError && /is a directory/.test(e.message)) || from === "-") throw e;
        if (dest.endsWith("/" + name)) throw e;
        dest = `${dest.replace(/\/+$/, "")}/${name}`;
        await send();
      }
    } finally {
      stop();
      await progress.stop();
    }
    return EXIT.ok;
  }, true);
}

/** Refuses the fan-out flags on one host (they mean nothing there). */
function manyHostsOnly(
  v: { json?: boolean; gather?: boolean; "out-dir"?: string; hosts?: string },
): void {
  if (v.json || v.gather || v["out-dir"] !== undefined) {
    throw new UsageError("--json, --gather and --out-dir go with several hosts here", {
      hint: "Name several with -r @GROUP, -r h1,h2, -r 'web[1-3]' or --hosts FILE",
    });
  }
}

/** Uploads `from` to `dest`, or into `dest` when that is a directory; the bytes and the path. */
async function uploadInto(
  env: Environment,
  from: string,
  dest: string,
  name: string,
  opts: WriteFileOptions,
): Promise<{ bytes: number; path: string }> {
  try {
    return { bytes: await env.upload(from, dest, opts), path: dest };
  } catch (e) {
    if (!(e instanceof FileError && /is a directory/.test(e.message))) throw e;
    if (dest.endsWith("/" + name)) throw e;
    const inside = `${dest.replace(/\/+$/, "")}/${name}`;
    return { bytes: await env.upload(from, inside, opts), path: inside };
  }
}

/** Runs `yonder get`. */
export async function getCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    mkdirs: { type: "boolean" },
  });
  if (values.help) return await help(io, GET_HELP);
  checkConnectionFlags(values);
  const [from, toArg] = positionals;
  if (from === undefined || positionals.length > 2) {
    throw new UsageError("Expected REMOTE [LOCAL]", {
      hint: "yonder get [-r TARGET] REMOTE LOCAL",
    });
  }
  if (toArg === "-") {
    return await withEnv(io, values, async (env) => {
      await toStdout(env, from, io);
      return EXIT.ok;
    }, true);
  }
  let to = toArg ?? basename(from, true);
  const info = await Deno.stat(to).catch(() => null);
  if (info?.isDirectory || to.endsWith("/")) to = join(to, basename(from, true));
  return await withEnv(io, values, async (env) => {
    const progress = new Progress(io);
    const { signal, stop } = interrupts(io);
    try {
      await env.download(from, to, {
        mkdirs: values.mkdirs ?? false,
        signal,
        onProgress: progress.update,
      });
    } finally {
      stop();
      await progress.stop();
    }
    return EXIT.ok;
  }, true);
}

const TYPE_CHAR: Record<FileInfo["type"], string> = {
  file: "-",
  dir: "d",
  symlink: "l",
  other: "?",
};

/** Runs `yonder ls`. */
export async function lsCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    ...FLEET_FLAGS,
    all: { type: "boolean", short: "a" },
    recursive: { type: "boolean", short: "R" },
    long: { type: "boolean", short: "l" },
    json: { type: "boolean" },
  });
  if (values.help) return await help(io, LS_HELP);
  checkConnectionFlags(values);
  if (positionals.length > 1) throw new UsageError("Expected at most one PATH");
  const path = positionals[0] ?? ".";
  const listing = async (env: Environment, json: boolean) => {
    const entries = await env.list(path, {
      hidden: values.all ?? false,
      recursive: values.recursive ?? false,
    });
    const lines = entries.map((e) => {
      if (json) return JSON.stringify(entryJson(e));
      if (!values.long) return e.name;
      const mode = TYPE_CHAR[e.type] + e.mode.toString(8).padStart(4, "0");
      return `${mode} ${String(e.size).padStart(10)} ${e.mtime.toISOString()} ${e.name}`;
    });
    return lines.length > 0 ? lines.join("\n") + "\n" : "";
  };
  const hosts = await fleetHosts(io, values);
  if (hosts !== null) {
    return await fleetText(io, values, hosts, async (env) => enc.encode(await listing(env, false)));
  }
  manyHostsOnly({ ...values, json: false });
  return await withEnv(io, values, async (env) => {
    const text = await listing(env, values.json ?? false);
    if (text !== "") await io.stdout(enc.encode(text));
    return EXIT.ok;
  }, true);
}

const TREE_FLAGS = {
  exclude: { type: "string", multiple: true },
  delete: { type: "boolean" },
  json: { type: "boolean" },
} as const;

function treeJson(what: string, r: TreeResult | PullResult): Record<string, unknown> {
  return {
    [what]: true,
    transferred: r.transferred,
    deleted: r.deleted,
    unchanged: r.unchanged,
    bytes: r.bytes,
    duration_ms: Math.round(r.durationMs * 10) / 10,
    remote_ms: Math.round(r.remoteMs * 10) / 10,
    ...("conflicts" in r ? { conflicts: r.conflicts, remote_deleted: r.remoteDeleted } : {}),
  };
}

function summary(verb: string, r: TreeResult): string {
  const parts = [
    `${verb} ${r.transferred.length} entr${r.transferred.length === 1 ? "y" : "ies"}`,
    `${formatBytes(r.bytes)} streamed`,
    `${r.unchanged} unchanged`,
  ];
  if (r.deleted.length) parts.push(`${r.deleted.length} deleted`);
  return `yonder: ${parts.join(", ")} in ${Math.round(r.durationMs)} ms`;
}

/** Runs `yonder push`. */
export async function pushCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    ...TREE_FLAGS,
    ...FLEET_FLAGS,
  });
  if (values.help) return await help(io, PUSH_HELP);
  checkConnectionFlags(values);
  const [from, to] = positionals;
  if (from === undefined || to === undefined || positionals.length > 2) {
    throw new UsageError("Expected LOCAL_DIR and REMOTE_DIR", {
      hint: "yonder push [-r TARGET] LOCAL_DIR REMOTE_DIR",
    });
  }
  const hosts = await fleetHosts(io, values);
  if (hosts !== null) {
    const opts = { exclude: values.exclude ?? [], delete: values.delete ?? false };
    return await fleetRun(io, values, hosts, (env) => env.push(from, to, opts), {
      ok: () => true,
      describe: (r) => summary("pushed", r).replace(/^yonder: /, ""),
      json: (r) => treeJson("push", r),
    });
  }
  manyHostsOnly({ ...values, json: false });
  return await withEnv(io, values, async (env) => {
    const progress = new Progress(io);
    const { signal, stop } = interrupts(io);
    let r: TreeResult;
    try {
      r = await env.push(from, to, {
        exclude: values.exclude ?? [],
        delete: values.delete ?? false,
        signal,
        onProgress: progress.update,
      });
    } finally {
      stop();
      await progress.stop();
    }
    if (values.json) await io.stdout(enc.encode(JSON.stringify(treeJson("push", r)) + "\n"));
    else await say(io, summary("pushed", r));
    return EXIT.ok;
  });
}

/** Runs `yonder pull`. */
export async function pullCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    ...TREE_FLAGS,
    "only-changed": { type: "boolean" },
    prefer: { type: "string" },
  });
  if (values.help) return await help(io, PULL_HELP);
  checkConnectionFlags(values);
  const [from, to] = positionals;
  if (from === undefined || to === undefined || positionals.length > 2) {
    throw new UsageError("Expected REMOTE_DIR and LOCAL_DIR", {
      hint: "yonder pull [-r TARGET] REMOTE_DIR LOCAL_DIR",
    });
  }
  const prefer = values.prefer;
  if (prefer !== undefined && prefer !== "local" && prefer !== "remote") {
    throw new UsageError(`Invalid --prefer "${prefer}": expected local or remote`);
  }
  if (values.delete && values["only-changed"]) {
    throw new UsageError("--delete and --only-changed do not go together", {
      hint: "Sync-back never deletes local files; drop one of them",
    });
  }
  return await withEnv(io, values, async (env) => {
    const progress = new Progress(io);
    const { signal, stop } = interrupts(io);
    let r: PullResult;
    try {
      r = await env.pull(from, to, {
        exclude: values.exclude ?? [],
        delete: values.delete ?? false,
        onlyChanged: values["only-changed"] ?? false,
        ...(prefer !== undefined ? { prefer } : {}),
        signal,
        onProgress: progress.update,
      });
    } finally {
      stop();
      await progress.stop();
    }
    if (values.json) await io.stdout(enc.encode(JSON.stringify(treeJson("pull", r)) + "\n"));
    else {
      await say(io, summary("pulled", r));
      for (const c of r.conflicts) {
        await say(
          io,
          `yonder: conflict: ${c.path}: changed on both sides (local ${c.local}; ${
            c.resolution === "kept-local" ? "kept the local file" : "took the remote file"
          })`,
        );
      }
      for (const p of r.remoteDeleted) {
        await say(io, `yonder: note: ${p}: deleted on the remote (kept locally)`);
      }
    }
    const left = r.conflicts.filter((c) => c.resolution === "kept-local");
    if (left.length > 0 && !values.json) {
      await say(io, "hint: pass --prefer remote to take the remote version of conflicts");
    }
    return left.length > 0 ? EXIT.failure : EXIT.ok;
  });
}
