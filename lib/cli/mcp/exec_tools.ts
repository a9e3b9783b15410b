/**
 * The MCP server's command tools: `exec` (a result, or a job handle when it runs longer than the
 * call waits), and `job_output`, `job_wait`, `job_kill`, `jobs`.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { UsageError } from "../../core/errors.ts";
import type { ExecOptions } from "../../core/environment.ts";
import { describeError, type Job, type JobOutcome, type Jobs } from "./jobs.ts";
import type { HostPool } from "./hosts.ts";
import { base64, fromBase64, type HeadTail, type Rendered, utf8, wholeChars } from "./output.ts";
import type { SdkServer, ToolExtra, ToolResult, Z } from "./sdk.ts";

/** Bytes kept of each stream unless the call says otherwise (half head, half tail). */
export const DEFAULT_MAX_OUTPUT = 64 * 1024;
/** The most a call may ask to keep of each stream. */
export const MAX_OUTPUT_CAP = 8 * 1024 * 1024;
/** Seconds a call waits for the end before it returns a job (clients cap calls near 60 s). */
export const DEFAULT_WAIT_S = 25;

/** What the call in progress carries for the approver (which runs deep in the exec). */
export interface CallContext {
  /** An approval id the agent repeats the call with. */
  approvalId?: string;
  /** Set by the approver when it filed a request for a human. */
  pending?: { id: string; expires: string };
  /** The call's abort signal (an elicitation ends with it). */
  signal?: AbortSignal;
  /** What the policy does not see but an approval covers: the variables' values, the stdin. */
  input?: { env?: Record<string, string>; stdin?: Uint8Array };
}

/** The context of the tool call in progress. */
export const callContext: AsyncLocalStorage<CallContext> = new AsyncLocalStorage<CallContext>();

/** What the tools share. */
export interface ToolDeps {
  hosts: HostPool;
  jobs: Jobs;
  /** Sent as a progress notification's message at most this often (ms). */
  progressEveryMs?: number;
}

/** A text result with its structured twin. */
export function ok(structured: Record<string, unknown>, text: string): ToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/** An error result: the message, and the hint on its own line. */
export function fail(e: unknown): ToolResult {
  return { isError: true, content: [{ type: "text", text: describeError(e) }] };
}

/** The call context each job started with (its approval request, once filed). */
const contexts = new WeakMap<Job, CallContext>();

/** `fn` with its errors turned into error results (the agent reads them; nothing is thrown). */
export function guarded<A>(
  fn: (a: A, extra: ToolExtra) => Promise<ToolResult>,
): (a: A, extra: ToolExtra) => Promise<ToolResult> {
  return async (a, extra) => {
    try {
      return await fn(a, extra);
    } catch (e) {
      return fail(e);
    }
  };
}

/** A stream's fields in a result: text, or base64 when it is not UTF-8. */
function streamFields(name: "stdout" | "stderr", r: Rendered): Record<string, unknown> {
  return {
    [name]: r.text ?? "",
    ...(r.base64 !== undefined ? { [`${name}_base64`]: r.base64 } : {}),
    [`${name}_bytes`]: r.bytes,
    [`${name}_omitted`]: r.omitted,
  };
}

/** The structured result of an exec or a job. */
function outcomeFields(job: Job, o: JobOutcome): Record<string, unknown> {
  // A job refused for want of an approval a human may still give says how to get it.
  const pending = o.status === "failed" ? contexts.get(job)?.pending : undefined;
  return {
    host: job.info.host,
    status: pending ? "approval_required" : o.status,
    ...(o.error !== undefined ? { error: o.error } : {}),
    ...(pending ? { approval_id: pending.id, expires: pending.expires } : {}),
    exit_code: o.exit_code,
    signal: o.signal,
    ...streamFields("stdout", o.stdout),
    ...streamFields("stderr", o.stderr),
    truncated: o.truncated,
    duration_ms: o.duration_ms,
    ...(o.status === "running" ? { job_id: job.info.id } : {}),
  };
}

/** A job's outcome as a tool result: the structured fields and a short text. */
function outcomeResult(job: Job): ToolResult {
  const o = job.outcome();
  const fields = outcomeFields(job, o);
  if (fields.approval_id !== undefined) {
    const id = fields.approval_id as string;
    return ok(
      fields,
      `approval required: a human must run \`yonder approve ${id}\` on the server's machine ` +
        `(expires ${fields.expires}); then repeat this call with approval_id: "${id}"`,
    );
  }
  return ok(fields, o.status === "failed" ? `failed: ${o.error}` : outcomeText(job, o));
}

