/**
 * `yonder mcp`: a stdio MCP server (the official TypeScript SDK, v1 API) that gives an agent
 * yonder's exec, jobs, files and trees on the hosts it serves, under the config's policy, sandbox
 * and audit log. Nothing but the protocol goes to stdout; no command ever reads the server's
 * stdin; every running command is killed when the client goes away.
 *
 * @module
 */

import process from "node:process";
import { UsageError } from "../../core/errors.ts";
import { VERSION } from "../../core/version.ts";
import type { PolicyRequest, Verdict } from "../../core/policy.ts";
import type { Config } from "../../config/config.ts";
import {
  checkConnectionFlags,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  type ConnValues,
  EXIT,
  type Io,
  say,
} from "../_common.ts";
import { parseFlags } from "../_args.ts";
import { type ApprovalRequest, fileRequest, inputDigest, takeApproval } from "./approvals.ts";
import { callContext, registerExecTools } from "./exec_tools.ts";
import { registerFileTools } from "./file_tools.ts";
import { checkServerFlags, describeRequest, HostPool } from "./hosts.ts";
import { Jobs } from "./jobs.ts";
import { loadSdk, type Sdk, type SdkServer } from "./sdk.ts";

/** Help text. */
export const MCP_HELP = `Usage: yonder mcp [-r TARGET | --config FILE] [--allow-any-host] [options]

Serves the Model Context Protocol on stdin/stdout for an agent: tools exec, job_output,
job_wait, job_kill, jobs, read_file, write_file, list, stat, push, pull, check, hosts.

Hosts: with -r, that one host; with a yonder.yaml, its hosts (and groups of one host) by name;
--allow-any-host lets a call name any target too. The config's policy, sandbox, become and
audit log apply to every call. A command the policy sends for approval is asked of the
client's user (MCP elicitation; declined, cancelled or unanswered in 5 minutes: refused), or,
when the client cannot ask, filed for a human: yonder approve lists and grants requests.

A command still running after wait_s (default 25 s) becomes a job; jobs are killed (their
remote process groups) when the client disconnects or the server is stopped.

      --allow-any-host      let calls name any target, not only the configured hosts
${CONNECTION_HELP}`;

/** How long an elicitation may wait for the user. */
export const ELICIT_TIMEOUT_MS = 5 * 60_000;

/** What a server is built from. */
export interface ServerOptions {
  /** The connection flags (`-r`, `-i`, `--config`…). */
  conn: ConnValues;
  /** The config, when there is one. */
  config: Config | null;
  /** Let calls name any target. */
  allowAnyHost: boolean;
  /** Stdio for the opening code and logs; its stdout must not be the protocol's. */
  io: Io;
  /** Milliseconds between progress notifications of one call. */
  progressEveryMs?: number;
}

/** Asks the client's user (elicitation) whether `req` may run; false unless accepted. */
async function elicit(
  server: SdkServer,
  text: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    const answer = await server.server.elicitInput({
      message: `yonder: a command needs your approval\n${text}\nRun it?`,
      requestedSchema: {
        type: "object",
        properties: { approve: { type: "boolean", title: "Run it", default: false } },
        required: ["approve"],
      },
    }, { timeout: ELICIT_TIMEOUT_MS, ...(signal ? { signal } : {}) });
    return answer.action === "accept" && answer.content?.approve === true;
  } catch {
    return false; // timed out, cancelled, or the client failed: refused
  }
}

/**
 * The approver for the policy's `approve` rules: an approval the agent repeats the call with,
 * else the client's user when it can be asked, else a request filed for `yonder approve`.
 */
function approverFor(server: () => SdkServer) {
  // The requests this server filed, as filed: only these can approve, and only unchanged.
  const filed = new Map<string, ApprovalRequest>();
  return async (req: PolicyRequest, verdict: Verdict, host: string): Promise<boolean | string> => {
    const ctx = callContext.getStore();
    const input = ctx?.input;
    const call = {
      host,
      command: req.command,
      cwd: req.cwd ?? null,
      env: req.env ?? [],
      input_sha256: await inputDigest(input?.env, input?.stdin),
      stdin_bytes: input?.stdin?.length ?? 0,
    };
    const id = ctx?.approvalId;
    if (id !== undefined && await takeApproval(id, call, filed.get(id))) {
      filed.delete(id);
      return "yonder approve";
    }
    const s = server();
    if (s.server.getClientCapabilities()?.elicitation) {
      const text = describeRequest(req, verdict, host) +
        (call.stdin_bytes > 0 ? `\nstdin: ${call.stdin_bytes} bytes` : "");
      return await elicit(s, text, ctx?.signal) ? "elicitation" : false;
    }
    if (!ctx) return false;
    const request = await fileRequest({ ...call, rule: verdict.rule, reason: verdict.reason });
    filed.set(request.id, request);
    ctx.pending = { id: request.id, expires: request.expires };
    return false;
  };
}

