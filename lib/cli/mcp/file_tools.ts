/**
 * The MCP server's file, tree and host tools: `read_file`, `write_file`, `list`, `stat`, `push`,
 * `pull`, `check`, `hosts`.
 *
 * @module
 */

import { UsageError } from "../../core/errors.ts";
import type { PullResult, TreeResult } from "../../core/tree_types.ts";
import { toHex } from "../../util/hex.ts";
import { probeAll } from "../check.ts";
import { entryJson } from "../_json.ts";
import { callContext, guarded, ok, type ToolDeps } from "./exec_tools.ts";
import { base64, fromBase64, utf8 } from "./output.ts";
import type { SdkServer, ToolExtra, ToolResult, Z } from "./sdk.ts";

/** SHA-256 of `bytes`, lowercase hex. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)),
  );
}

/** The most bytes one read_file call returns. */
export const READ_CAP = 8 * 1024 * 1024;
/** Bytes read_file returns unless told. */
export const READ_DEFAULT = 256 * 1024;
/** Entries one list call returns at most. */
export const LIST_CAP = 10_000;

/** Bytes `[offset, offset + length)` of `path` on `host`, read as a stream and cut short. */
async function readRange(
  deps: ToolDeps,
  host: string,
  path: string,
  offset: number,
  length: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const { env } = await deps.hosts.open(host);
  const out = new Uint8Array(length);
  let seen = 0;
  let got = 0;
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await env.readFileStream(path, (chunk) => {
      const start = Math.max(0, offset - seen);
      seen += chunk.length;
      if (start >= chunk.length || got >= length) return;
      const part = chunk.subarray(start, start + (length - got));
      out.set(part, got);
      got += part.length;
      if (got >= length) stop.abort(new DOMException("Enough", "AbortError"));
    }, { signal: stop.signal });
  } catch (e) {
    if (!(got >= length && stop.signal.aborted && !signal.aborted)) throw e;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  return out.subarray(0, got);
}

interface ReadArgs {
  host?: string;
  path: string;
  offset?: number;
  length?: number;
}

async function readTool(deps: ToolDeps, a: ReadArgs, extra: ToolExtra): Promise<ToolResult> {
  const host = deps.hosts.resolve(a.host);
  const { env } = await deps.hosts.open(host);
  const info = await env.stat(a.path, { signal: extra.signal });
  if (info.type === "dir") throw new UsageError(`"${a.path}" is a directory: use list`);
  const offset = a.offset ?? 0;
  const length = Math.min(a.length ?? READ_DEFAULT, READ_CAP);
  const bytes = await readRange(deps, host, a.path, offset, length, extra.signal);
  const text = utf8(bytes);
  // The size stat gives is a regular file's; a symlink's is its target path's, /proc's is 0.
  const size = info.type === "file" ? info.size : null;
  const eof = bytes.length < length || (size !== null && offset + bytes.length >= size);
  const fields = {
    host,
    path: a.path,
    size,
    offset,
    bytes: bytes.length,
    eof,
    sha256: await sha256Hex(bytes),
    ...(text !== null ? { content: text } : { content_base64: base64(bytes) }),
  };
  const note = `${a.path}: ${bytes.length} bytes from ${offset}${
    size !== null ? ` of ${size}` : ""
  }${eof ? "" : " (more: raise offset)"}`;
  return ok(fields, text !== null ? `${note}\n${text}` : `${note}; not UTF-8: see content_base64`);
}

interface WriteArgs {
  host?: string;
  path: string;
  content?: string;
  content_base64?: string;
  mode?: string;
  mkdirs?: boolean;
}

/** An octal mode string (`"0644"`, `"755"`) as a number. */
function parseMode(mode: string | undefined): number | undefined {
  if (mode === undefined) return undefined;
  if (!/^0?[0-7]{3,4}$/.test(mode)) {
    throw new UsageError(`Bad mode "${mode}": give octal, like "0644"`);
  }
  return parseInt(mode, 8);
}

async function writeTool(deps: ToolDeps, a: WriteArgs, extra: ToolExtra): Promise<ToolResult> {
  const host = deps.hosts.resolve(a.host);
  if ((a.content === undefined) === (a.content_base64 === undefined)) {
    throw new UsageError("Give exactly one of content and content_base64");
  }
  const bytes = a.content !== undefined
    ? new TextEncoder().encode(a.content)
    : fromBase64(a.content_base64!);
  const mode = parseMode(a.mode);
  const { env } = await deps.hosts.open(host);
  await callContext.run({ signal: extra.signal }, () =>
    env.writeFile(a.path, bytes, {
      signal: extra.signal,
      ...(mode !== undefined ? { mode } : {}),
      ...(a.mkdirs ? { mkdirs: true } : {}),
    }));
  const sha256 = await sha256Hex(bytes);
  return ok(
    { host, path: a.path, bytes: bytes.length, sha256 },
    `wrote ${bytes.length} bytes to ${a.path}`,
  );
}

