/**
 * A tamper-evident audit log: one JSON line per operation that passes the choke point (and per
 * refusal), each carrying the sha256 of the line before it, so an edited, inserted or deleted
 * line breaks the chain at that line. Never command output, never env values; arguments are
 * hashed unless asked otherwise.
 *
 * Lines from concurrent processes never interleave and chain in order: each append takes an
 * exclusive lock on the file, reads the last line, and writes the new one in a single `write`.
 * A chain cannot show that its tail was cut off (the last lines deleted): pin the newest line's
 * hash somewhere else (another host, a ticket) to detect that.
 *
 * @module
 */

import { sha256HexSync } from "../util/sha256.ts";
import { YonderError } from "./errors.ts";
import type { Hooks, Operation, Outcome } from "./hooks.ts";

/** The `prev` of the first line of a log. */
export const AUDIT_GENESIS: string = "0".repeat(64);

/** How much of a command's arguments a line keeps. */
export type AuditArgs = "none" | "hash" | "full";

/** Options of {@linkcode auditHooks}. */
export interface AuditOptions {
  /** The log file (created when missing, appended to). */
  path: string;
  /**
   * Arguments: `hash` (default: only `argv_sha256`, the digest of the whole argv), `full` (the
   * words as `args`, and the digest), or `none` (neither; `argv0` only when it is a plain name).
   */
  args?: AuditArgs;
  /**
   * A line that cannot be written refuses the operation (it does not run). Default false: the
   * operation runs and the first failure is reported once through `onError`.
   */
  required?: boolean;
  /** Told of an audit write that failed (default: one line on stderr, once). */
  onError?: (error: unknown) => void;
  /** The configured name of the host, written as `host` (else null). */
  host?: string;
  /** More fields for an operation's line (the policy's decision, rule and approver). */
  annotate?: (op: Operation) => Record<string, unknown> | undefined;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The `hash` a line ends with (its body's sha256), or "" when it has none. */
function lineHash(line: string): string {
  return /,"hash":"([0-9a-f]{64})"\}$/.exec(line)?.[1] ?? "";
}

/**
 * The last line of the open file `f` (without its newline), or null when it is empty. Sync: it
 * runs under the file lock, and a few sync calls cost less than the async hops.
 */
function lastLine(f: Deno.FsFile): string | null {
  const size = f.statSync().size;
  if (size === 0) return null;
  let span = Math.min(size, 4096);
  for (;;) {
    f.seekSync(size - span, Deno.SeekMode.Start);
    const buf = new Uint8Array(span);
    let have = 0;
    while (have < span) {
      const n = f.readSync(buf.subarray(have));
      if (n === null) break;
      have += n;
    }
    const text = dec.decode(buf.subarray(0, have)).replace(/\n$/, "");
    const nl = text.lastIndexOf("\n");
    if (nl >= 0 || span === size) return nl >= 0 ? text.slice(nl + 1) : text;
    span = Math.min(size, span * 4);
  }
}

/**
 * Appends `record` to the log at `path` as one JSON line chained to the line before it
 * (`prev`); returns the line written.
 *
 * @example
 * ```ts
 * import { appendAudit } from "./audit.ts";
 * const path = await Deno.makeTempFile();
 * await appendAudit(path, { event: "exec", argv0: "ls" });
 * ```
 */
export async function appendAudit(path: string, record: Record<string, unknown>): Promise<string> {
  const hash = await sha256HexSync();
  using f = Deno.openSync(path, { read: true, append: true, create: true, mode: 0o600 });
  f.lockSync(true);
  try {
    const last = lastLine(f);
    const prev = last === null ? AUDIT_GENESIS : lineHash(last);
    const body = JSON.stringify({ ...record, prev });
    const line = `${body.slice(0, -1)},"hash":"${hash(body)}"}`;
    const bytes = enc.encode(line + "\n");
    // One write under the lock: in append mode it lands whole at the end.
    let at = 0;
    while (at < bytes.length) at += f.writeSync(bytes.subarray(at));
    return line;
  } finally {
    f.unlockSync();
  }
}

/** What {@linkcode verifyAudit} found. */
export type AuditCheck =
  | { ok: true; lines: number; head: string }
  | { ok: false; line: number; reason: string };

/**
 * Checks the log at `path`: every line is JSON ending in `hash`, the sha256 of the rest of it,
 * and carries in `prev` the `hash` of the line before (the genesis value for the first).
 * Reports the first line that breaks this (1-based): an edited line at itself (or, if its hash
 * was recomputed, at the next line), a deleted or inserted line at its place or the next.
 *
 * @example
 * ```ts
 * import { appendAudit, verifyAudit } from "./audit.ts";
 * const path = await Deno.makeTempFile();
 * await appendAudit(path, { event: "exec" });
 * console.log((await verifyAudit(path)).ok); // true
 * ```
 */
export async function verifyAudit(path: string): Promise<AuditCheck> {
  const text = await Deno.readTextFile(path);
  const sha = await sha256HexSync();
  if (text !== "" && !text.endsWith("\n")) {
    return { ok: false, line: text.split("\n").length, reason: "the last line is incomplete" };
  }
  const lines = text === "" ? [] : text.slice(0, -1).split("\n");
  let expected = AUDIT_GENESIS;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const hash = lineHash(line);
    const body = line.replace(/,"hash":"[0-9a-f]{64}"\}$/, "}");
    let prev: unknown;
    try {
      prev = (JSON.parse(line) as { prev?: unknown }).prev;
    } catch {
      return { ok: false, line: i + 1, reason: "not a JSON line" };
    }
    if (hash === "" || sha(body) !== hash) {
      return { ok: false, line: i + 1, reason: "the line does not match its own hash (edited)" };
    }
    if (prev !== expected) {
      return {
        ok: false,
        line: i + 1,
        reason: "its prev is not the hash of the line before (a line was edited, inserted or " +
          "deleted here)",
      };
    }
    expected = hash;
  }
  return { ok: true, lines: lines.length, head: expected };
}

