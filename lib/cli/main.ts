/** The CLI: dispatches `yonder <command>` and turns errors into exit codes. */

import { VERSION } from "../core/version.ts";
import { denoIo, EXIT, type Interrupt, type Io, reportError, say, signalExit } from "./_common.ts";
import { EXEC_HELP, execCommand } from "./exec.ts";

/** Top-level help. */
export const MAIN_HELP =
  `yonder ${VERSION}: run commands and move files on remote machines over OpenSSH

Usage: yonder <command> [options] [-- CMD [ARG...]]

Commands:
  exec      run a command on the target (or locally without -r)
  check     probe a target: connect, auth, shell, tar, sha256sum, round-trip time
  cat       print remote files (streamed, byte for byte)
  put       copy a local file (or stdin) to the target, atomically
  get       copy a file from the target (or to stdout), atomically
  ls        list a directory (--json, -a, -R, -l)
  push      send a directory tree, only what changed (--delete, --exclude)
  pull      bring a directory tree back; --only-changed for sync-back with conflicts
  status    list the connections --persist kept
  stop      end kept connections (TARGET or --all)
  audit     verify an audit log's hash chain (audit verify FILE)
  config    check yonder.yaml and print what yonder makes of it (config check)
  hosts     list the configured hosts and groups (--json)
  init      write a yonder.yaml for one host, show the ssh_config block, run check
  demo      see it work: a throwaway loopback sshd, every feature, cleaned up after
  forward   forward ports over the connection (-L, -R, -D; port 0 = any free port)
  mcp       serve the Model Context Protocol on stdio: exec, jobs, files, trees for agents
  approve   list and grant the approvals MCP servers wait for

Run 'yonder <command> --help' for its options. The target comes from -r/--remote or $YONDER_REMOTE;
exec, check, put, push, cat and ls also take many (-r @GROUP, -r h1,h2, -r 'web[1-5]', --hosts FILE).
New here? yonder demo shows it all on a throwaway loopback sshd.

Exit codes: the command's own; 124 timeout; 128+n signal n; 255 cannot reach or authenticate;
77 refused by policy; 2 usage error.`;

interface Command {
  run: (argv: string[], io: Io) => Promise<number>;
  help: string;
}

// Every command but exec (and the tar code behind the file commands) loads only when used: `exec`
// is the hot path and every module costs start-up time.
const files = () => import("./files.ts");
const persist = () => import("./persist.ts");

const COMMANDS: Record<string, () => Promise<Command>> = {
  exec: () => Promise.resolve({ run: execCommand, help: EXEC_HELP }),
  check: async () => {
    const { CHECK_HELP, checkCommand } = await import("./check.ts");
    return { run: checkCommand, help: CHECK_HELP };
  },
  cat: async () => ({ run: (await files()).catCommand, help: (await files()).CAT_HELP }),
  put: async () => ({ run: (await files()).putCommand, help: (await files()).PUT_HELP }),
  get: async () => ({ run: (await files()).getCommand, help: (await files()).GET_HELP }),
  ls: async () => ({ run: (await files()).lsCommand, help: (await files()).LS_HELP }),
  push: async () => ({ run: (await files()).pushCommand, help: (await files()).PUSH_HELP }),
  pull: async () => ({ run: (await files()).pullCommand, help: (await files()).PULL_HELP }),
  status: async () => ({
    run: (await persist()).statusCommand,
    help: (await persist()).STATUS_HELP,
  }),
  stop: async () => ({ run: (await persist()).stopCommand, help: (await persist()).STOP_HELP }),
  config: async () => {
    const { CONFIG_HELP, configCommand } = await import("./config_cmd.ts");
    return { run: configCommand, help: CONFIG_HELP };
  },
  hosts: async () => {
    const { HOSTS_HELP, hostsCommand } = await import("./config_cmd.ts");
    return { run: hostsCommand, help: HOSTS_HELP };
  },
  init: async () => {
    const { INIT_HELP, initCommand } = await import("./init.ts");
    return { run: initCommand, help: INIT_HELP };
  },
  demo: async () => {
    const { DEMO_HELP, demoCommand } = await import("./demo.ts");
    return { run: demoCommand, help: DEMO_HELP };
  },
  forward: async () => {
    const { FORWARD_HELP, forwardCommand } = await import("./forward.ts");
    return { run: forwardCommand, help: FORWARD_HELP };
  },
  mcp: async () => {
    const { MCP_HELP, mcpCommand } = await import("./mcp/server.ts");
    return { run: mcpCommand, help: MCP_HELP };
  },
  approve: async () => {
    const { APPROVE_HELP, approveCommand } = await import("./approve.ts");
    return { run: approveCommand, help: APPROVE_HELP };
  },
  audit: async () => {
    const { AUDIT_HELP, auditCommand } = await import("./audit.ts");
    return { run: auditCommand, help: AUDIT_HELP };
  },
};

/**
 * Runs the CLI with `args` and returns the exit code; it never exits the process itself.
 *
 * @example
 * ```ts
 * import { main } from "../../cli.ts";
 * // A script of its own that runs the CLI, e.g. with a default target:
 * if (!Deno.env.get("YONDER_REMOTE")) Deno.env.set("YONDER_REMOTE", "deploy@build.example.com");
 * Deno.exit(await main(Deno.args));
 * ```
 */
export async function main(args: string[], io: Io = denoIo): Promise<number> {
  const [command, ...rest] = args;
  const enc = new TextEncoder();
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    const topic = command === "help" && rest[0] ? await COMMANDS[rest[0]]?.() : undefined;
    await io.stdout(enc.encode((topic?.help ?? MAIN_HELP) + "\n"));
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "--version" || command === "-V") {
    await io.stdout(enc.encode(`yonder ${VERSION}\n`));
    return EXIT.ok;
  }
  const load = COMMANDS[command];
  if (!load) {
    await say(io, `yonder: usage: unknown command "${command}"`);
    await say(io, `hint: run yonder --help for the list of commands`);
    return EXIT.usage;
  }
  // A first SIGINT, SIGTERM or SIGHUP stops the command (its remote side too) and the CLI exits
  // 128+n once it cleaned up; a second one finds the default action again and ends the process
  // at once (the remote lifeline and the watchdog clean up after it then).
  const interrupt = new AbortController();
  let caught: Interrupt | null = null;
  const unsubscribe = io.onSignal((sig) => {
    if (caught) return;
    caught = sig;
    unsubscribe();
    interrupt.abort(new DOMException(`Interrupted by ${sig}`, "AbortError"));
  });
  try {
    const code = await (await load()).run(rest, { ...io, signal: interrupt.signal });
    return caught ? signalExit(caught) : code;
  } catch (e) {
    return caught ? signalExit(caught) : await reportError(io, e);
  } finally {
    unsubscribe();
  }
}
