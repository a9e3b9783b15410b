// deno-lint-ignore-file no-console -- a bench script reports on stdout
/**
 * `deno task bench mcp`: what the MCP server adds to a call. The same `true` runs as an `exec`
 * tool call over stdio (the SDK's client, `yonder mcp` a child process) and as a direct library
 * call, alternating in blocks, on the same fixture; then 100 tool calls at once.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- the SDK the server loads (lib/cli/mcp/sdk.ts)
import { Client } from "npm:@modelcontextprotocol/sdk@^1.32.2/client/index.js";
// deno-lint-ignore no-import-prefix
import { StdioClientTransport } from "npm:@modelcontextprotocol/sdk@^1.32.2/client/stdio.js";
import type { SshdFixture } from "../tests/fixtures/sshd.ts";
import { SshEnvironment } from "../lib/ssh/environment.ts";
import { fixtureCliFlags } from "./bench_files.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Tool call vs library call, medians over `calls` each. */
export async function benchMcp(f: SshdFixture, calls = 300): Promise<void> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", "-A", "--quiet", MAIN, "mcp", ...fixtureCliFlags(f)],
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  await using env = await SshEnvironment.open(f.target, { ...f.connect });
  try {
    const tool = async () => {
      const r = await client.callTool({ name: "exec", arguments: { argv: ["true"] } });
      if (r.isError) throw new Error(JSON.stringify(r.content));
    };
    const lib = async () => {
      if ((await env.exec(["true"])).code !== 0) throw new Error("true failed");
    };
    for (let i = 0; i < 30; i++) await Promise.all([tool(), lib()]);
    const times: [number[], number[]] = [[], []];
    for (let done = 0; done < calls; done += 50) {
      for (const [k, fn] of [tool, lib].entries()) {
        for (let i = 0; i < 50; i++) {
          const t = performance.now();
          await fn();
          times[k]!.push(performance.now() - t);
        }
      }
    }
    const [m, l] = times.map(median) as [number, number];
    console.log(`\n# MCP server (${calls} sequential calls each, blocks of 50)`);
    console.log(
      `exec tool call ${m.toFixed(2)} ms, library call ${l.toFixed(2)} ms: the server adds ` +
        `${(m - l).toFixed(2)} ms per call (${(m / l).toFixed(2)}x)`,
    );
    const t = performance.now();
    const all = await Promise.allSettled(Array.from({ length: 100 }, tool));
    const failed = all.filter((r) => r.status === "rejected").length;
    console.log(
      `100 concurrent exec tool calls: ${(performance.now() - t).toFixed(0)} ms, ${failed} failed`,
    );
  } finally {
    await client.close();
  }
}
