import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { survivors, uniqueSleep } from "../_contract.ts";
import { connFlags, runCli, startCli } from "./_run.ts";
import { startLink } from "../fixtures/link.ts";

const dec = new TextDecoder();

async function localSsh(port: number): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `ps -eo pid=,stat=,args= | grep -e ' ssh .*-p ${port} ' | grep -v -e grep -e ' Z' || true`,
    ],
    stdout: "piped",
  }).output();
  return dec.decode(out.stdout).trim();
}

liveSshTest("yonder exec returns the remote code; a remote exit 255 is a result", async () => {
  await using host = await openLiveHost();
  const seven = await runCli(["exec", ...connFlags(host), "--", "sh", "-c", "exit 7"]);
  assert.equal(seven.code, 7, seven.stderr);
  const r = await runCli([
    "exec",
    ...connFlags(host),
    "--json",
    "--",
    "sh",
    "-c",
    "echo hi; exit 255",
  ]);
  assert.equal(r.code, 255, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.code, 255);
  assert.equal(j.stdout, "hi\n");
  assert.equal(j.target, host.target);
  assert.equal(r.stderr, "");
});

liveSshTest(
  "yonder exec: a command that signals its own group ends with its status, never waits for more",
  async () => {
    // One command carries the connection (its ssh is the master): the call must end without
    // that ssh exiting, from the frames, or from its session closing when the wrapper was killed.
    await using host = await openLiveHost();
    const term = await runCli(["exec", ...connFlags(host), "--", "sh", "-c", "echo a; kill 0"]);
    assert.equal(term.code, 143, term.stderr);
    assert.equal(term.stdout, "a\n");
    const trap = await runCli([
      "exec",
      ...connFlags(host),
      "--",
      "bash",
      "-c",
      'trap "kill 0" EXIT; true',
    ]);
    assert.equal(trap.code, 143, trap.stderr);
    const tag = uniqueSleep();
    const started = performance.now();
    const kill = await runCli([
      "exec",
      ...connFlags(host),
      "--timeout",
      "30",
      "--",
      "sh",
      "-c",
      `sleep ${tag} & echo b; kill -9 0`,
    ]);
    const took = performance.now() - started;
    assert.equal(kill.code, 255, kill.stderr);
    assert.equal(kill.stdout, "b\n");
    assert.ok(took < 10_000, `took ${took.toFixed(0)} ms: the call waited for its timeout`);
    assert.equal(await survivors((s) => host.remote(s), tag), "");
  },
);

liveSshTest(
  "yonder exec --timeout 1 exits 124 within 3 s and leaves no remote command",
  async () => {
    await using host = await openLiveHost();
    const tag = uniqueSleep();
    const started = performance.now();
    const r = await runCli(["exec", ...connFlags(host), "--timeout", "1", "--", "sleep", tag]);
    const took = performance.now() - started;
    assert.equal(r.code, 124, r.stderr);
    assert.ok(took < 3000, `took ${took.toFixed(0)} ms`);
    assert.match(r.stderr, /timeout/);
    assert.equal(await survivors((s) => host.remote(s), tag), "");
  },
);

liveSshTest(
  "yonder exec interrupted by SIGINT leaves no remote command, ssh, socket or temp dir",
  async () => {
    await using host = await openLiveHost();
    const tag = uniqueSleep();
    const child = startCli([
      "exec",
      "-v",
      ...connFlags(host),
      "--",
      "sh",
      "-c",
      'echo started; sleep "$1"',
      "sh",
      tag,
    ]);
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.equal(dec.decode(first.value), "started\n");
    assert.notEqual(await survivors((s) => host.remote(s), tag), "", "the command runs");
    child.kill("SIGINT");
    reader.releaseLock();
    const [status, , stderr] = await Promise.all([
      child.status,
      child.stdout.cancel(),
      new Response(child.stderr).text(),
    ]);
    assert.equal(status.code, 130, stderr);
    assert.equal(await survivors((s) => host.remote(s), tag), "");
    assert.equal(await localSsh(host.fixture!.port), "");
    // -v logged the master's argv, which names this run's socket dir.
    const dir = /ControlPath=(\/tmp\/yonder-[0-9a-f]+)\//.exec(stderr)?.[1];
    assert.ok(dir, stderr);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the socket dir is removed");
  },
);

