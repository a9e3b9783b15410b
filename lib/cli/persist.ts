/** `yonder status` and `yonder stop`: the connections `--persist` kept. */

import { parseFlags } from "./_args.ts";
import { UsageError } from "../core/errors.ts";
import { formatTarget, parseTarget } from "../core/target.ts";
import { listPersistent, type PersistentMaster, stopPersistent } from "../ssh/persist.ts";
import { EXIT, type Io } from "./_common.ts";

const enc = new TextEncoder();

/** Help for `yonder status`. */
export const STATUS_HELP = `Usage: yonder status [--json]

Lists the connections kept by --persist (yours, on this machine): target, how long each stays
after its last use, and since when it runs.

Options:
      --json                one JSON object per connection

Exit codes: 0.`;

/** Help for `yonder stop`. */
export const STOP_HELP = `Usage: yonder stop TARGET | --all

Ends the connections --persist kept for TARGET (any options), or all of them, at once.

Options:
      --all                 every kept connection

Exit codes: 0; 1 nothing was kept for TARGET; 2 usage error.`;

/** Runs `yonder status`. */
export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  if (values.help) {
    await io.stdout(enc.encode(STATUS_HELP + "\n"));
    return EXIT.ok;
  }
  const all = await listPersistent();
  const lines = all.map((m) =>
    values.json
      ? JSON.stringify({
        target: m.target,
        idle_seconds: m.idleSeconds,
        started: m.started,
        socket: m.socket,
      })
      : `${m.target}  stays ${m.idleSeconds} s after its last use  (since ${m.started})`
  );
  if (lines.length === 0 && !values.json) lines.push("no kept connections");
  if (lines.length > 0) await io.stdout(enc.encode(lines.join("\n") + "\n"));
  return EXIT.ok;
}

/** Runs `yonder stop`. */
export async function stopCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    all: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    await io.stdout(enc.encode(STOP_HELP + "\n"));
    return EXIT.ok;
  }
  if ((positionals.length === 0) === !values.all || positionals.length > 1) {
    throw new UsageError("Give one TARGET or --all", { hint: "yonder stop user@host" });
  }
  const wanted = positionals[0] === undefined ? null : formatTarget(parseTarget(positionals[0]));
  const matches = (m: PersistentMaster) =>
    wanted === null || m.target === wanted ||
    // A target given without the port still names one kept with the default port.
    m.target.replace(/:22(?=\/|$)/, "") === wanted;
  const chosen = (await listPersistent()).filter(matches);
  for (const m of chosen) {
    await stopPersistent(m);
    await io.stderr(enc.encode(`yonder: stopped ${m.target}\n`));
  }
  if (wanted !== null && chosen.length === 0) {
    await io.stderr(enc.encode(`yonder: no kept connection to ${wanted}\n`));
    return EXIT.failure;
  }
  return EXIT.ok;
}
