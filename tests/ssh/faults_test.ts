import assert from "node:assert/strict";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { SshConnectError } from "../../lib/core/errors.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

const dec = new TextDecoder();

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function sshProcessesFor(port: number): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `ps -eo pid=,stat=,args= | grep -e '^ *[0-9]* [^Z]* ssh .*-p ${port} ' | grep -v grep || true`,
    ],
    stdout: "piped",
  }).output();
  return dec.decode(out.stdout).trim();
}

liveSshTest(
  "SshEnvironment.open() says refused when nothing listens, within the timeout",
  async () => {
    const port = freePort();
    const started = performance.now();
    await assert.rejects(
      SshEnvironment.open(`ssh://nobody@127.0.0.1:${port}`, { connectTimeout: 5 }),
      (e) => {
        assert.ok(e instanceof SshConnectError, String(e));
        assert.equal(e.kind, "refused");
        assert.match(e.message, /refused/);
        assert.match(e.hint ?? "", /ssh -v -o BatchMode=yes -p \d+ nobody@127\.0\.0\.1 true/);
        return true;
      },
    );
    assert.ok(performance.now() - started < 5000);
    assert.deepEqual(await sshProcessesFor(port), "");
  },
);

liveSshTest("SshEnvironment.open() says authentication for a wrong key", async () => {
  await using host = await openLiveHost();
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/other`;
    await new Deno.Command("ssh-keygen", { args: ["-q", "-t", "ed25519", "-N", "", "-f", key] })
      .output();
    await assert.rejects(
      SshEnvironment.open(host.target, { ...host.connect, identityFile: key }),
      (e) => e instanceof SshConnectError && e.kind === "auth" && /Authentication/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveSshTest("SshEnvironment.open() refuses a changed host key and runs nothing", async () => {
  await using host = await openLiveHost();
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/fake_host`;
    await new Deno.Command("ssh-keygen", { args: ["-q", "-t", "ed25519", "-N", "", "-f", key] })
      .output();
    const pub = (await Deno.readTextFile(`${key}.pub`)).split(" ").slice(0, 2).join(" ");
    const port = host.fixture!.port;
    await Deno.writeTextFile(`${dir}/known_hosts`, `[127.0.0.1]:${port} ${pub}\n`);
    // The default policy (accept-new) trusts new hosts but must refuse a changed key.
    await assert.rejects(
      SshEnvironment.open(host.target, {
        identityFile: host.connect.identityFile!,
        knownHostsFile: `${dir}/known_hosts`,
      }),
      (e) =>
        e instanceof SshConnectError && e.kind === "host_key_changed" && /Host key/.test(e.message),
    );
    const log = host.fixture!.log();
    assert.ok(!/Accepted publickey/.test(log), "the client never authenticated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveSshTest(
  "SshEnvironment.open() with the strict policy refuses an unknown host key",
  async () => {
    await using host = await openLiveHost();
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/known_hosts`, "");
      await assert.rejects(
        SshEnvironment.open(host.target, {
          identityFile: host.connect.identityFile!,
          knownHostsFile: `${dir}/known_hosts`,
          hostKeyPolicy: "strict",
        }),
        (e) => e instanceof SshConnectError && e.kind === "host_key_unknown",
      );
      // accept-new trusts it the first time and records it.
      await using env = await SshEnvironment.open(host.target, {
        identityFile: host.connect.identityFile!,
        knownHostsFile: `${dir}/known_hosts`,
      });
      assert.equal((await env.exec(["true"])).code, 0);
      assert.match(await Deno.readTextFile(`${dir}/known_hosts`), /ssh-ed25519/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveSshTest("SshEnvironment replaces a master killed with kill -9 on the next call", async () => {
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  assert.equal((await env.exec(["true"])).code, 0);
  const pid = env.masterPid!;
  Deno.kill(pid, "SIGKILL");
  // The socket file is left behind, stale.
  await new Promise((r) => setTimeout(r, 100));
  const r = await env.exec(["echo", "back"]);
  assert.equal(r.code, 0);
  assert.equal(dec.decode(r.stdout), "back\n");
  assert.equal(env.masterStarts, 2);
  assert.notEqual(env.masterPid, pid);
});

liveSshTest("SshEnvironment: 20 concurrent first calls share one master", async () => {
  await using host = await openLiveHost();
  const before = (host.fixture!.log().match(/Accepted publickey/g) ?? []).length;
  const envs = await Promise.all(
    Array.from({ length: 20 }, () => SshEnvironment.open(host.target, { ...host.connect })),
  );
  try {
    const results = await Promise.all(envs.map((e, i) => e.exec(["echo", String(i)])));
    results.forEach((r, i) => assert.equal(dec.decode(r.stdout), `${i}\n`));
    assert.equal(new Set(envs.map((e) => e.masterPid)).size, 1);
    assert.equal(envs[0]!.masterStarts, 1);
    const after = (host.fixture!.log().match(/Accepted publickey/g) ?? []).length;
    assert.equal(after - before, 1, "one login for all twenty");
  } finally {
    await Promise.all(envs.map((e) => e.close()));
  }
});

liveSshTest("SshEnvironment: 40 concurrent calls never exceed MaxSessions", async () => {
  await using host = await openLiveHost({ maxSessions: 10 });
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  const results = await Promise.all(
    Array.from(
      { length: 40 },
      (_, i) => env.exec(["sh", "-c", 'sleep 0.2; echo "$1"', "sh", String(i)]),
    ),
  );
  results.forEach((r, i) => {
    assert.equal(r.code, 0, dec.decode(r.stderr));
    assert.equal(dec.decode(r.stdout), `${i}\n`);
    assert.equal(dec.decode(r.stderr), "");
  });
  assert.equal((host.fixture!.log().match(/Accepted publickey/g) ?? []).length, 1);
});

for (const session of ["stateless", false] as const) {
  liveSshTest(
    `SshEnvironment (${
      session ? "sessions" : "channels"
    }): a call aborted while it waits for its turn never runs`,
    async () => {
      await using host = await openLiveHost();
      await using env = await SshEnvironment.open(host.target, {
        ...host.connect,
        maxChannels: 2,
        session,
      });
      const dir = (await host.remote("mktemp -d")).stdout.trim();
      try {
        // Every channel (or session) busy, then one more call that must wait.
        const busy = [1, 2].map(() => env.exec(["sleep", "1.5"]));
        await new Promise((r) => setTimeout(r, 500));
        const stop = new AbortController();
        const waiting = env.exec(["touch", `${dir}/ran`], { signal: stop.signal });
        await new Promise((r) => setTimeout(r, 200));
        const sent = performance.now();
        stop.abort();
        const r = await waiting;
        const took = performance.now() - sent;
        assert.equal(r.code, 143);
        assert.ok(took < 500, `the abort took ${took.toFixed(0)} ms to end the call`);
        for (const b of await Promise.all(busy)) assert.equal(b.code, 0);
        // The next call gets a channel: the aborted one held none.
        assert.equal((await env.exec(["true"])).code, 0);
        const ran = await host.remote(`test -e '${dir}/ran' && echo yes || echo no`);
        assert.equal(ran.stdout.trim(), "no", "the aborted call ran after all");
      } finally {
        await host.remote(`rm -rf '${dir}'`);
      }
    },
  );
}

liveSshTest("SshEnvironment.close() leaves no ssh process, socket or temp dir", async () => {
  await using host = await openLiveHost();
  const env = await SshEnvironment.open(host.target, { ...host.connect });
  const socket = env.controlPath!;
  const dir = socket.slice(0, socket.lastIndexOf("/"));
  const pending = env.exec(["sleep", "300"]);
  await new Promise((r) => setTimeout(r, 300));
  await env.close();
  const r = await pending;
  assert.equal(r.code, 143, "close stops running commands");
  await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the socket dir is removed");
  assert.equal(await sshProcessesFor(host.fixture!.port), "");
  const left = await host.remote("ps -eo args= | grep -x 'sleep 300' || true");
  assert.equal(left.stdout.trim(), "");
});