liveSshTest("yonder exec does not hang when its own stdin never closes", async () => {
  await using host = await openLiveHost();
  const child = startCli(["exec", ...connFlags(host), "--", "cat"], { stdin: "piped" });
  // Keep stdin open and never write: the remote cat must still see EOF at once.
  const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
  const out = await child.output();
  clearTimeout(timer);
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.equal(out.stdout.length, 0);
  await child.stdin.close().catch(() => {});
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

liveSshTest(
  "yonder exec says refused with exit 255 when nothing listens, after 3 tries",
  async () => {
    const port = freePort();
    const r = await runCli(["exec", "-v", "-r", `ssh://u@127.0.0.1:${port}`, "--", "true"]);
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      /^yonder: refused: Connection to "ssh:\/\/u@127\.0\.0\.1:\d+" refused/m,
    );
    assert.match(r.stderr, /\nhint: /);
    // Connection setup is retried (the command provably never started), as the library does.
    assert.equal((r.stderr.match(/connect failed \(attempt \d/g) ?? []).length, 2, r.stderr);
  },
);

liveSshTest("yonder exec --json prints one object when the connection fails", async () => {
  const port = freePort();
  const r = await runCli(["exec", "--json", "-r", `ssh://u@127.0.0.1:${port}`, "--", "true"]);
  assert.equal(r.code, 255);
  const j = JSON.parse(r.stdout);
  assert.equal(j.code, 255);
  assert.equal(j.target, `ssh://u@127.0.0.1:${port}`);
  assert.equal(j.error.kind, "refused");
  assert.match(j.error.message, /refused/);
  assert.match(r.stderr, /^yonder: refused: /m, "the error line is on stderr too");
});

liveSshTest("Ctrl-C while connecting ends exec, put and push at once with 130", async (t) => {
  await using host = await openLiveHost();
  if (host.kind !== "native") return;
  // A link that takes the connection but never answers: ssh waits for the banner.
  await using link = startLink(host.fixture!.port);
  link.cut();
  const target = `ssh://${host.fixture!.user}@127.0.0.1:${link.port}`;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f`, "x");
    const commands: [string, string[]][] = [
      ["exec", ["exec", "-r", target, "--", "true"]],
      ["put", ["put", "-r", target, `${dir}/f`, "/tmp/f"]],
      ["push", ["push", "-r", target, dir, "/tmp/d"]],
    ];
    for (const [name, args] of commands) {
      await t.step(name, async () => {
        const child = startCli(args);
        await new Promise((r) => setTimeout(r, 700));
        const sent = performance.now();
        child.kill("SIGINT");
        const status = await child.output();
        const took = performance.now() - sent;
        assert.equal(status.code, 130, new TextDecoder().decode(status.stderr));
        assert.ok(took < 1500, `exited ${took.toFixed(0)} ms after SIGINT`);
        assert.equal(await localSsh(link.port), "", "no ssh process is left");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveSshTest("yonder check reports each probe", async () => {
  await using host = await openLiveHost();
  const r = await runCli(["check", ...connFlags(host)]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const probe of ["connect", "server", "shell", "tar", "sha256sum", "groups", "rtt"]) {
    assert.match(r.stdout, new RegExp(`^ok +${probe} `, "m"));
  }
  // The account's login shell is named with its family (the fixture's user has bash, or the
  // external host's own), and the server by its banner.
  assert.match(r.stdout, /^ok +shell .*, login shell \/\S+ \((POSIX|fish|csh|unknown) family\)$/m);
  if (host.kind === "native") {
    assert.match(r.stdout, /login shell \/bin\/bash \(POSIX family\)$/m);
    assert.match(r.stdout, /^ok +server +OpenSSH \d\S* .*: SSH-2\.0-OpenSSH_/m);
    assert.match(
      r.stdout,
      /^ok +groups +each call runs in a process group of its own$/m,
    );
  }
  const j = JSON.parse((await runCli(["check", ...connFlags(host), "--json"])).stdout);
  assert.equal(j.ok, true);
  assert.deepEqual(
    j.probes.map((p: { name: string }) => p.name),
    ["connect", "server", "shell", "tar", "sha256sum", "groups", "rtt"],
  );
});

liveSshTest("yonder exec -v shows yonder's debug lines; -vv adds ssh's own", async () => {
  await using host = await openLiveHost();
  const v = await runCli(["exec", "-v", ...connFlags(host), "--", "true"]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /^yonder: debug: \+[\d.]+ms master start: ssh /m);
  assert.doesNotMatch(v.stderr, /debug1:/);
  const vv = await runCli(["exec", "-vv", ...connFlags(host), "--", "true"]);
  assert.equal(vv.code, 0, vv.stderr);
  assert.match(vv.stderr, /^yonder: debug: \+[\d.]+ms ssh: debug1: /m);
});
