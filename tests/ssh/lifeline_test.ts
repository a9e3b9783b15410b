/**
 * The remote lifeline: commands a process started on a host end when the process, its master or
 * its link goes away, within the documented bounds (a killed process or master: the keeper's
 * TERM, then KILL after 2 s; a dropped link: no heartbeat for 10 s, then the same).
 */

import assert from "node:assert/strict";
import { SshEnvironment, type SshEnvironmentOptions } from "../../lib/ssh/environment.ts";
import { SshConnectionLost } from "../../lib/core/errors.ts";
import { type Probe, survivors, uniqueSleep } from "../_contract.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { startLink } from "../fixtures/link.ts";

const ENV_MODULE = new URL("../../lib/ssh/environment.ts", import.meta.url).href;
const dec = new TextDecoder();

/** Waits until no `sleep TAG` runs on the host; returns how long that took, or null after `ms`. */
async function goneWithin(probe: Probe, tag: string, ms: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await survivors(probe, tag) === "") return performance.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}

const paths: [string, SshEnvironmentOptions["session"]][] = [
  ["a session", "stateless"],
  ["a channel", false],
];

for (const [name, session] of paths) {
  liveSshTest(`the commands of a process killed with SIGKILL end (on ${name})`, async () => {
    await using host = await openLiveHost();
    const tag = uniqueSleep();
    const script = `
import { SshEnvironment } from ${JSON.stringify(ENV_MODULE)};
const env = await SshEnvironment.open(${JSON.stringify(host.target)}, ${
      JSON.stringify({ ...host.connect, session })
    });
await env.exec(["true"]);
env.exec("echo started; sleep ${tag}", { onStdout: () => console.log("started") });
await new Promise(() => setInterval(() => {}, 1000));
`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.equal(dec.decode(first.value).trim(), "started");
    reader.releaseLock();
    assert.notEqual(await survivors((s) => host.remote(s), tag), "", "the command runs");
    child.kill("SIGKILL");
    await Promise.all([child.status, child.stdout.cancel(), child.stderr.cancel()]);
    const took = await goneWithin((s) => host.remote(s), tag, 5000);
    assert.ok(took !== null, "the remote command outlived the killed process by 5 s");
  });

  liveSshTest(`the commands of a killed master end (on ${name})`, async () => {
    await using host = await openLiveHost();
    await using env = await SshEnvironment.open(host.target, { ...host.connect, session });
    const tag = uniqueSleep();
    const pending = env.exec(["sleep", tag]);
    while (await survivors((s) => host.remote(s), tag) === "") {
      await new Promise((r) => setTimeout(r, 100));
    }
    Deno.kill(env.masterPid!, "SIGKILL");
    await assert.rejects(pending, SshConnectionLost);
    const took = await goneWithin((s) => host.remote(s), tag, 5000);
    assert.ok(took !== null, "the remote command outlived its master by 5 s");
  });
}

liveSshTest("the commands of a dropped link end within the keeper's deadline", async (t) => {
  await using host = await openLiveHost();
  if (host.kind !== "native") return; // The link runs to the native fixture's port.
  // The fixture's known_hosts names its own port; the link's port needs the same key.
  const fixture = host.fixture!;
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, session] of paths) {
      await t.step(name, async () => {
        await using link = startLink(fixture.port);
        const known = `${dir}/known_hosts_${link.port}`;
        const key = fixture.hostPublicKey.split(" ").slice(0, 2).join(" ");
        await Deno.writeTextFile(known, `[127.0.0.1]:${link.port} ${key}\n`);
        await using env = await SshEnvironment.open(
          `ssh://${fixture.user}@127.0.0.1:${link.port}`,
          {
            identityFile: fixture.identityFile,
            knownHostsFile: known,
            hostKeyPolicy: "strict",
            session,
            serverAliveInterval: 2,
            serverAliveCountMax: 2,
          },
        );
        const tag = uniqueSleep();
        const pending = env.exec(["sleep", tag]);
        while (await survivors((s) => host.remote(s), tag) === "") {
          await new Promise((r) => setTimeout(r, 100));
        }
        link.cut();
        const outcome = pending.then(() => "result", (e) => e);
        const took = await goneWithin((s) => host.remote(s), tag, 15_000);
        assert.ok(took !== null, "the remote command outlived the dropped link by 15 s");
        assert.ok(took > 5000, `gone after ${took.toFixed(0)} ms: before the keeper's deadline?`);
        const e = await outcome;
        assert.ok(e instanceof SshConnectionLost, `the call ended with ${e}`);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
