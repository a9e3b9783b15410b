/**
 * A push is all-or-nothing on the remote: interrupted at any moment (its process stopped with
 * SIGINT, SIGTERM, SIGHUP or SIGKILL), the tree is all old or all new once what the next push or
 * write runs first (the sweep) has run, and no staging directory or temp file is left.
 */

import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { connFlags, startCli } from "../cli/_run.ts";
import { sweepScript } from "../../lib/posix/file_scripts.ts";

const FILES = 1000;
const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"];

async function writeTree(dir: string, kind: "old" | "new"): Promise<void> {
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  for (let i = 0; i < FILES; i++) {
    // The new tree changes every file, drops some, adds others.
    if (kind === "new" && i % 10 === 0) continue;
    const name = i % 3 === 0 ? `sub/f${i}` : `f${i}`;
    // Sizes differ between the trees, so the plan needs no remote hashing.
    await Deno.writeTextFile(`${dir}/${name}`, `${kind}-${i}\n`.repeat(kind === "new" ? 201 : 200));
  }
  if (kind === "new") {
    for (let i = 0; i < 100; i++) await Deno.writeTextFile(`${dir}/added${i}`, `added-${i}\n`);
  }
}

/** A digest of every file's path and content under `dir`, run by `run` where the tree is. */
function digestScript(dir: string): string {
  return `cd '${dir}' && find . -path './.yonder-*' -prune -o -type f -print | LC_ALL=C sort | ` +
    `while IFS= read -r f; do printf '%s ' "$f"; sha256sum < "$f"; done | sha256sum | cut -c1-64`;
}

async function local(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * A remote watcher for one phase of a push into `dir`: `stream` (a staging directory exists, the
 * stream is not complete yet) and `apply` (the stage is marked complete) stop the stage's shell
 * with SIGSTOP and print its pid; `after` waits until a stage came and went. Prints `none` if the
 * phase did not come within 20 s.
 */
function watcher(dir: string, phase: "stream" | "apply" | "after"): string {
  const find = `s=; for d in '${dir}'/.yonder-stage-*; do [ -d "$d" ] && s=$d; done`;
  const body = phase === "after"
    ? `seen=; while [ $i -lt 4000 ]; do ${find}; if [ -n "$s" ]; then seen=1; elif [ -n "$seen" ]; then echo done; exit; fi; sleep 0.005; i=$((i+1)); done`
    : `while [ $i -lt 4000 ]; do ${find}; if [ -n "$s" ] && ${
      phase === "apply" ? "" : "!"
    } [ -f "$s/apply" ]; then p=\${s##*/.yonder-stage-}; p=\${p%%-*}; kill -STOP "$p" && echo "$p" && exit; fi; sleep 0.005; i=$((i+1)); done`;
  return `i=0; ${body}; echo none`;
}

liveSshTest("push interrupted in every phase leaves the tree all old or all new", async () => {
  await using host = await openLiveHost();
  // Probes over a connection of their own: a fresh ssh per probe would take longer than a phase.
  await using probeEnv = await SshEnvironment.open(host.target, {
    ...host.connect,
    session: false,
  });
  const run = async (script: string) => {
    const r = await probeEnv.exec(script);
    const dec = new TextDecoder();
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  };
  const work = await Deno.makeTempDir();
  try {
    const oldDir = `${work}/old`;
    const newDir = `${work}/new`;
    await writeTree(oldDir, "old");
    await writeTree(newDir, "new");
    const oldDigest = await local(digestScript(oldDir));
    const newDigest = await local(digestScript(newDir));
    const base = (await run("mktemp -d")).stdout.trim();
    const remote = `${base}/tree`;
    const cache = `${work}/cache`;
    const push = (from: string) =>
      startCli(["push", ...connFlags(host), "--delete", from, remote], {
        env: { YONDER_CACHE_DIR: cache },
      });
    // The old tree, pushed once and kept as a copy to start each round from.
    const pushed = await push(oldDir).output();
    assert.equal(pushed.code, 0, new TextDecoder().decode(pushed.stderr));
    await run(`cp -a '${remote}' '${base}/pristine'`);
    const reset = async () => {
      await run(`rm -rf '${remote}' && cp -a '${base}/pristine' '${remote}'`);
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    };
    // How long a push of the new tree takes before its stream begins (for the timed phases).
    await reset();
    const t0 = performance.now();
    const first = push(newDir);
    const w0 = await run(watcher(remote, "stream"));
    const toStream = performance.now() - t0;
    await run(`kill -CONT ${w0.stdout.trim()} 2>/dev/null || true`);
    assert.equal((await first.output()).code, 0);
    const phases = ["start", "planning", "stream", "apply", "after"] as const;
    const outcomes: string[] = [];
    for (let round = 0; round < phases.length * SIGNALS.length; round++) {
      await reset();
      const phase = phases[round % phases.length]!;
      const signal = SIGNALS[Math.floor(round / phases.length)]!;
      const child = push(newDir);
      let stopped = "";
      if (phase === "start") await new Promise((r) => setTimeout(r, 30));
      else if (phase === "planning") await new Promise((r) => setTimeout(r, toStream * 0.4));
      else {
        const w = (await run(watcher(remote, phase))).stdout.trim();
        assert.notEqual(w, "none", `the push never reached its ${phase} phase`);
        if (phase !== "after") stopped = w;
      }
      child.kill(signal);
      const status = await child.output();
      if (stopped) await run(`kill -CONT ${stopped} 2>/dev/null || true`);
      // A remote apply that began goes on without its client; wait until no stage is at work.
      for (let i = 0; i < 100; i++) {
        const s = (await run(`ls -a '${remote}' | grep '^\\.yonder-' || true`)).stdout;
        if (s.trim() === "") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // What the next push or write there runs first.
      const sweep = await run(sweepScript(remote));
      assert.equal(sweep.code, 0, sweep.stderr);
      const digest = (await run(digestScript(remote))).stdout.trim();
      const left = (await run(
        `ls -a '${remote}' '${remote}/sub' 2>/dev/null | grep -e '^\\.yonder-' -e 'yonder-tmp' || true`,
      )).stdout.trim();
      const state = digest === oldDigest ? "old" : digest === newDigest ? "new" : "MIXED";
      outcomes.push(`${signal} in ${phase}: ${state} (exit ${status.code})`);
      // 128+n; a push that finished before the signal (its very end) may exit 0.
      const expected = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, SIGKILL: 137 }[signal as string];
      assert.ok(
        status.code === expected || (phase === "after" && status.code === 0),
        `exit ${status.code} after ${signal} in ${phase}:\n${
          new TextDecoder().decode(status.stderr)
        }`,
      );
      assert.notEqual(state, "MIXED", outcomes.join("\n"));
      assert.equal(left, "", `left behind after ${signal} in ${phase}:\n${left}`);
    }
    // An interruption before the stream completes keeps the old tree, one once it is applying
    // gives the new one.
    for (const o of outcomes) {
      if (/ in (start|planning):/.test(o)) assert.match(o, /: old /, outcomes.join("\n"));
      if (/ in (apply|after):/.test(o)) assert.match(o, /: new /, outcomes.join("\n"));
    }
    await run(`rm -rf '${base}'`);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
