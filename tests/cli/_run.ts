/** Runs the CLI as a child process (`deno run -A main.ts …`), as a user would. */

import type { LiveHost } from "../_live.ts";

/** The repository's main.ts. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** The CLI connection flags that reach a live host. */
export function connFlags(host: LiveHost): string[] {
  const c = host.connect;
  return [
    "-r",
    host.target,
    ...(c.identityFile ? ["-i", c.identityFile] : []),
    ...(c.knownHostsFile ? ["--known-hosts", c.knownHostsFile] : []),
    ...(c.hostKeyPolicy === "strict" ? ["--strict-host-key"] : []),
  ];
}

/** Starts the CLI with piped stdio. */
export function startCli(
  args: string[],
  opts: { stdin?: "piped" | "null"; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    stdin: opts.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
  }).spawn();
}

/** Runs the CLI to completion. */
export async function runCli(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await startCli(args).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
