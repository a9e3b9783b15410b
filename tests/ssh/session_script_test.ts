/**
 * The session protocol's shell side, run under local shells: bash (job control) and sh with
 * setsid, as the remote would run them.
 */

import assert from "node:assert/strict";
import { FrameScanner, newNonce } from "../../lib/ssh/_frames.ts";
import { requestScript, setupScript } from "../../lib/ssh/session.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Feeds `scripts` to a shell and collects stdout, stderr and frames per nonce. */
async function runShell(shell: string[], chunks: { nonce: string; text: string }[]) {
  const child = new Deno.Command(shell[0]!, {
    args: shell.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  for (const c of chunks) await w.write(enc.encode(c.text));
  await w.close();
  const o = await child.output();
  const results = chunks.map((c) => {
    const frames: string[] = [];
    let stdout = "";
    let stderr = "";
    let ended = false; // Later requests' output follows this one's end frame.
    const so = new FrameScanner(c.nonce, (b) => {
      if (!ended) stdout += dec.decode(b);
    }, (k, v) => {
      frames.push(`out:${k}:${v}`);
      if (k === "end") ended = true;
    });
    const se = new FrameScanner(
      c.nonce,
      (b) => (stderr += dec.decode(b)),
      (k, v) => frames.push(`err:${k}:${v}`),
    );
    so.push(o.stdout);
    se.push(o.stderr);
    so.end();
    se.end();
    return { frames, stdout, stderr };
  });
  return results;
}

const shells: [string, string[], string][] = [
  ["bash", ["bash", "--noprofile", "--norc"], "jobs"],
  ["sh + setsid", ["sh"], "setsid"],
];

for (const [name, shell, method] of shells) {
  Deno.test(`session scripts under ${name} report the group, status and end of output`, async () => {
    const setup = newNonce();
    const a = newNonce();
    const b = newNonce();
    const [s, ra, rb] = await runShell(shell, [
      { nonce: setup, text: setupScript(setup, false) },
      {
        nonce: a,
        text: requestScript({
          nonce: a,
          command: 'echo "pg=$(ps -o pgid= -p $$ | tr -d " ") pid=$$ v=$V"; exit 7',
          env: { V: "it's" },
          method: method as "jobs",
          stateful: false,
        }),
      },
      {
        nonce: b,
        text: requestScript({
          nonce: b,
          command: "exit 3",
          cwd: "/no/such",
          env: {},
          method: "jobs",
          stateful: false,
        }),
      },
    ]);
    const ready = s!.frames.find((f) => f.startsWith("err:ready:"))!.split(":")[2]!;
    const [gotMethod, shellPid] = ready.split(" ");
    assert.equal(gotMethod, method, JSON.stringify(s));
    const m = /^pg=(\d+) pid=(\d+) v=it's\n$/.exec(ra!.stdout);
    assert.ok(m, ra!.stdout);
    assert.equal(m[1], m[2], "the command leads its own process group");
    assert.notEqual(m[2], shellPid, "and is not the session shell");
    assert.ok(ra!.frames.includes("err:exit:7"));
    assert.ok(ra!.frames.includes("out:end:"));
    assert.ok(rb!.frames.includes("err:cwd:notfound"), JSON.stringify(rb));
  });
}