/** A short text rendering of an outcome. */
function outcomeText(job: Job, o: JobOutcome): string {
  const head = o.status === "running"
    ? `running as job ${job.info.id} (${o.duration_ms} ms so far): poll job_output / job_wait`
    : o.status === "exited"
    ? `exit ${o.exit_code} (${o.duration_ms} ms)`
    : `${o.status.replace("_", " ")}, exit ${o.exit_code} (${o.duration_ms} ms)`;
  const part = (name: string, r: Rendered) =>
    r.bytes === 0
      ? ""
      : `\n--- ${name} (${r.bytes} bytes${r.omitted ? `, ${r.omitted} omitted` : ""}) ---\n${
        r.text ?? `(not UTF-8: see ${name}_base64)`
      }`;
  return head + part("stdout", o.stdout) + part("stderr", o.stderr);
}

/** The schema of an exec-like result. */
function outcomeShape(z: Z) {
  const status = z.enum([
    "exited",
    "running",
    "timed_out",
    "killed",
    "failed",
    "approval_required",
  ]);
  return {
    host: z.string(),
    status,
    error: z.string().optional(),
    approval_id: z.string().optional(),
    expires: z.string().optional(),
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    stdout: z.string(),
    stdout_base64: z.string().optional(),
    stdout_bytes: z.number().int(),
    stdout_omitted: z.number().int(),
    stderr: z.string(),
    stderr_base64: z.string().optional(),
    stderr_bytes: z.number().int(),
    stderr_omitted: z.number().int(),
    truncated: z.boolean(),
    duration_ms: z.number().int(),
    job_id: z.string().optional(),
  };
}

/** Exec's arguments. */
interface ExecArgs {
  host?: string;
  argv?: string[];
  script?: string;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  stdin_base64?: string;
  timeout_s?: number;
  wait_s?: number;
  max_output?: number;
  approval_id?: string;
}

/** The command exec runs: exactly one of argv and script. */
function commandOf(a: ExecArgs): readonly string[] | string {
  if ((a.argv === undefined) === (a.script === undefined)) {
    throw new UsageError("Give exactly one of argv (a program and its arguments) and script");
  }
  if (a.argv !== undefined && a.argv.length === 0) throw new UsageError("argv is empty");
  return a.argv ?? a.script!;
}

/** Exec options from the arguments (stdin only when given: else the command's stdin is empty). */
function execOptions(a: ExecArgs): ExecOptions {
  const o: ExecOptions = {};
  if (a.cwd !== undefined) o.cwd = a.cwd;
  if (a.env !== undefined) o.env = a.env;
  if (a.stdin !== undefined && a.stdin_base64 !== undefined) {
    throw new UsageError("Give stdin or stdin_base64, not both");
  }
  if (a.stdin !== undefined) o.stdin = a.stdin;
  if (a.stdin_base64 !== undefined) o.stdin = fromBase64(a.stdin_base64);
  return o;
}

/** The stdin bytes exec was given (a string or bytes, as the arguments make them). */
function stdinBytes(stdin: ExecOptions["stdin"]): Uint8Array {
  return typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin as Uint8Array;
}

/** Words of `text` that must never reach a progress message (the values of the call's env). */
function redactor(env: Record<string, string> | undefined): (text: string) => string {
  const secrets = Object.values(env ?? {}).filter((v) => v.length >= 4)
    .sort((a, b) => b.length - a.length);
  return (text) => secrets.reduce((t, s) => t.split(s).join("***"), text);
}

/**
 * Progress notifications for a call with a `progressToken`: bytes so far and the last lines,
 * at most every `everyMs`; none without a token.
 */
function progressFor(
  extra: ToolExtra,
  env: Record<string, string> | undefined,
  everyMs: number,
): ((stream: "stdout" | "stderr", chunk: Uint8Array) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  const redact = redactor(env);
  let bytes = 0;
  let last = 0;
  let recent = "";
  const dec = new TextDecoder();
  return (_stream, chunk) => {
    bytes += chunk.length;
    recent =
      (recent + dec.decode(chunk.subarray(Math.max(0, chunk.length - 2048)), { stream: true }))
        .slice(-2048);
    const now = performance.now();
    if (now - last < everyMs) return;
    last = now;
    const lines = recent.split("\n").filter((l) => l !== "").slice(-3).join("\n");
    void extra.sendNotification({
      method: "notifications/progress",
      params: { progressToken: token, progress: bytes, message: redact(lines).slice(-500) },
    }).catch(() => {});
  };
}