/** The program and arguments of an exec or spawn, as an audit line keeps them. */
async function commandFields(op: Operation, args: AuditArgs): Promise<Record<string, unknown>> {
  const command = op.args[0];
  const opts = (op.args[1] ?? {}) as { cwd?: string; env?: Record<string, string> };
  const words = typeof command === "string" ? ["sh", "-c", command] : (command as string[]);
  const rest = words.slice(1).map(String);
  // A program name is kept; an argv[0] that carries more (`ls; touch x`) is text like any
  // argument, kept only with `full` (the digest covers it either way).
  const program = String(words[0] ?? "");
  const plain = /^[\w.+@:\/-]{1,256}$/.test(program);
  return {
    argv0: plain || args === "full" ? program : null,
    // One digest of the whole argv stands for the arguments (one digest per line fewer than
    // hashing them apart: this runs on every call); `none` keeps not even that.
    argv_sha256: args === "none"
      ? null
      : (await sha256HexSync())(JSON.stringify(words.map(String))),
    args: args === "full" ? rest : null,
    cwd: opts.cwd ?? null,
    env_names: Object.keys(opts.env ?? {}),
  };
}

/** The fields of an outcome: status for commands, the error's kind, never output. */
function outcomeFields(outcome: Outcome): Record<string, unknown> {
  if (!outcome.ok) {
    const e = outcome.error as { name?: string; verdict?: { rule?: string; decision?: string } };
    return {
      ok: false,
      error: e?.name ?? "Error",
      ...(e?.verdict ? { rule: e.verdict.rule ?? null, decision: e.verdict.decision } : {}),
    };
  }
  const v = outcome.value as
    | { code?: unknown; signal?: unknown; timedOut?: unknown; stdout?: unknown; stderr?: unknown }
    | null;
  // Sizes, never content: an exec's output, a transfer's bytes.
  if (typeof v === "number") return { ok: true, bytes: v };
  if (v instanceof Uint8Array) return { ok: true, bytes: v.length };
  if (v && typeof v === "object" && "code" in v) {
    return {
      ok: true,
      code: v.code,
      signal: v.signal ?? null,
      timed_out: v.timedOut ?? false,
      ...(v.stdout instanceof Uint8Array ? { stdout_bytes: v.stdout.length } : {}),
      ...(v.stderr instanceof Uint8Array ? { stderr_bytes: v.stderr.length } : {}),
    };
  }
  return { ok: true };
}

