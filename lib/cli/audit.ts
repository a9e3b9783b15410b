/** `yonder audit verify FILE`: check an audit log's chain. */

import { verifyAudit } from "../core/audit.ts";
import { UsageError } from "../core/errors.ts";
import { parseFlags } from "./_args.ts";
import { EXIT, type Io } from "./_common.ts";

/** Help for `yonder audit`. */
export const AUDIT_HELP = `Usage: yonder audit verify FILE [--json]

Checks a yonder audit log: every line must match its own hash and carry the hash of the line
before it. Prints the number of lines and the newest line's hash (pin it elsewhere: a chain
cannot show that lines were cut from its end), or the first line that breaks the chain.

Options:
      --json                print one JSON object instead of a line

Exit codes: 0 the chain holds; 1 it breaks (the line is named); 2 usage error.`;

const enc = new TextEncoder();

/** Runs `yonder audit`; returns the exit code. */
export async function auditCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) {
    await io.stdout(enc.encode(AUDIT_HELP + "\n"));
    return EXIT.ok;
  }
  const [verb, file, ...extra] = positionals;
  if (verb !== "verify" || file === undefined || extra.length > 0) {
    throw new UsageError("Usage: yonder audit verify FILE", { hint: "See yonder audit --help" });
  }
  const r = await verifyAudit(file);
  const text = values.json
    ? JSON.stringify({ file, ...r })
    : r.ok
    ? `ok: ${r.lines} lines, head ${r.head}`
    : `broken at line ${r.line}: ${r.reason}`;
  await io.stdout(enc.encode(text + "\n"));
  return r.ok ? EXIT.ok : EXIT.failure;
}
