/**
 * A process that holds a master and ends without close() — normal exit, an uncaught error,
 * SIGINT, SIGTERM or even SIGKILL — leaves no master process and no socket dir behind.
 */

import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "../_live.ts";

const ENV_MODULE = new URL("../../lib/ssh/environment.ts", import.meta.url).href;
const dec = new TextDecoder();

/** The script of the child: open, print the socket dir and master pid, then end as told. */
function script(target: string, connect: object, ending: string): string {
  return `
import { SshEnvironment } from ${JSON.stringify(ENV_MODULE)};
const env = await SshEnvironment.open(${JSON.stringify(target)}, ${JSON.stringify(connect)});
await env.exec(["true"]);
const dir = env.controlPath.slice(0, env.controlPath.lastIndexOf("/"));
console.log(JSON.stringify({ dir, pid: env.masterPid }));
${ending}
`;
}

async function gone(pid: number, dir: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    let alive = true;
    try {
      Deno.kill(pid, "SIGCONT"); // probe: throws once the process is gone
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      if (/^\d+ \(.*\) Z/.test(stat)) alive = false;
    } catch {
      alive = false;
    }
    const dirLeft = await Deno.stat(dir).then(() => true, () => false);
    if (!alive && !dirLeft) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const endings: [string, string, Deno.Signal | null][] = [
  ["a normal exit", "", null],
  ["an uncaught error", 'throw new Error("boom");', null],
  ["SIGINT", "await new Promise(() => setInterval(() => {}, 1000));", "SIGINT"],
  ["SIGTERM", "await new Promise(() => setInterval(() => {}, 1000));", "SIGTERM"],
  ["SIGKILL", "await new Promise(() => setInterval(() => {}, 1000));", "SIGKILL"],
];

liveSshTest("a process that ends without close() leaves no master and no socket dir", async (t) => {
  await using host = await openLiveHost();
  for (const [name, ending, signal] of endings) {
    await t.step(name, async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script(host.target, host.connect, ending)],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      const first = await reader.read();
      reader.releaseLock();
      const { dir, pid } = JSON.parse(dec.decode(first.value));
      if (signal) child.kill(signal);
      await Promise.all([child.status, child.stdout.cancel(), child.stderr.cancel()]);
      assert.ok(await gone(pid, dir), `master ${pid} or ${dir} is left after ${name}`);
    });
  }
});