function entryShape(z: Z) {
  return {
    name: z.string(),
    type: z.enum(["file", "dir", "symlink", "other"]),
    size: z.number(),
    mode: z.string(),
    mtime: z.string(),
  };
}

function isPull(r: TreeResult | PullResult): r is PullResult {
  return "conflicts" in r;
}

interface TreeArgs {
  host?: string;
  local_dir: string;
  remote_dir: string;
  delete?: boolean;
  exclude?: string[];
  only_changed?: boolean;
  prefer?: "local" | "remote";
}

async function treeTool(
  deps: ToolDeps,
  a: TreeArgs,
  extra: ToolExtra,
  way: "push" | "pull",
): Promise<ToolResult> {
  const host = deps.hosts.resolve(a.host);
  const { env } = await deps.hosts.open(host);
  const common = {
    signal: extra.signal,
    ...(a.delete ? { delete: true } : {}),
    ...(a.exclude ? { exclude: a.exclude } : {}),
  };
  const r: TreeResult | PullResult = await callContext.run(
    { signal: extra.signal },
    () =>
      way === "push"
        ? env.push(a.local_dir, a.remote_dir, common)
        : env.pull(a.remote_dir, a.local_dir, {
          ...common,
          ...(a.only_changed ? { onlyChanged: true } : {}),
          ...(a.prefer ? { prefer: a.prefer } : {}),
        }),
  );
  const fields: Record<string, unknown> = {
    host,
    transferred: r.transferred,
    deleted: r.deleted,
    unchanged: r.unchanged,
    bytes: r.bytes,
    duration_ms: Math.round(r.durationMs),
    ...(isPull(r) ? { conflicts: r.conflicts, remote_deleted: r.remoteDeleted } : {}),
  };
  const conflicts = isPull(r) && r.conflicts.length > 0 ? `, ${r.conflicts.length} conflicts` : "";
  return ok(
    fields,
    `${way}: ${r.transferred.length} sent, ${r.deleted.length} deleted, ${r.unchanged} unchanged, ${r.bytes} bytes${conflicts}`,
  );
}

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true };

