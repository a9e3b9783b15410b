/** `yonder forward`: port forwardings over one connection, until Ctrl-C. */

import { UsageError } from "../core/errors.ts";
import { type Forward, forwardArg, type ForwardSpec, parseForward } from "../ssh/forward.ts";
import { SshEnvironment } from "../ssh/environment.ts";
import { parseFlags } from "./_args.ts";
import {
  checkConnectionFlags,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  EXIT,
  type Io,
  openTarget,
  say,
} from "./_common.ts";

/** Help for `yonder forward`. */
export const FORWARD_HELP = `Usage: yonder forward -r TARGET (-L SPEC | -R SPEC | -D SPEC)...

Forwards ports over one connection to TARGET until Ctrl-C (then cancels them and closes it).
  -L [bind:]port:host:hostport   listen here; connections reach host:hostport from TARGET
  -R [bind:]port:host:hostport   listen on TARGET; connections reach host:hostport from here
  -D [bind:]port                 a SOCKS proxy here that connects from TARGET
Port 0 takes any free port; the port in use is printed, one line per forwarding:
  local 127.0.0.1:41234 -> db.internal:5432
(--json: one JSON object per forwarding). The bind address defaults to loopback.

      --json                print the forwardings as JSON lines

${CONNECTION_HELP}`;

const enc = new TextEncoder();

/** The forwardings the flags ask for, in flag order. */
function specsFrom(v: { local?: string[]; remote?: string[]; dynamic?: string[] }): ForwardSpec[] {
  const specs = [
    ...(v.local ?? []).map((s) => parseForward("local", s)),
    ...(v.remote ?? []).map((s) => parseForward("remote", s)),
    ...(v.dynamic ?? []).map((s) => parseForward("dynamic", s)),
  ];
  if (specs.length === 0) {
    throw new UsageError("No forwarding given", {
      hint: "yonder forward -r TARGET -L 8080:localhost:80",
    });
  }
  return specs;
}

/** One forwarding as a line: `local 127.0.0.1:41234 -> db:5432`. */
function describe(f: Forward): string {
  const s = f.spec;
  const listen = `${s.bind ?? (s.kind === "remote" ? "localhost" : "127.0.0.1")}:${f.port}`;
  const where = s.kind === "remote" ? " (on the target)" : "";
  return s.kind === "dynamic"
    ? `socks ${listen} (connects from the target)`
    : `${s.kind} ${listen}${where} -> ${s.host}:${s.hostPort}`;
}

/** Runs `yonder forward`. */
export async function forwardCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    ...CONNECTION_FLAGS,
    local: { type: "string", short: "L", multiple: true },
    "remote-forward": { type: "string", short: "R", multiple: true },
    dynamic: { type: "string", short: "D", multiple: true },
    json: { type: "boolean" },
  }, false);
  if (values.help) {
    await io.stdout(enc.encode(FORWARD_HELP + "\n"));
    return EXIT.ok;
  }
  checkConnectionFlags(values);
  const specs = specsFrom({
    ...(values.local ? { local: values.local } : {}),
    ...(values["remote-forward"] ? { remote: values["remote-forward"] } : {}),
    ...(values.dynamic ? { dynamic: values.dynamic } : {}),
  });
  if (!(values.remote ?? io.env("YONDER_REMOTE"))) {
    throw new UsageError("yonder forward needs a target (-r): there is nothing to forward to here");
  }
  const { env } = await openTarget(io, values);
  const forwards: Forward[] = [];
  try {
    if (!(env instanceof SshEnvironment)) {
      throw new UsageError(
        "This target cannot forward ports (a fenced or sandboxed host runs commands only)",
      );
    }
    for (const spec of specs) {
      const f = await env.forward(spec);
      forwards.push(f);
      const line = values.json
        ? JSON.stringify({
          kind: spec.kind,
          bind: f.spec.bind ?? null,
          port: f.port,
          to: spec.kind === "dynamic" ? null : `${spec.host}:${spec.hostPort}`,
          ssh: forwardArg(f.spec),
        })
        : describe(f);
      await io.stdout(enc.encode(line + "\n"));
    }
    await say(io, "yonder: forwarding until Ctrl-C");
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) resolve();
      io.signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    return EXIT.ok;
  } finally {
    for (const f of forwards) await f.close();
    await env.close();
  }
}