/** The exec tool's handler. */
async function execTool(deps: ToolDeps, a: ExecArgs, extra: ToolExtra): Promise<ToolResult> {
  const host = deps.hosts.resolve(a.host);
  const command = commandOf(a);
  const options = execOptions(a);
  const opened = await deps.hosts.open(host);
  const maxOutput = Math.min(
    a.max_output ?? opened.defaults.maxOutput ?? DEFAULT_MAX_OUTPUT,
    MAX_OUTPUT_CAP,
  );
  const timeoutS = a.timeout_s ?? opened.defaults.timeout;
  // The approver's questions end with the call or with the job (its kill, the server's end).
  const abort = new AbortController();
  const ctx: CallContext = {
    signal: AbortSignal.any([extra.signal, abort.signal]),
    ...(a.approval_id ? { approvalId: a.approval_id } : {}),
    input: {
      ...(a.env ? { env: a.env } : {}),
      ...(options.stdin !== undefined ? { stdin: stdinBytes(options.stdin) } : {}),
    },
  };
  // Progress belongs to this request: none once it has answered.
  let answered = false;
  const progress = progressFor(extra, a.env, deps.progressEveryMs ?? 500);
  const onChunk = progress &&
    ((stream: "stdout" | "stderr", chunk: Uint8Array) => answered || progress(stream, chunk));
  extra.signal.throwIfAborted();
  const job = callContext.run(ctx, () =>
    deps.jobs.start(host, opened.env, command, {
      maxOutput,
      exec: options,
      abort,
      ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
      ...(onChunk ? { onChunk } : {}),
    }));
  contexts.set(job, ctx);
  try {
    const ended = await job.wait((a.wait_s ?? DEFAULT_WAIT_S) * 1000, extra.signal);
    if (extra.signal.aborted) {
      await job.kill(); // a cancelled call leaves nothing running
      deps.jobs.forget(job.info.id);
      return fail(new Error("Cancelled: the command was killed"));
    }
    if (ended) deps.jobs.forget(job.info.id);
    if (ended && job.error !== null && !ctx.pending) return fail(job.error);
    return outcomeResult(job);
  } finally {
    answered = true;
  }
}

/** The job `id`, or a usage error naming the live ones. */
function jobOf(deps: ToolDeps, id: string): Job {
  const job = deps.jobs.get(id);
  if (!job) {
    const ids = deps.jobs.list().map((j) => j.id);
    throw new UsageError(`No job "${id}"${ids.length ? ` (jobs: ${ids.join(", ")})` : ""}`);
  }
  return job;
}

/** A slice of a job's stream as result fields. */
function sliceFields(
  name: "stdout" | "stderr",
  buf: HeadTail,
  from: number,
  max: number,
): Record<string, unknown> {
  const read = buf.readFrom(from, max);
  const { skipped } = read;
  let { bytes, next } = read;
  // A character cut by the read's end (the budget, or a stream still coming) waits for the next.
  const whole = wholeChars(bytes);
  if (whole < bytes.length && whole > 0) {
    next -= bytes.length - whole;
    bytes = bytes.subarray(0, whole);
  }
  const text = utf8(bytes);
  return {
    [name]: text ?? "",
    ...(text === null ? { [`${name}_base64`]: base64(bytes) } : {}),
    [`${name}_next_offset`]: next,
    [`${name}_skipped`]: skipped,
    [`${name}_bytes`]: buf.total,
  };
}

/** job_output's arguments. */
interface OutputArgs {
  job_id: string;
  offset?: number;
  stderr_offset?: number;
  tail_bytes?: number;
  max_bytes?: number;
}

async function jobOutputTool(deps: ToolDeps, a: OutputArgs): Promise<ToolResult> {
  const job = jobOf(deps, a.job_id);
  const max = Math.min(a.max_bytes ?? DEFAULT_MAX_OUTPUT, MAX_OUTPUT_CAP);
  const tail = a.tail_bytes;
  const from = (buf: HeadTail, offset: number | undefined) =>
    tail !== undefined ? Math.max(0, buf.total - tail) : offset ?? 0;
  const o = job.outcome();
  const fields: Record<string, unknown> = {
    job_id: job.info.id,
    host: job.info.host,
    status: o.status,
    exit_code: o.exit_code,
    ...sliceFields("stdout", job.stdout, from(job.stdout, a.offset), max),
    ...sliceFields("stderr", job.stderr, from(job.stderr, a.stderr_offset), max),
  };
  const text = `${o.status}${o.exit_code !== null ? ` (exit ${o.exit_code})` : ""}\n${fields
    .stdout as string}` +
    (fields.stderr ? `\n--- stderr ---\n${fields.stderr as string}` : "");
  return await Promise.resolve(ok(fields, text));
}