/** The read_file and write_file tools. */
function registerReadWrite(server: SdkServer, z: Z, deps: ToolDeps): void {
  const host = z.string().optional().describe("Configured host name (see hosts)");
  server.registerTool("read_file", {
    title: "Read a file",
    description:
      `Read a file (or a range: offset, length; default ${READ_DEFAULT} bytes). Text when ` +
      "UTF-8, else content_base64; size is the whole file's, sha256 the returned bytes'.",
    inputSchema: {
      host,
      path: z.string(),
      offset: z.number().int().min(0).optional(),
      length: z.number().int().min(1).max(READ_CAP).optional(),
    },
    outputSchema: {
      host: z.string(),
      path: z.string(),
      size: z.number().nullable(),
      offset: z.number(),
      bytes: z.number(),
      eof: z.boolean(),
      sha256: z.string(),
      content: z.string().optional(),
      content_base64: z.string().optional(),
    },
    annotations: READ_ONLY,
  }, guarded((a: ReadArgs, extra) => readTool(deps, a, extra)));
  server.registerTool("write_file", {
    title: "Write a file",
    description: "Write a whole file atomically (a temp file renamed over it): content (text) or " +
      'content_base64; mode as octal ("0644"); mkdirs creates missing parents.',
    inputSchema: {
      host,
      path: z.string(),
      content: z.string().optional(),
      content_base64: z.string().optional(),
      mode: z.string().optional(),
      mkdirs: z.boolean().optional(),
    },
    outputSchema: { host: z.string(), path: z.string(), bytes: z.number(), sha256: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, guarded((a: WriteArgs, extra) => writeTool(deps, a, extra)));
}

/** The list and stat tools. */
function registerListStat(server: SdkServer, z: Z, deps: ToolDeps): void {
  const host = z.string().optional().describe("Configured host name (see hosts)");
  server.registerTool(
    "list",
    {
      title: "List a directory",
      description:
        `List a directory (recursive: the whole tree; hidden: dot files too); at most ${LIST_CAP} entries.`,
      inputSchema: {
        host,
        path: z.string(),
        recursive: z.boolean().optional(),
        hidden: z.boolean().optional(),
      },
      outputSchema: {
        host: z.string(),
        path: z.string(),
        entries: z.array(z.object(entryShape(z))),
        total: z.number(),
        truncated: z.boolean(),
      },
      annotations: READ_ONLY,
    },
    guarded(
      async (a: { host?: string; path: string; recursive?: boolean; hidden?: boolean }, extra) => {
        const name = deps.hosts.resolve(a.host);
        const { env } = await deps.hosts.open(name);
        const all = await env.list(a.path, {
          signal: extra.signal,
          ...(a.recursive ? { recursive: true } : {}),
          ...(a.hidden ? { hidden: true } : {}),
        });
        const entries = all.slice(0, LIST_CAP).map(entryJson);
        const text = entries.map((e) => `${e.type === "dir" ? `${e.name}/` : e.name}\t${e.size}`)
          .join("\n");
        return ok(
          {
            host: name,
            path: a.path,
            entries,
            total: all.length,
            truncated: all.length > LIST_CAP,
          },
          text || "(empty)",
        );
      },
    ),
  );
  server.registerTool(
    "stat",
    {
      title: "Describe a path",
      description: "Type, size, mode and mtime of a path (a symlink is described, not followed).",
      inputSchema: { host, path: z.string() },
      outputSchema: { host: z.string(), path: z.string(), ...entryShape(z) },
      annotations: READ_ONLY,
    },
    guarded(async (a: { host?: string; path: string }, extra) => {
      const name = deps.hosts.resolve(a.host);
      const { env } = await deps.hosts.open(name);
      const e = entryJson(await env.stat(a.path, { signal: extra.signal }));
      return ok(
        { host: name, path: a.path, ...e },
        `${a.path}: ${e.type}, ${e.size} bytes, mode ${e.mode}`,
      );
    }),
  );
}

/** The push and pull tools. */
function registerTrees(server: SdkServer, z: Z, deps: ToolDeps): void {
  const host = z.string().optional().describe("Configured host name (see hosts)");
  const treeInput = {
    host,
    local_dir: z.string().describe("Directory on the server's machine"),
    remote_dir: z.string().describe("Directory on the host"),
    delete: z.boolean().optional().describe("Remove what the source no longer has"),
    exclude: z.array(z.string()).optional(),
  };
  const treeOutput = {
    host: z.string(),
    transferred: z.array(z.string()),
    deleted: z.array(z.string()),
    unchanged: z.number(),
    bytes: z.number(),
    duration_ms: z.number(),
  };
  const conflict = z.object({
    path: z.string(),
    local: z.enum(["changed", "deleted", "added"]),
    resolution: z.enum(["kept-local", "took-remote"]),
  });
  server.registerTool("push", {
    title: "Send a directory tree",
    description: "Send local_dir to remote_dir: only what changed; applied whole or not at all.",
    inputSchema: treeInput,
    outputSchema: treeOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, guarded((a: TreeArgs, extra) => treeTool(deps, a, extra, "push")));
  server.registerTool("pull", {
    title: "Bring a directory tree back",
    description:
      "Bring remote_dir to local_dir; only_changed: sync back only what changed on the " +
      "host since the last push, reporting conflicts with local edits (prefer decides them).",
    inputSchema: {
      ...treeInput,
      only_changed: z.boolean().optional(),
      prefer: z.enum(["local", "remote"]).optional(),
    },
    outputSchema: {
      ...treeOutput,
      conflicts: z.array(conflict),
      remote_deleted: z.array(z.string()),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, guarded((a: TreeArgs, extra) => treeTool(deps, a, extra, "pull")));
}

/** The check and hosts tools. */
function registerHostTools(server: SdkServer, z: Z, deps: ToolDeps): void {
  const host = z.string().optional().describe("Configured host name (see hosts)");
  server.registerTool(
    "check",
    {
      title: "Probe a host",
      description: "Connect and probe a host: auth, shell, tar, sha256sum, round-trip time.",
      inputSchema: { host },
      outputSchema: {
        host: z.string(),
        ok: z.boolean(),
        probes: z.array(
          z.object({
            name: z.string(),
            ok: z.boolean(),
            detail: z.string(),
            hint: z.string().nullable(),
          }),
        ),
      },
      annotations: READ_ONLY,
    },
    guarded(async (a: { host?: string }) => {
      const name = deps.hosts.resolve(a.host);
      const started = performance.now();
      const env = await deps.hosts.openForProbes(name);
      try {
        const probes = (await probeAll(env, started)).map((p) => ({ ...p, hint: p.hint ?? null }));
        const good = probes.every((p) => p.ok);
        const text = probes.map((p) => `${p.ok ? "ok  " : "FAIL"}  ${p.name}: ${p.detail}`).join(
          "\n",
        );
        return ok({ host: name, ok: good, probes }, text);
      } finally {
        await env.close();
      }
    }),
  );
  server.registerTool(
    "hosts",
    {
      title: "List hosts",
      description:
        "The hosts this server serves (give one as host to the other tools), and the default.",
      inputSchema: {},
      outputSchema: {
        hosts: z.array(z.string()),
        default: z.string().nullable(),
        any_host: z.boolean(),
      },
      annotations: READ_ONLY,
    },
    guarded(async () => {
      const names = deps.hosts.names();
      const fallback = deps.hosts.defaultHost() ?? null;
      const any = deps.hosts.anyHost();
      const text =
        `${names.join("\n") || "(no named hosts)"}${fallback ? `\ndefault: ${fallback}` : ""}` +
        (any ? "\nany target may be given (--allow-any-host)" : "");
      return await Promise.resolve(ok({ hosts: names, default: fallback, any_host: any }, text));
    }),
  );
}

/** Registers the file, tree and host tools. */
export function registerFileTools(server: SdkServer, z: Z, deps: ToolDeps): void {
  registerReadWrite(server, z, deps);
  registerListStat(server, z, deps);
  registerTrees(server, z, deps);
  registerHostTools(server, z, deps);
}