/**
 * Hooks for {@linkcode withHooks} that write one audit line per operation when it ended (and
 * per refusal: `event: "refused"`). Put them outside a policy's hooks to log its refusals.
 *
 * @example
 * ```ts
 * import { auditHooks } from "./audit.ts";
 * import { withHooks } from "./hooks.ts";
 * import { LocalEnvironment } from "../local/environment.ts";
 * const log = await Deno.makeTempFile();
 * const env = withHooks(new LocalEnvironment(), auditHooks({ path: log }));
 * await env.exec(["true"]);
 * ```
 */
export function auditHooks(options: AuditOptions): Hooks {
  let reported = false;
  let queue: Promise<void> = Promise.resolve();
  const report = options.onError ?? ((e: unknown) => {
    if (reported) return;
    reported = true;
    const text = `yonder: audit log ${options.path} cannot be written: ${e}\n`;
    Deno.stderr.write(enc.encode(text)).catch(() => {});
  });
  return {
    before() {
      if (!options.required) return;
      // A log that cannot be written refuses the operation before anything runs.
      try {
        Deno.openSync(options.path, { append: true, create: true, mode: 0o600 }).close();
      } catch (e) {
        throw new YonderError(`The audit log ${options.path} cannot be written`, {
          cause: e,
          hint: "Fix the log's path or permissions, or set audit.required to false",
        });
      }
    },
    async after(op, outcome) {
      // Refused here, or by a policy's hooks inside these (its error carries the verdict).
      const refused = !outcome.ok &&
        (outcome.refused || (outcome.error as { verdict?: unknown } | null)?.verdict !== undefined);
      const write = () =>
        auditEvent(options, op, refused ? "refused" : op.name, {
          ...outcomeFields(outcome),
          duration_ms: Math.round(outcome.durationMs * 10) / 10,
        });
      // The operation has run: its result stands, a failure to log it is reported. Lines are
      // written in call order behind the caller's back (close() waits for them), unless the log
      // is required: then each is written before the call returns.
      if (options.required || refused) {
        await write().catch(report);
        return;
      }
      queue = queue.then(write).catch(report);
    },
    async close() {
      await queue;
    },
  };
}

/**
 * Writes one line for `op` to the log of `options`: the event, who and where, the command (its
 * arguments as `options.args` says) or path, and `fields`; never output, never env values.
 *
 * @example
 * ```ts
 * import { auditEvent } from "./audit.ts";
 * import type { Operation } from "./hooks.ts";
 * const path = await Deno.makeTempFile();
 * const op: Operation = { name: "exec", env: { kind: "local", label: "local" }, args: [["ls"]] };
 * await auditEvent({ path }, op, "approved", { approver: "tty" });
 * ```
 */
export async function auditEvent(
  options: AuditOptions,
  op: Operation,
  event: string,
  fields: Record<string, unknown> = {},
): Promise<void> {
  const command = await fieldsOf(op, options.args ?? "hash");
  await appendAudit(options.path, {
    ts: new Date().toISOString(),
    event,
    ...base(op),
    host: options.host ?? null,
    user: localUser(),
    ...command,
    ...options.annotate?.(op),
    ...fields,
  });
}

const fieldCache = new WeakMap<Operation, Promise<Record<string, unknown>>>();

/** The command (or path) fields of `op`'s lines, computed once per operation. */
function fieldsOf(op: Operation, args: AuditArgs): Promise<Record<string, unknown>> {
  let fields = fieldCache.get(op);
  if (!fields) {
    fields = op.name === "exec" || op.name === "spawn" ? commandFields(op, args) : Promise.resolve({
      path: typeof op.args[0] === "string" ? op.args[0] : null,
      ...bytesFields(op),
    });
    fieldCache.set(op, fields);
  }
  return fields;
}

/** The local user's name (null without permission to read the environment). */
function localUser(): string | null {
  try {
    return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? `uid:${Deno.uid()}`;
  } catch {
    return null;
  }
}

/** The second path of a transfer (upload: the remote one; download: the local one). */
function bytesFields(op: Operation): Record<string, unknown> {
  const to = op.args[1];
  return ["upload", "download", "push", "pull"].includes(op.name) && typeof to === "string"
    ? { to }
    : {};
}

function base(op: Operation): Record<string, unknown> {
  return { op: op.name, target: op.env.label, kind: op.env.kind, pid: Deno.pid };
}
