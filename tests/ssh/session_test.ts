import assert from "node:assert/strict";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { survivors, uniqueSleep } from "../_contract.ts";

const dec = new TextDecoder();
const out = (r: { stdout: Uint8Array }) => dec.decode(r.stdout);

for (const mode of ["stateless", "stateful"] as const) {
  liveSshTest(
    `session (${mode}): exit, exec, kill $$ and exec >&- end only their call`,
    async (t) => {
      await using host = await openLiveHost();
      const debug: string[] = [];
      await using env = await SshEnvironment.open(host.target, {
        ...host.connect,
        session: mode,
        logger: (l) => debug.push(l),
      });
      const cases: [string, string, number][] = [
        ["exit 3", "exit 3", 3],
        ["exec true", "exec true", 0],
        ["kill -9 $$", "kill -9 $$", 137],
        ["exec >&-", "exec >&-; echo gone; exit 4", 4],
      ];
      for (const [name, script, code] of cases) {
        await t.step(name, async () => {
          const r = await env.exec(script);
          assert.equal(r.code, code, dec.decode(r.stderr));
          assert.equal(r.sessionRestarted, false);
          assert.equal(out(r), "");
          const next = await env.exec(["echo", "next"]);
          assert.equal(next.code, 0);
          assert.equal(out(next), "next\n");
        });
      }
      assert.equal(
        debug.filter((l) => l.startsWith("session started")).length,
        1,
        debug.join("\n"),
      );
    },
  );
}

liveSshTest(
  "session: a command that kills the session shell is reported, the next call works",
  async () => {
    await using host = await openLiveHost();
    await using env = await SshEnvironment.open(host.target, { ...host.connect });
    assert.equal(out(await env.exec(["echo", "a"])), "a\n");
    const r = await env.exec("kill -9 $PPID; sleep 1");
    assert.equal(r.sessionRestarted, true);
    assert.equal(r.code, 255);
    const next = await env.exec(["echo", "b"]);
    assert.equal(out(next), "b\n");
    assert.equal(next.sessionRestarted, false);
  },
);

liveSshTest("session (stateful) keeps cd and export; stateless keeps neither", async () => {
  await using host = await openLiveHost();
  await using stateful = await SshEnvironment.open(host.target, {
    ...host.connect,
    session: "stateful",
  });
  await stateful.exec("cd /tmp");
  assert.equal(out(await stateful.exec("pwd")), "/tmp\n");
  await stateful.exec("export A=1");
  assert.equal(out(await stateful.exec('echo "$A"')), "1\n");
  assert.equal(out(await stateful.exec(["sh", "-c", 'echo "$A"'])), "1\n", "exported to children");
  await using stateless = await SshEnvironment.open(host.target, { ...host.connect });
  const home = out(await stateless.exec("pwd"));
  await stateless.exec("cd /tmp; export A=1");
  assert.equal(out(await stateless.exec("pwd")), home);
  assert.equal(out(await stateless.exec('echo "${A-unset}"')), "unset\n");
});

liveSshTest("session: a timeout kills the command's group, not the session", async () => {
  await using host = await openLiveHost();
  const debug: string[] = [];
  await using env = await SshEnvironment.open(host.target, {
    ...host.connect,
    sessions: 1,
    logger: (l) => debug.push(l),
  });
  assert.equal(out(await env.exec(["echo", "warm"])), "warm\n");
  const tag = uniqueSleep();
  const r = await env.exec(["sh", "-c", 'sleep "$1" & sleep "$1"; wait', "sh", tag], {
    timeoutMs: 500,
  });
  assert.equal(r.code, 124);
  assert.equal(r.timedOut, true);
  assert.equal(await survivors((s) => host.remote(s), tag), "");
  assert.equal(out(await env.exec(["echo", "after"])), "after\n");
  assert.equal(debug.filter((l) => l.startsWith("session started")).length, 1, debug.join("\n"));
});

liveSshTest("session: 1000 calls at concurrency 100 under MaxSessions 10 all succeed", async () => {
  await using host = await openLiveHost({ maxSessions: 10 });
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  let next = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (next < 1000) {
      const i = next++;
      const r = await env.exec(["printf", "%s", `call-${i}`]);
      if (r.code !== 0 || out(r) !== `call-${i}` || r.stderr.length !== 0) {
        failures.push(`${i}: code ${r.code} out ${out(r)} err ${dec.decode(r.stderr)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  assert.deepEqual(failures, []);
  assert.doesNotMatch(
    host.fixture!.log(),
    /session request failed|refused.*session|no more sessions/i,
  );
});

liveSshTest("maxMasters opens a second master when every session is busy", async () => {
  await using host = await openLiveHost();
  const debug: string[] = [];
  await using env = await SshEnvironment.open(host.target, {
    ...host.connect,
    sessions: 2,
    maxMasters: 2,
    logger: (l) => debug.push(l),
  });
  const results = await Promise.all(
    Array.from(
      { length: 12 },
      (_, i) => env.exec(["sh", "-c", 'sleep 0.3; echo "$1"', "sh", String(i)]),
    ),
  );
  results.forEach((r, i) => assert.equal(out(r), `${i}\n`));
  assert.ok(
    debug.some((l) => l.startsWith("all channels busy: opened master 2 of 2")),
    debug.join("\n"),
  );
  assert.equal((host.fixture!.log().match(/Accepted publickey/g) ?? []).length, 2, "two logins");
});