/** The exec tool. */
function registerExec(server: SdkServer, z: Z, deps: ToolDeps): void {
  const outcome = outcomeShape(z);
  server.registerTool("exec", {
    title: "Run a command",
    description: "Run a command on a host: argv (exact words, no shell) or script (sh). Returns " +
      "exit code and output (head and tail kept past max_output, with byte counts); when it runs " +
      "longer than wait_s, returns status running and a job_id for job_output/job_wait/job_kill. " +
      "Its stdin is empty unless stdin is given. A policy may refuse it or ask a human first.",
    inputSchema: {
      host: z.string().optional().describe(
        "Configured host name (see hosts); default: the only one",
      ),
      argv: z.array(z.string()).optional().describe("Program and arguments, passed exactly"),
      script: z.string().optional().describe("A POSIX sh script (instead of argv)"),
      cwd: z.string().optional(),
      env: z.record(z.string(), z.string()).optional(),
      stdin: z.string().optional().describe("Text for the command's stdin"),
      stdin_base64: z.string().optional().describe("Bytes for the command's stdin, base64"),
      timeout_s: z.number().positive().optional().describe("Kill the command after this long"),
      wait_s: z.number().min(0).max(3600).optional()
        .describe(`Seconds to wait before returning a job (default ${DEFAULT_WAIT_S})`),
      max_output: z.number().int().min(256).max(MAX_OUTPUT_CAP).optional()
        .describe(`Bytes kept per stream, half head, half tail (default ${DEFAULT_MAX_OUTPUT})`),
      approval_id: z.string().optional().describe("The id of a request a human approved"),
    },
    outputSchema: outcome,
    annotations: {
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
      openWorldHint: true,
    },
  }, guarded((a: ExecArgs, extra) => execTool(deps, a, extra)));
}

/** The job_output tool. */
function registerJobOutput(server: SdkServer, z: Z, deps: ToolDeps): void {
  const outcome = outcomeShape(z);
  server.registerTool("job_output", {
    title: "Read a job's output",
    description:
      "Output of a job from an offset per stream (next_offset to continue), or its last " +
      "tail_bytes. Bytes no longer kept (between head and tail) are counted in *_skipped.",
    inputSchema: {
      job_id: z.string(),
      offset: z.number().int().min(0).optional().describe("stdout offset (default 0)"),
      stderr_offset: z.number().int().min(0).optional(),
      tail_bytes: z.number().int().min(0).optional().describe("Only the last bytes of each stream"),
      max_bytes: z.number().int().min(1).max(MAX_OUTPUT_CAP).optional(),
    },
    outputSchema: {
      job_id: z.string(),
      host: z.string(),
      status: outcome.status,
      exit_code: z.number().int().nullable(),
      stdout: z.string(),
      stdout_base64: z.string().optional(),
      stdout_next_offset: z.number().int(),
      stdout_skipped: z.number().int(),
      stdout_bytes: z.number().int(),
      stderr: z.string(),
      stderr_base64: z.string().optional(),
      stderr_next_offset: z.number().int(),
      stderr_skipped: z.number().int(),
      stderr_bytes: z.number().int(),
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  }, guarded((a: OutputArgs) => jobOutputTool(deps, a)));
}

/** The job_wait, job_kill and jobs tools. */
function registerJobControl(server: SdkServer, z: Z, deps: ToolDeps): void {
  const outcome = outcomeShape(z);
  server.registerTool(
    "job_wait",
    {
      title: "Wait for a job",
      description: "Wait up to wait_s for a job to end; returns the same fields as exec.",
      inputSchema: { job_id: z.string(), wait_s: z.number().min(0).max(3600).optional() },
      outputSchema: outcome,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
    },
    guarded(async (a: { job_id: string; wait_s?: number }, extra) => {
      const job = jobOf(deps, a.job_id);
      await job.wait((a.wait_s ?? DEFAULT_WAIT_S) * 1000, extra.signal);
      return outcomeResult(job);
    }),
  );
  server.registerTool(
    "job_kill",
    {
      title: "Kill a job",
      description: "Kill a running job's whole process group on its host; returns its final state.",
      inputSchema: { job_id: z.string() },
      outputSchema: outcome,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
    },
    guarded(async (a: { job_id: string }) => {
      const job = jobOf(deps, a.job_id);
      await job.kill();
      return outcomeResult(job);
    }),
  );
  server.registerTool(
    "jobs",
    {
      title: "List jobs",
      description: "The jobs this server keeps: running ones and the last finished ones.",
      inputSchema: {},
      outputSchema: {
        jobs: z.array(z.object({
          id: z.string(),
          host: z.string(),
          command: z.union([z.array(z.string()), z.string()]),
          started: z.string(),
          status: outcome.status,
        })),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
    },
    guarded(async () => {
      const jobs = deps.jobs.list();
      const text = jobs.length === 0
        ? "no jobs"
        : jobs.map((j) => `${j.id} ${j.status} ${j.host} ${JSON.stringify(j.command)}`).join("\n");
      return await Promise.resolve(ok({ jobs }, text));
    }),
  );
}

/** Registers exec and the job tools. */
export function registerExecTools(server: SdkServer, z: Z, deps: ToolDeps): void {
  registerExec(server, z, deps);
  registerJobOutput(server, z, deps);
  registerJobControl(server, z, deps);
}
