/**
 * The session protocol's shell side, run under a local bash as the remote would run it: each
 * request is written once the previous call's end frames are in, as the client does.
 */

import assert from "node:assert/strict";
import { FrameScanner, newNonce } from "../../lib/posix/frames.ts";
import { requestScript, setupScript } from "../../lib/ssh/session.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface CallOutput {
  frames: string[];
  stdout: string;
  stderr: string;
  /** Bytes that came outside this call's start and end frames. */
  outside: string;
}

/** A session shell driven the way `Session` drives it. */
class Driver {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #out: ReadableStreamDefaultReader<Uint8Array>;
  #err: ReadableStreamDefaultReader<Uint8Array>;

  constructor(shell: string[], env?: Record<string, string>) {
    this.#child = new Deno.Command(shell[0]!, {
      args: shell.slice(1),
      ...(env ? { env } : {}),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#out = this.#child.stdout.getReader();
    this.#err = this.#child.stderr.getReader();
  }

  /** Calls begin with start frames (per-call relays). */
  startFrames = false;

  /** Writes `text` and reads until the frames `until` (per stream) have come for `nonce`. */
  async call(nonce: string, text: string, until: { out?: string; err: string }) {
    const r: CallOutput = { frames: [], stdout: "", stderr: "", outside: "" };
    let inOut = !this.startFrames;
    let inErr = !this.startFrames;
    let outDone = until.out === undefined;
    let errDone = false;
    const so = new FrameScanner(nonce, (b) => {
      if (inOut) r.stdout += dec.decode(b);
      else r.outside += dec.decode(b);
    }, (k, v) => {
      r.frames.push(`out:${k}${v ? `:${v}` : ""}`);
      if (k === "start") inOut = true;
      if (k === until.out) [inOut, outDone] = [false, true];
    });
    const se = new FrameScanner(nonce, (b) => {
      if (inErr) r.stderr += dec.decode(b);
      else r.outside += dec.decode(b);
    }, (k, v) => {
      r.frames.push(`err:${k}${v ? `:${v}` : ""}`);
      if (k === "start") inErr = true;
      if (k === until.err) [inErr, errDone] = [false, true];
    });
    if (until.out === undefined) inErr = true; // the setup call has no start frames
    await this.#writer.write(enc.encode(text));
    const drain = async (
      reader: ReadableStreamDefaultReader<Uint8Array>,
      s: FrameScanner,
      done: () => boolean,
    ) => {
      while (!done()) {
        const { value, done: eof } = await reader.read();
        if (eof) break;
        s.push(value);
      }
    };
    await Promise.all([drain(this.#out, so, () => outDone), drain(this.#err, se, () => errDone)]);
    return r;
  }

  /** Ends the shell now (a test that would otherwise wait forever). */
  kill(): void {
    this.#child.kill("SIGKILL");
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
    await this.#out.cancel();
    await this.#err.cancel();
  }
}

async function running(tag: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `ps -eo pid=,stat=,args= | grep -F '${tag}' | grep -v -e grep -e ' Z' || true`],
    stdout: "piped",
  }).output();
  return dec.decode(out.stdout).trim();
}

