import assert from "node:assert/strict";
import { setSpawner } from "../../lib/util/process.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { fakeSsh } from "../fixtures/fake_ssh.ts";

Deno.test("SshEnvironment.exec() falls back to the master path when no session can start", async () => {
  const fake = fakeSsh({ stdout: "via master\n" });
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
