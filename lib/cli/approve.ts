/**
 * `yonder approve`: the human's side of approvals an MCP server filed for a client that cannot
 * ask its user. Lists the pending requests; grants one only on a terminal, after showing it.
 */

import { UsageError } from "../core/errors.ts";
import { parseFlags } from "./_args.ts";
import { EXIT, type Io, say } from "./_common.ts";
import { confirmOnTty } from "./_config.ts";
import { type ApprovalRequest, deny, grant, pending, readRequest } from "./mcp/approvals.ts";

/** Help text. */
export const APPROVE_HELP = `Usage: yonder approve [ID] [--deny] [--json]

Without ID: lists the commands yonder mcp servers wait to have approved (id, host, cwd, argv or
script, the rule that asks, expiry). With ID: shows that request and asks on the terminal
whether to grant it (a terminal is required: an agent cannot approve its own request this
way); the agent then repeats its call with the id, and only that very call runs, once.

      --deny      remove the request instead (the agent's repeated call is refused)
      --json      list as JSON`;

const enc = new TextEncoder();

/** A request as the human reads it: every word the agent chose JSON-quoted (no terminal tricks). */
function describe(r: ApprovalRequest): string {
  const what = typeof r.command === "string"
    ? `script: ${JSON.stringify(r.command)}`
    : `argv: ${JSON.stringify(r.command)}`;
  const input = r.stdin_bytes > 0 || r.env.length > 0
    ? `\n  input: ${r.stdin_bytes} bytes of stdin; values and stdin sha256 ${r.input_sha256}`
    : "";
  return `${r.id}  host ${JSON.stringify(r.host)}  expires ${r.expires}${
    r.approved ? "  (approved)" : ""
  }\n  rule: ${r.rule}: ${JSON.stringify(r.reason)}\n  cwd:  ${
    r.cwd === null ? "(default)" : JSON.stringify(r.cwd)
  }\n  ${what}${r.env.length > 0 ? `\n  env:  ${JSON.stringify(r.env)}` : ""}${input}`;
}

/** `yonder approve`. */
export async function approveCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    deny: { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    await io.stdout(enc.encode(APPROVE_HELP + "\n"));
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError("Give one request id");
  const id = positionals[0];
  if (id === undefined) {
    const list = await pending();
    const text = values.json
      ? JSON.stringify(list)
      : list.length === 0
      ? "no pending requests"
      : list.map(describe).join("\n");
    await io.stdout(enc.encode(text + "\n"));
    return EXIT.ok;
  }
  const req = await readRequest(id);
  if (!req) {
    throw new UsageError(`No pending request "${id}" (expired, used, or never filed)`, {
      hint: "yonder approve lists the pending ones",
    });
  }
  if (values.deny) {
    await deny(id);
    await say(io, `yonder: denied ${id}`);
    return EXIT.ok;
  }
  if (!await confirmOnTty(io, describe(req), "Approve it?")) {
    await say(io, `yonder: ${id} not approved (no terminal, or not answered yes)`);
    return EXIT.failure;
  }
  if (!await grant(id, req)) {
    throw new UsageError(`Request "${id}" expired or changed meanwhile: nothing approved`);
  }
  await say(io, `yonder: approved ${id}: the agent may now repeat its call with this id`);
  return EXIT.ok;
}
