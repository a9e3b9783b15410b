import assert from "node:assert/strict";
import { type Child, setSpawner, type SpawnOptions } from "../../lib/process.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { SESSION_BOOT } from "../../lib/ssh/session.ts";

const enc = new TextEncoder();

/**
 * A fake ssh where the master connects, session shells die at once (as when the remote cannot
 * run one), and plain exec channels answer with proper frames.
 */
function fakeSsh() {
  const sessionStarts: string[][] = [];
  const execs: string[] = [];
  const spawner = (program: string, o: SpawnOptions): Child => {
    let resolve!: (s: { code: number; signal: Deno.Signal | null }) => void;
    const status = new Promise<{ code: number; signal: Deno.Signal | null }>((r) => (resolve = r));
    const base = {
      pid: 200000,
      stdin: null as WritableStream<Uint8Array> | null,
      stdout: null as ReadableStream<Uint8Array> | null,
      stderr: null as ReadableStream<Uint8Array> | null,
      status,
      kill: (signal: Deno.Signal = "SIGTERM") => resolve({ code: 143, signal }),
      unref: () => {},
      ref: () => {},
    };
    if (program === "sh") { // the watchdog
      return {
        ...base,
        stdin: new WritableStream({ close: () => resolve({ code: 0, signal: null }) }),
      };
    }
    if (o.args.includes("-M")) {
      const path = o.args.find((a) => a.startsWith("ControlPath="))!.slice("ControlPath=".length);
      Deno.writeTextFileSync(path, "");
      return base;
    }
    const command = o.args.at(-1)!;
    if (command === SESSION_BOOT) {
      sessionStarts.push(o.args);
      setTimeout(() => resolve({ code: 255, signal: null }), 5);
      return {
        ...base,
        stdin: new WritableStream(),
        stdout: ReadableStream.from<Uint8Array>([]),
        stderr: ReadableStream.from([enc.encode("sh: not found\n")]),
      };
    }
    execs.push(command);
    const nonce = /\\036Y([0-9a-f]{32}):/.exec(command)![1];
    setTimeout(() => resolve({ code: 0, signal: null }), 5);
    return {
      ...base,
      stdout: ReadableStream.from([enc.encode("via master\n")]),
      stderr: ReadableStream.from([enc.encode(`\x1eY${nonce}:pid:42\n\x1eY${nonce}:exit:0\n`)]),
    };
  };
  return { spawner, sessionStarts, execs };
}

Deno.test("SshEnvironment.exec() falls back to the master path when no session can start", async () => {
  const fake = fakeSsh();
  const restore = setSpawner(fake.spawner);
  const debug: string[] = [];
  try {
    await using env = await SshEnvironment.open("ssh://u@box", { logger: (l) => debug.push(l) });
    const r = await env.exec(["echo", "x"]);
    assert.equal(new TextDecoder().decode(r.stdout), "via master\n");
    assert.equal(r.code, 0);
    assert.equal(fake.sessionStarts.length, 1);
    assert.equal(fake.execs.length, 1);
    assert.ok(debug.some((l) => l.startsWith("session could not start")), debug.join("\n"));
    assert.ok(debug.some((l) => l.includes("running over a channel of the master")));
    // Later calls go straight to the master path; no new session attempt per call.
    await env.exec(["echo", "y"]);
    assert.equal(fake.sessionStarts.length, 1);
  } finally {
    restore();
  }
});

Deno.test("SshEnvironment with session: false never starts a session", async () => {
  const fake = fakeSsh();
  const restore = setSpawner(fake.spawner);
  try {
    await using env = await SshEnvironment.open("ssh://u@box", { session: false });
    await env.exec(["true"]);
    assert.equal(fake.sessionStarts.length, 0);
    assert.equal(fake.execs.length, 1);
  } finally {
    restore();
  }
});
