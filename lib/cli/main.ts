/** The CLI: dispatches `yonder <command>` and turns errors into exit codes. */

import { VERSION } from "../version.ts";
import { denoIo, EXIT, type Io, reportError, say } from "./_common.ts";
import { CHECK_HELP, checkCommand } from "./check.ts";
import { EXEC_HELP, execCommand } from "./exec.ts";
import {
  CAT_HELP,
  catCommand,
  GET_HELP,
  getCommand,
  LS_HELP,
  lsCommand,
  PULL_HELP,
  pullCommand,
  PUSH_HELP,
  pushCommand,
  PUT_HELP,
  putCommand,
} from "./files.ts";

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

Run 'yonder <command> --help' for its options. The target comes from -r/--remote or $YONDER_REMOTE.

Exit codes: the command's own; 124 timeout; 128+n signal n; 255 cannot reach or authenticate;
2 usage error.`;

const COMMANDS: Record<string, { run: (argv: string[], io: Io) => Promise<number>; help: string }> =
  {
    exec: { run: execCommand, help: EXEC_HELP },
    check: { run: checkCommand, help: CHECK_HELP },
    cat: { run: catCommand, help: CAT_HELP },
    put: { run: putCommand, help: PUT_HELP },
    get: { run: getCommand, help: GET_HELP },
    ls: { run: lsCommand, help: LS_HELP },
    push: { run: pushCommand, help: PUSH_HELP },
    pull: { run: pullCommand, help: PULL_HELP },
  };

/**
 * Runs the CLI with `args` and returns the exit code; it never exits the process itself.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 * const code = await main(["exec", "--", "true"]);
 * ```
 */
export async function main(args: string[], io: Io = denoIo): Promise<number> {
  const [command, ...rest] = args;
  const enc = new TextEncoder();
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    const topic = command === "help" && rest[0] ? COMMANDS[rest[0]] : undefined;
    await io.stdout(enc.encode((topic?.help ?? MAIN_HELP) + "\n"));
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "--version" || command === "-V") {
    await io.stdout(enc.encode(`yonder ${VERSION}\n`));
    return EXIT.ok;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    await say(io, `yonder: usage: unknown command "${command}"`);
    await say(io, `hint: run yonder --help for the list of commands`);
    return EXIT.usage;
  }
  try {
    return await entry.run(rest, io);
  } catch (e) {
    return await reportError(io, e);
  }
}