/** Builds the server and its tools; `close` kills the jobs and closes the hosts. */
export function buildServer(
  sdk: Sdk,
  o: ServerOptions,
): { server: SdkServer; close: () => Promise<void>; jobs: Jobs } {
  let server: SdkServer | null = null;
  const hosts = new HostPool({
    conn: o.conn,
    config: o.config,
    allowAnyHost: o.allowAnyHost,
    io: o.io,
    approver: approverFor(() => server!),
  });
  const jobs = new Jobs();
  server = new sdk.McpServer({ name: "yonder", version: VERSION }, {
    instructions: "Run commands and move files on remote hosts over OpenSSH. Call hosts first. " +
      "exec takes argv (exact words) or script; long commands come back as jobs to poll.",
  });
  const deps = {
    hosts,
    jobs,
    ...(o.progressEveryMs !== undefined ? { progressEveryMs: o.progressEveryMs } : {}),
  };
  registerExecTools(server, sdk.z, deps);
  registerFileTools(server, sdk.z, deps);
  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      await jobs.close();
      await hosts.close();
    })();
  return { server, close, jobs };
}

const FLAGS = { ...CONNECTION_FLAGS, "allow-any-host": { type: "boolean" } } as const;

/** Resolves when stdin ends, the transport closes, or the CLI is interrupted. */
function untilDone(io: Io, transport: { onclose?: () => void }): Promise<string> {
  return new Promise((resolve) => {
    transport.onclose = () => resolve("the client closed the connection");
    process.stdin.once("end", () => resolve("stdin ended"));
    if (io.signal?.aborted) resolve("interrupted");
    io.signal?.addEventListener("abort", () => resolve("interrupted"), { once: true });
  });
}

/** `yonder mcp`. */
export async function mcpCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, FLAGS, false);
  if (values.help) {
    await io.stdout(new TextEncoder().encode(MCP_HELP + "\n"));
    return EXIT.ok;
  }
  checkConnectionFlags(values);
  checkServerFlags(values);
  const { findConfig } = await import("../../config/find.ts");
  const file = await findConfig({ flag: values.config, env: io.env });
  const config = file === null
    ? null
    : await (await import("../../config/config.ts")).loadConfig(file);
  const allowAnyHost = values["allow-any-host"] === true;
  const remote = values.remote ?? io.env("YONDER_REMOTE");
  if (!remote && (config === null || config.hosts.size === 0) && !allowAnyHost) {
    throw new UsageError("yonder mcp has no host to serve", {
      hint: "Give -r TARGET, a yonder.yaml with hosts (--config FILE), or --allow-any-host",
    });
  }
  const sdk = await loadSdk();
  // Anything the opening code would print goes to stderr: stdout is the protocol's.
  const serverIo: Io = {
    stdout: (b) => io.stderr(b),
    stderr: (b) => io.stderr(b),
    env: io.env,
    stdin: () => new ReadableStream({ start: (c) => c.close() }),
    onSignal: io.onSignal,
    ...(io.signal ? { signal: io.signal } : {}),
  };
  const conn = { ...values, ...(remote ? { remote } : {}) };
  const { server, close } = buildServer(sdk, { conn, config, allowAnyHost, io: serverIo });
  const transport = new sdk.StdioServerTransport();
  const done = untilDone(io, transport);
  await server.connect(transport);
  await say(
    io,
    `yonder mcp: serving ${
      remote ?? (config ? `${config.hosts.size} configured hosts` : "any host")
    }`,
  );
  const why = await done;
  await say(io, `yonder mcp: ${why}: stopping the running commands`);
  // The protocol first: a question still out to the client (elicitation) ends with it.
  await server.close().catch(() => {});
  await close();
  return EXIT.ok;
}
