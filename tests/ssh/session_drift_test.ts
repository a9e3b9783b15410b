/**
 * A session shell serves any number of calls: nothing it keeps may grow with them. bash keeps a
 * job table; a job it keeps for every call made each later call slower (bash scans that table at
 * each fork and wait) and the shell bigger. The size of the shell is what a call can see of that.
 */

import assert from "node:assert/strict";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

const dec = new TextDecoder();

liveSshTest("session: the session shell does not grow with the calls made on it", async () => {
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, { ...host.connect, sessions: 1 });
  // A call's `sh -c` is the child of the session shell: its $PPID is that shell.
  const probe = async () => {
    const r = await env.exec(
      `printf '%s ' "$(cat /proc/$PPID/comm)"; ` +
        `sed -n 's/^VmRSS:[^0-9]*\\([0-9]*\\) kB$/\\1/p' /proc/$PPID/status`,
    );
    const [comm, kb] = dec.decode(r.stdout).trim().split(" ");
    return { comm, kb: Number(kb) };
  };
  for (let i = 0; i < 200; i++) await env.exec(["true"]);
  const before = await probe();
  // Another host may have no /proc to see the shell through; the native fixture has one.
  if (host.kind !== "native" && !(before.comm === "bash" && before.kb > 0)) return;
  assert.equal(before.comm, "bash", JSON.stringify(before));
  assert.ok(before.kb > 0, JSON.stringify(before));
  for (let i = 0; i < 2000; i++) await env.exec(["true"]);
  const after = await probe();
  assert.equal(after.comm, "bash");
  // A job kept per call grew it by some 270 bytes a call (540 kB over these 2000); without one
  // it stays where it was.
  assert.ok(
    after.kb - before.kb < 200,
    `session shell RSS ${before.kb} kB -> ${after.kb} kB over 2000 calls`,
  );
});