for (const relays of ["auto", "procsub"] as const) {
  Deno.test(`session scripts under bash (${relays} relays) report group, status, output`, async () => {
    const d = new Driver(["bash", "--noprofile", "--norc"]);
    try {
      const setup = newNonce();
      const s = await d.call(setup, setupScript(setup, false, undefined, relays), { err: "ready" });
      const ready = s.frames.find((f) => f.startsWith("err:ready:"))!.split(":")[2]!;
      const [state, shellPid, mode] = ready.split(" ");
      assert.equal(state, "ok", JSON.stringify(s));
      assert.equal(mode, relays === "procsub" ? "procsub" : "fifo");
      d.startFrames = mode === "procsub";

      const a = newNonce();
      const ra = await d.call(
        a,
        requestScript({
          nonce: a,
          command: 'echo "pg=$(ps -o pgid= -p $$ | tr -d " ") pid=$$ v=$V"; echo e >&2; exit 7',
          env: { V: "it's" },
          stateful: false,
        }),
        { out: "end", err: "exit" },
      );
      const m = /^pg=(\d+) pid=(\d+) v=it's\n$/.exec(ra.stdout);
      assert.ok(m, JSON.stringify(ra));
      assert.equal(m[1], m[2], "the command leads its own process group");
      assert.notEqual(m[2], shellPid, "and is not the session shell");
      assert.equal(ra.stderr, "e\n");
      assert.ok(ra.frames.includes("err:exit:7"), JSON.stringify(ra));
      assert.ok(ra.frames.some((f) => f.startsWith("err:pid:")));

      const b = newNonce();
      const rb = await d.call(
        b,
        requestScript({ nonce: b, command: "exit 3", cwd: "/no/such", env: {}, stateful: false }),
        { out: "end", err: "exit" },
      );
      assert.ok(rb.frames.includes("err:cwd:notfound"), JSON.stringify(rb));
    } finally {
      await d.close();
    }
  });

  Deno.test(`session scripts (${relays} relays): what a call leaves never writes into the next`, async () => {
    const d = new Driver(["bash", "--noprofile", "--norc"]);
    const tag = `0.8${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;
    try {
      const setup = newNonce();
      const s = await d.call(setup, setupScript(setup, false, undefined, relays), { err: "ready" });
      d.startFrames = s.frames.some((f) => f.endsWith(" procsub"));
      const a = newNonce();
      // A background job (ended by the hangup), a nohup'ed one and a setsid one (both outlive the
      // call): all three write after the call ended.
      const script =
        `(sleep ${tag}; echo BG) & nohup sh -c 'sleep ${tag}; echo NOHUP; echo NOHUP >&2' ` +
        `2>/dev/null & setsid sh -c 'sleep ${tag}; echo SETSID; echo SETSID >&2' & sleep 0.1; echo a`;
      const ra = await d.call(
        a,
        requestScript({ nonce: a, command: script, env: {}, stateful: false }),
        {
          out: "end",
          err: "exit",
        },
      );
      assert.equal(ra.stdout, "a\n");
      const b = newNonce();
      const rb = await d.call(
        b,
        requestScript({ nonce: b, command: "sleep 1.5; echo b", env: {}, stateful: false }),
        { out: "end", err: "exit" },
      );
      assert.equal(rb.stdout, "b\n", "nothing of the last call inside this one");
      assert.equal(rb.stderr, "");
      assert.doesNotMatch(rb.outside, /BG/, "the background job was hung up");
      assert.equal(await running(`sleep ${tag}`), "");
    } finally {
      await d.close();
    }
  });
}

Deno.test("session scripts under sh decline: sessions need bash 4.4 or later", async () => {
  const d = new Driver(["sh"]);
  try {
    const setup = newNonce();
    const s = await d.call(setup, setupScript(setup, false), { err: "ready" });
    const ready = s.frames.find((f) => f.startsWith("err:ready:"))!;
    assert.match(ready, /^err:ready:no /);
  } finally {
    await d.close();
  }
});

/** Starts a session in `d` and returns whether its calls begin with start frames. */
async function ready(d: Driver, relays: "auto" | "procsub" = "auto"): Promise<string> {
  const setup = newNonce();
  const s = await d.call(setup, setupScript(setup, false, undefined, relays), { err: "ready" });
  const line = s.frames.find((f) => f.startsWith("err:ready:"))!;
  d.startFrames = line.endsWith(" procsub");
  return line;
}

async function run(d: Driver, command: string): Promise<CallOutput> {
  const n = newNonce();
  return await d.call(n, requestScript({ nonce: n, command, env: {}, stateful: false }), {
    out: "end",
    err: "exit",
  });
}

for (const relays of ["auto", "procsub"] as const) {
  Deno.test(`session scripts (${relays} relays): a command has SIGPIPE's default action`, async () => {
    const d = new Driver(["bash", "--noprofile", "--norc"]);
    try {
      await ready(d, relays);
      // Ignored, `yes` would see EPIPE and complain instead of dying of the signal (141).
      const r = await run(d, `bash -c 'yes | head -1; echo "\${PIPESTATUS[0]}"'`);
      assert.equal(r.stdout, "y\n141\n");
      assert.equal(r.stderr, "");
    } finally {
      await d.close();
    }
  });
}

Deno.test("session scripts: a cat that goes by its name (BusyBox) still relays", async () => {
  // A cat that, like BusyBox, does nothing under a name other than its own.
  const bin = await Deno.makeTempDir({ prefix: "yonder-bin-" });
  await Deno.writeTextFile(
    `${bin}/cat`,
    `#!/bin/sh\ncase $0 in */cat|cat) exec /bin/cat "$@";; esac\necho "$0: applet not found" >&2; exit 127\n`,
    { mode: 0o755 },
  );
  const d = new Driver(["bash", "--noprofile", "--norc"], {
    PATH: `${bin}:${Deno.env.get("PATH")}`,
  });
  const stuck = setTimeout(() => d.kill(), 10_000);
  try {
    assert.match(await ready(d), / fifo$/);
    for (const word of ["one", "two"]) {
      const r = await run(d, `echo ${word}; echo ${word} >&2`);
      assert.equal(r.stdout, `${word}\n`);
      assert.equal(r.stderr, `${word}\n`);
    }
  } finally {
    clearTimeout(stuck);
    await d.close();
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("session scripts: a session removes the directories of sessions that were killed", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "yonder-tmp-" });
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  await Deno.mkdir(`${tmp}/yonder-s.${gone.pid}.abcdef`);
  await Deno.writeTextFile(`${tmp}/yonder-s.${gone.pid}.abcdef/o1`, "");
  await Deno.mkdir(`${tmp}/yonder-s.${Deno.pid}.ghijkl`);
  await Deno.mkdir(`${tmp}/yonder-s.unnamed`);
  const d = new Driver(["bash", "--noprofile", "--norc"], { TMPDIR: tmp });
  try {
    await ready(d);
    const names = [];
    for await (const e of Deno.readDir(tmp)) names.push(e.name);
    // The dead shell's goes; a live one's, one of another form and this session's own stay.
    assert.deepEqual(
      names.filter((n) =>
        !/^yonder-s\.\d+\.[A-Za-z0-9]{6}$/.test(n) || !n.includes(`.${gone.pid}.`)
      )
        .length,
      names.length,
      names.join(" "),
    );
    assert.ok(names.includes(`yonder-s.${Deno.pid}.ghijkl`));
    assert.ok(names.includes("yonder-s.unnamed"));
    assert.equal(names.length, 3, names.join(" "));
  } finally {
    await d.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
