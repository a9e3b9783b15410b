/**
 * Environment values travel inside the channel (a block on stdin, or the session's request),
 * never on a command line: no process list on the remote shows them, on any path.
 */

import assert from "node:assert/strict";
import { SshEnvironment, type SshEnvironmentOptions } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { connFlags, startCli } from "../cli/_run.ts";
import type { Probe } from "../_contract.ts";

const dec = new TextDecoder();

function token(): string {
  return `v${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * The full command lines that mention `value` of every process an sshd session on the host runs
 * (descendants of `sshd: USER@notty`: on a fixture the client runs on the same machine, and its
 * own argv, given by the user, is not the remote's).
 */
async function showing(probe: Probe, value: string): Promise<string> {
  // /proc has the whole argv of every process, where ps may cut long lines.
  const r = await probe(
    `ps -eo pid=,ppid=,args= | awk '$3 ~ /^sshd:/ && $4 ~ /@notty$/ { s[$1] = 1 } ` +
      `{ p[$1] = $2 } END { for (k in p) { q = k; while (q in p && q > 1) { if (q in s) { print k; break } ` +
      `q = p[q] } } }' | while read -r pid; do tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null; echo; done | ` +
      `grep -F '${value}' | grep -v -F -e 'grep -F' || true`,
  );
  return r.stdout.trim();
}

/** Runs `run` and, while its remote command sleeps, looks for `value` in every command line. */
async function watchWhile(probe: Probe, value: string, run: () => Promise<unknown>) {
  const pending = run();
  let seen = "";
  let looks = 0;
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 150));
    seen += await showing(probe, value);
    looks++;
  }
  await pending;
  assert.equal(seen, "", `the value showed in a command line:\n${seen}`);
  assert.ok(looks > 0);
}

liveSshTest("the process-list probe sees a value passed on a command line", async () => {
  // The control for the tests below: they would see a value if it were there.
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  const value = token();
  const pending = env.exec(["sh", "-c", "sleep 1.5", "sh", value]);
  let seen = "";
  for (let i = 0; i < 8 && seen === ""; i++) {
    await new Promise((r) => setTimeout(r, 150));
    seen = await showing((s) => host.remote(s), value);
  }
  await pending;
  assert.match(seen, new RegExp(value));
});

const paths: [string, SshEnvironmentOptions["session"], boolean][] = [
  ["a session", "stateless", false],
  ["a channel", false, false],
  ["a channel with stdin", "stateless", true],
];

for (const [name, session, stdin] of paths) {
  liveSshTest(`exec env values never show in the remote process list (${name})`, async () => {
    await using host = await openLiveHost();
    await using env = await SshEnvironment.open(host.target, { ...host.connect, session });
    const value = token();
    await watchWhile((s) => host.remote(s), value, async () => {
      const r = await env.exec(["sh", "-c", 'sleep 2; printf %s "$YONDER_TEST_VALUE"'], {
        env: { YONDER_TEST_VALUE: value },
        ...(stdin ? { stdin: "input" } : {}),
      });
      assert.equal(dec.decode(r.stdout), value, "the value arrived");
    });
  });
}

for (const extra of [[], ["--no-session"], ["--stdin"]]) {
  liveSshTest(
    `yonder exec -e never shows the value remotely (${extra.join(" ") || "default"})`,
    async () => {
      await using host = await openLiveHost();
      const value = token();
      await watchWhile((s) => host.remote(s), value, async () => {
        const child = startCli([
          "exec",
          ...connFlags(host),
          ...extra,
          "-e",
          `YONDER_TEST_VALUE=${value}`,
          "--",
          "sh",
          "-c",
          'sleep 2; printf %s "$YONDER_TEST_VALUE"',
        ], { stdin: extra.includes("--stdin") ? "piped" : "null" });
        if (extra.includes("--stdin")) await child.stdin.close();
        const out = await child.output();
        assert.equal(out.code, 0, dec.decode(out.stderr));
        assert.equal(dec.decode(out.stdout), value);
      });
    },
  );
}
