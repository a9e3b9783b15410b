/** `yonder demo`: every step runs against its throwaway sshd, and nothing of it is left after. */
import assert from "node:assert/strict";
import { liveSshTest } from "../_live.ts";
import { MAIN } from "./_run.ts";

const dec = new TextDecoder();

/** The demo's temp dirs and sshd processes now. */
async function leftovers(): Promise<string> {
  const dirs: string[] = [];
  for await (const e of Deno.readDir("/tmp")) {
    if (e.name.startsWith("yonder-demo-")) dirs.push(e.name);
  }
  const ps = await new Deno.Command("pgrep", { args: ["-f", "yonder-demo-"], stdout: "piped" })
    .output();
  return [...dirs.sort(), dec.decode(ps.stdout).trim()].filter((x) => x !== "").join(" ");
}

function demo(): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, "demo"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

liveSshTest("yonder demo: every step works against its own sshd; nothing is left", async () => {
  const before = await leftovers();
  const out = await demo().output();
  const text = dec.decode(out.stdout);
  assert.equal(out.code, 0, text + dec.decode(out.stderr));
  for (
    const want of [
      /ok +connect/,
      /\[two words\]\n\[\$HOME\]\n\[\*\]\n/,
      /--timeout 1 .*\n {2}→ exit 124/,
      /sleeps left: 0/,
      /same bytes: yes/,
      /----- demo\[1-3\] \(3\)/,
      /read through the forwarding: SSH-2\.0-/,
    ]
  ) assert.match(text, want);
  assert.match(dec.decode(out.stderr), /pushed 0 entries, 0 B streamed, 3 unchanged/);
  assert.equal(await leftovers(), before);
});

liveSshTest("yonder demo: Ctrl-C stops it and removes its sshd and files", async () => {
  const before = await leftovers();
  const child = demo();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("2. exec")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  child.kill("SIGINT");
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  const status = await child.status;
  await child.stderr.cancel().catch(() => {});
  assert.equal(status.code, 130);
  assert.equal(await leftovers(), before);
});
