/**
 * Approval requests a human grants out of band (`yonder approve`), for MCP clients that cannot
 * ask their user (no elicitation). A request is a file in a private per-user directory; the human
 * approves it on a terminal; the agent then repeats the call with the request's id, and the server
 * runs it only when host, command, cwd and environment names are the ones approved. A request
 * expires; an approval is used once.
 *
 * @module
 */

import { persistDir } from "../../ssh/persist.ts";

/** How long a request waits for a human. */
export const APPROVAL_TTL_MS = 15 * 60_000;

/** A request as stored. */
export interface ApprovalRequest {
  /** `a-` and 12 hex digits. */
  id: string;
  /** The configured host name (or target). */
  host: string;
  /** The argv, or the script. */
  command: readonly string[] | string;
  /** The working directory asked for, or null. */
  cwd: string | null;
  /** Names of the variables the call sets. */
  env: readonly string[];
  /** SHA-256 of what the policy does not see: the variables' values and the stdin. */
  input_sha256: string;
  /** Bytes of stdin the call gives. */
  stdin_bytes: number;
  /** The policy rule that wants an approval, and why. */
  rule: string;
  reason: string;
  /** When it was made and when it expires (ISO 8601). */
  created: string;
  expires: string;
  /** The server's process id. */
  pid: number;
  /** Set once approved (ISO 8601). */
  approved?: string;
}

/** The private directory of requests (0700 under yonder's per-user directory). */
export async function approvalDir(): Promise<string> {
  const dir = `${await persistDir()}/approvals`;
  await Deno.mkdir(dir, { mode: 0o700 }).catch((e) => {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  });
  return dir;
}

function validId(id: string): boolean {
  return /^a-[0-9a-f]{12}$/.test(id);
}

/** What a call is, for an approval: what must match between the request and the repeat. */
export type ApprovalCall = Pick<
  ApprovalRequest,
  "host" | "command" | "cwd" | "env" | "input_sha256" | "stdin_bytes"
>;

/** Whether two calls are the same call. */
function sameCall(a: ApprovalCall, b: ApprovalCall): boolean {
  return a.host === b.host && JSON.stringify(a.command) === JSON.stringify(b.command) &&
    a.cwd === b.cwd && JSON.stringify([...a.env].sort()) === JSON.stringify([...b.env].sort()) &&
    a.input_sha256 === b.input_sha256 && a.stdin_bytes === b.stdin_bytes;
}

/** The digest of a call's variable values and stdin (what the policy does not see). */
export async function inputDigest(
  env: Record<string, string> | undefined,
  stdin: Uint8Array | undefined,
): Promise<string> {
  const entries = Object.entries(env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const head = new TextEncoder().encode(JSON.stringify(entries) + "\n");
  const all = new Uint8Array(head.length + (stdin?.length ?? 0));
  all.set(head);
  if (stdin) all.set(stdin, head.length);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes a request atomically (the file appears whole). */
async function store(dir: string, req: ApprovalRequest): Promise<void> {
  const tmp = `${dir}/.${req.id}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(req) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, `${dir}/${req.id}.json`);
}

/** Reads request `id`, or null when missing, malformed or expired (an expired one is removed). */
export async function readRequest(id: string, now = Date.now()): Promise<ApprovalRequest | null> {
  if (!validId(id)) return null;
  const dir = await approvalDir();
  let req: ApprovalRequest;
  try {
    req = JSON.parse(await Deno.readTextFile(`${dir}/${id}.json`));
  } catch {
    return null;
  }
  if (Date.parse(req.expires) <= now) {
    await Deno.remove(`${dir}/${id}.json`).catch(() => {});
    return null;
  }
  return req;
}

/** Files a new request and returns it. */
export async function fileRequest(
  call: ApprovalCall & Pick<ApprovalRequest, "rule" | "reason">,
  now = Date.now(),
): Promise<ApprovalRequest> {
  const dir = await approvalDir();
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  const id = `a-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  const req: ApprovalRequest = {
    id,
    ...call,
    created: new Date(now).toISOString(),
    expires: new Date(now + APPROVAL_TTL_MS).toISOString(),
    pid: Deno.pid,
  };
  await store(dir, req);
  return req;
}

/**
 * Uses approval `id` for `call`: true (and the request is gone) when it was approved for this
 * very call; false otherwise (not approved yet, another call, expired, unknown). `filed` is the
 * request as its server filed it (kept in memory): a file changed since, or one this server never
 * filed, approves nothing.
 */
export async function takeApproval(
  id: string,
  call: ApprovalCall,
  filed: ApprovalRequest | undefined,
): Promise<boolean> {
  const req = await readRequest(id);
  if (!req || !filed || req.approved === undefined) return false;
  if (!sameCall(req, call) || !sameCall(filed, call) || req.created !== filed.created) return false;
  const dir = await approvalDir();
  try {
    await Deno.remove(`${dir}/${id}.json`); // once: a second use finds nothing
    return true;
  } catch {
    return false;
  }
}

/** Marks request `id` approved when it is still `shown` (what the human saw); false otherwise. */
export async function grant(id: string, shown: ApprovalRequest): Promise<boolean> {
  const req = await readRequest(id);
  if (!req || JSON.stringify(req) !== JSON.stringify(shown)) return false;
  await store(await approvalDir(), { ...req, approved: new Date().toISOString() });
  return true;
}

/** Removes request `id` (denied). */
export async function deny(id: string): Promise<boolean> {
  if (!validId(id)) return false;
  try {
    await Deno.remove(`${await approvalDir()}/${id}.json`);
    return true;
  } catch {
    return false;
  }
}

/** Every live request, oldest first (expired ones are removed on the way). */
export async function pending(now = Date.now()): Promise<ApprovalRequest[]> {
  const dir = await approvalDir();
  const out: ApprovalRequest[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = /^(a-[0-9a-f]{12})\.json$/.exec(e.name);
    if (!m) continue;
    const req = await readRequest(m[1]!, now);
    if (req) out.push(req);
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}
