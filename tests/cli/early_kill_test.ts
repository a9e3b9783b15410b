/**
 * A CLI process killed with SIGKILL while it starts up (before, while and after it makes its
 * socket directory) leaves no `/tmp/yonder-*` directory behind: the watchdog starts before the
 * directory exists. The target is a closed port: no sshd is needed, the run is killed long before
 * it would give up.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function socketDirs(): Set<string> {
  return new Set(
    [...Deno.readDirSync("/tmp")].map((e) => e.name).filter((n) => /^yonder-[0-9a-f]{16}$/.test(n)),
  );
}

Deno.test({
  name: "a CLI killed with SIGKILL during start-up leaves no socket directory",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const before = socketDirs();
    // Deno's start and yonder's modules take about 20-40 ms here; the directory comes after them.
    for (let delay = 10; delay <= 80; delay += 5) {
      for (let i = 0; i < 2; i++) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, "exec", "-r", "ssh://nobody@127.0.0.1:1", "--", "true"],
          stdout: "null",
          stderr: "null",
        }).spawn();
        await new Promise((r) => setTimeout(r, delay));
        child.kill("SIGKILL");
        await child.status;
      }
    }
    // The watchdogs notice their parent is gone at once; give them a moment to remove.
    let left: string[] = [];
    for (let i = 0; i < 20; i++) {
      left = [...socketDirs()].filter((n) => !before.has(n));
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(left, [], "socket directories left behind");
  },
});
