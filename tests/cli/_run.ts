/** Runs the CLI as a child process (`deno run -A main.ts …`), as a user would. */

import type { LiveHost } from "../_live.ts";

/** The repository's main.ts. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** yonder.yaml lines naming `host` as `name` (its target, key and known_hosts), under `hosts:`. */
export function hostEntry(host: LiveHost, name: string, extra: string[] = []): string[] {
  const c = host.connect;
  return [
    `  ${name}:`,
    `    target: ${JSON.stringify(host.target)}`,
    ...(c.identityFile ? [`    identity_file: ${JSON.stringify(c.identityFile)}`] : []),
    ...(c.knownHostsFile ? [`    known_hosts: ${JSON.stringify(c.knownHostsFile)}`] : []),
    ...(c.hostKeyPolicy === "strict" ? ["    strict_host_key: true"] : []),
    ...extra.map((l) => `    ${l}`),
  ];
}

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

const ptyDec = new TextDecoder();

/**
 * Runs the CLI on a pty (util-linux `script`); for each of `asks` in turn, types its `answer` once
 * the screen shows its prompt after the previous answer (as a person would: after the prompt,
 * with echo off). Returns the code and the screen.
 */
export async function onPty(
  args: string[],
  env: Record<string, string>,
  asks?: { prompt: RegExp; answer: string } | { prompt: RegExp; answer: string }[],
): Promise<{ code: number; screen: string }> {
  const line = [Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args]
    .map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const w = child.stdin.getWriter();
  const queue = asks === undefined ? [] : Array.isArray(asks) ? [...asks] : [asks];
  let screen = "";
  let from = 0;
  const reader = (async () => {
    for await (const chunk of child.stdout) {
      screen += ptyDec.decode(chunk, { stream: true });
      const next = queue[0];
      if (next && next.prompt.test(screen.slice(from))) {
        queue.shift();
        from = screen.length;
        // The helper turns echo off right after printing the prompt.
        await new Promise((r) => setTimeout(r, 300));
        await w.write(new TextEncoder().encode(next.answer));
      }
    }
  })();
  const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
  await reader;
  await w.close().catch(() => {});
  return { code: status.code, screen: screen + err };
}
