import assert from "node:assert/strict";
import { setSpawner } from "../../lib/util/process.ts";
import { fakeSsh } from "../fixtures/fake_ssh.ts";
import { classifySshError, connectError } from "../../lib/ssh/connect_error.ts";
import { acquireMaster } from "../../lib/ssh/registry.ts";
import { watchDir } from "../../lib/util/async.ts";
import { SshConnectError, UsageError } from "../../lib/core/errors.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";

Deno.test("acquireMaster() starts exactly one master for 20 concurrent first calls", async () => {
  const fake = fakeSsh();
  const restore = setSpawner(fake.spawner);
  try {
    const target = { host: "box", user: "u" };
    const leases = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const lease = await acquireMaster(target, {}, () => {});
        await lease.master.ensure();
        return lease;
      }),
    );
    const masters = fake.calls.filter((c) => c.includes("-M"));
    assert.equal(masters.length, 1);
    assert.equal(new Set(leases.map((l) => l.master)).size, 1);
    assert.equal(leases[0]!.master.starts, 1);
    const dir = leases[0]!.master.dir!.path;
    for (const l of leases) await l.release();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the socket dir is removed");
  } finally {
    restore();
  }
});

Deno.test("Master.ensure() reports a failed start as a classified SshConnectError", async () => {
  const fake = fakeSsh({ failWith: "ssh: connect to host box port 22: Connection refused\r\n" });
  const restore = setSpawner(fake.spawner);
  try {
    const lease = await acquireMaster({ host: "box" }, {}, () => {});
    try {
      await assert.rejects(lease.master.ensure(), (e) => {
        assert.ok(e instanceof SshConnectError);
        assert.equal(e.kind, "refused");
        assert.equal(e.host, "ssh://box");
        assert.match(e.stderrTail, /Connection refused/);
        assert.match(e.hint ?? "", /ssh -v -o BatchMode=yes box true/);
        return true;
      });
    } finally {
      await lease.release();
    }
  } finally {
    restore();
  }
});

Deno.test("classifySshError() recognises ssh's messages", async (t) => {
  const cases: [string, string][] = [
    ["ssh: connect to host h port 22: Connection refused", "refused"],
    ["ssh: Could not resolve hostname nope: Name or service not known", "dns"],
    ["u@h: Permission denied (publickey).", "auth"],
    [
      "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
      "host_key_changed",
    ],
    [
      "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.",
      "host_key_unknown",
    ],
    ["ssh: connect to host 10.0.0.1 port 22: Connection timed out", "timeout"],
    ["ssh: connect to host h port 22: No route to host", "unreachable"],
    ["command-line line 0: Bad configuration option: foo", "config"],
    ["something else entirely", "unknown"],
  ];
  for (const [text, kind] of cases) {
    await t.step(kind, () => assert.equal(classifySshError(text), kind));
  }
});

Deno.test("watchDir wakes on a new entry, times out without one, and close ends a wait", async () => {
  const dir = await Deno.makeTempDir();
  const w = watchDir(dir);
  try {
    assert.ok(w, "Deno.watchFs is available on this platform");
    // Nothing happens: the wait ends by its own timeout.
    await w.next(10);
    // A new entry wakes a long wait long before its timeout (the race's 5 s is the failure).
    let woke = false;
    const waiting = w.next(60_000).then(() => (woke = true));
    await Deno.writeTextFile(`${dir}/sock`, "");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([waiting, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    assert.ok(woke, "no wake-up within 5 s of creating an entry");
    // close() ends a pending wait.
    const pending = w.next(60_000);
    w.close();
    await pending;
  } finally {
    w?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connectError() names the port from -p and gives ssh-keyscan -p for a strict host", () => {
  const refused = connectError(
    { host: "h", user: "u" },
    { port: 2399 },
    "ssh: connect to host h port 2399: Connection refused",
    255,
  );
  assert.match(refused.message, /"ssh:\/\/u@h:2399"/);
  const unknown = connectError(
    { host: "h" },
    { port: 2399, knownHostsFile: "/k" },
    "Host key verification failed.",
    255,
  );
  assert.equal(unknown.kind, "host_key_unknown");
  assert.match(unknown.hint ?? "", /ssh-keyscan -p 2399 h >> \/k/);
  const noKey = connectError(
    { host: "h" },
    {},
    "Warning: Identity file /no/key not accessible: No such file or directory.\nu@h: Permission denied (publickey).",
    255,
  );
  assert.equal(noKey.kind, "auth");
  assert.match(noKey.message, /identity file \/no\/key does not exist/);
});

Deno.test("classifySshError() takes two jump hosts for a configuration error", () => {
  assert.equal(classifySshError("Only a single -J option is permitted"), "config");
});

Deno.test("SshEnvironment.open() refuses a missing identity file before connecting", async () => {
  const fake = fakeSsh();
  const restore = setSpawner(fake.spawner);
  try {
    await assert.rejects(
      SshEnvironment.open("u@box", { identityFile: "/no/such/key" }),
      (e) =>
        e instanceof UsageError && /Identity file "\/no\/such\/key" does not exist/.test(e.message),
    );
    assert.equal(fake.calls.length, 0, "nothing was started");
  } finally {
    restore();
  }
});
