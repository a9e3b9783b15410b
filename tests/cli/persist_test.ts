/**
 * `--persist`: a connection kept for later processes (one login for many CLI calls, for two first
 * calls at once too), never reused across different options, listed by `yonder status`, ended by
 * `yonder stop` or by staying idle; off by default.
 */

import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { connFlags, startCli } from "./_run.ts";

const dec = new TextDecoder();

async function cli(args: string[], env: Record<string, string>) {
  const out = await startCli(args, { env }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function masters(runtime: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `ps -eo pid=,args= | grep -F 'ControlPath=${runtime}' | grep -v grep || true`],
    stdout: "piped",
  }).output();
  return dec.decode(out.stdout).trim();
}

liveSshTest("--persist keeps one login for many calls; status lists it, stop ends it", async () => {
  await using host = await openLiveHost();
  const runtime = await Deno.makeTempDir();
  await Deno.chmod(runtime, 0o700);
  const env = { XDG_RUNTIME_DIR: runtime };
  const logins = () => (host.fixture?.log().match(/Accepted publickey/g) ?? []).length;
  try {
    const before = logins();
    for (const word of ["one", "two", "three"]) {
      const r = await cli(["exec", "--persist=60", ...connFlags(host), "--", "echo", word], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${word}\n`);
    }
    // Two first calls of another option set at once still make one login between them.
    const other = ["-o", "ServerAliveCountMax=4"];
    const both = await Promise.all(
      [1, 2].map(() =>
        cli(["exec", "--persist=60", ...connFlags(host), ...other, "--", "true"], env)
      ),
    );
    for (const r of both) assert.equal(r.code, 0, r.stderr);
    if (host.fixture) assert.equal(logins() - before, 2, "one login per option set");
    const status = await cli(["status", "--json"], env);
    const listed = status.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(listed.length, 2, status.stdout);
    assert.ok(listed.every((m) => m.target === host.target && m.idle_seconds === 60));
    assert.notEqual(await masters(runtime), "", "the masters outlived their calls");
    const stop = await cli(["stop", host.target], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await cli(["status", "--json"], env)).stdout, "");
    for (let i = 0; i < 20 && await masters(runtime) !== ""; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await masters(runtime), "", "stop left no master");
  } finally {
    await cli(["stop", "--all"], env);
    await Deno.remove(runtime, { recursive: true });
  }
});

liveSshTest("--persist ends after its idle time; without it nothing outlives a call", async () => {
  await using host = await openLiveHost();
  const runtime = await Deno.makeTempDir();
  await Deno.chmod(runtime, 0o700);
  const env = { XDG_RUNTIME_DIR: runtime };
  try {
    assert.equal((await cli(["exec", ...connFlags(host), "--", "true"], env)).code, 0);
    assert.equal(await masters(runtime), "", "no --persist, nothing kept");
    const r = await cli(["exec", "--persist=1s", ...connFlags(host), "--", "true"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(await masters(runtime), "");
    for (let i = 0; i < 50 && await masters(runtime) !== ""; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await masters(runtime), "", "gone once idle");
    assert.match((await cli(["status"], env)).stdout, /no kept connections/);
  } finally {
    await cli(["stop", "--all"], env);
    await Deno.remove(runtime, { recursive: true });
  }
});

liveSshTest("--persist refuses a socket directory others can use", async () => {
  await using host = await openLiveHost();
  const runtime = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${runtime}/yonder`, { mode: 0o755 });
    await Deno.chmod(`${runtime}/yonder`, 0o755);
    const r = await cli(["exec", "--persist", ...connFlags(host), "--", "true"], {
      XDG_RUNTIME_DIR: runtime,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Refusing the persistent socket directory .*others may use it/);
    assert.match(r.stderr, /hint: Make it private: chmod 700/);
    const bad = await cli(["exec", "--persist=soon", ...connFlags(host), "--", "true"], {});
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid --persist "soon"/);
  } finally {
    await Deno.remove(runtime, { recursive: true });
  }
});
