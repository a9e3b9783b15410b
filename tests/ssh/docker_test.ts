/**
 * The live suites against the Docker fixture: a container of its own (a Debian root filesystem
 * built locally, no registry) with OpenSSH and Dropbear and one account per login shell.
 *
 * - the exec, lifecycle, files and tree contracts over the master and over sessions, on OpenSSH;
 * - the portability matrix: each server × login shell runs the portability checks (argv that
 *   shells mangle, 255, timeouts with no survivor, signals, files and trees).
 *
 * Run with `deno test -A --filter "live_ssh docker"`; without a Docker engine they are skipped
 * (outside CI) with the reason.
 */
import assert from "node:assert/strict";
import { SshEnvironment, type SshEnvironmentOptions } from "../../lib/ssh/environment.ts";
import { runExecContract, survivors, uniqueSleep } from "../_contract.ts";
import { fileContract } from "../_files_contract.ts";
import { runLifecycleContract } from "../_lifecycle_contract.ts";
import { liveDockerTest } from "../_live.ts";
import { runPortability } from "../_portability.ts";
import { treeContract } from "../tree/_tree_contract.ts";
import { runCli } from "../cli/_run.ts";
import type { DockerServer, DockerShell } from "../fixtures/docker_sshd.ts";

const paths: [string, SshEnvironmentOptions["session"]][] = [
  ["the master", false],
  ["stateless sessions", "stateless"],
];

for (const [name, session] of paths) {
  liveDockerTest(
    `OpenSSH in a container over ${name}: exec and lifecycle contracts`,
    async (fx, t) => {
      await using env = await SshEnvironment.open(fx.target, { ...fx.connect, session });
      await t.step("exec contract", (t) => runExecContract(t, env, (s) => fx.probe(s, fx.user)));
      await t.step(
        "lifecycle contract",
        (t) => runLifecycleContract(t, env, (s) => fx.probe(s, fx.user), { stdin: true }),
      );
    },
  );
}

liveDockerTest("OpenSSH in a container: files and tree contracts", async (fx, t) => {
  await using env = await SshEnvironment.open(fx.target, { ...fx.connect });
  const tmp = async () =>
    new TextDecoder().decode((await env.exec(["mktemp", "-d"])).stdout).trim();
  const [filesRoot, treeRoot] = [await tmp(), await tmp()];
  const locals = await Promise.all(
    ["files", "tree", "cache"].map((n) => Deno.makeTempDir({ prefix: `yonder-docker-${n}-` })),
  );
  try {
    await t.step("files contract", (t) => fileContract(t, env, filesRoot, locals[0]!));
    await t.step("tree contract", (t) => treeContract(t, env, treeRoot, locals[1]!, locals[2]!));
  } finally {
    await env.exec(["rm", "-rf", filesRoot, treeRoot]);
    for (const d of locals) await Deno.remove(d, { recursive: true });
  }
});

const matrix: [DockerServer, DockerShell[]][] = [
  ["openssh", ["bash", "dash", "ash", "zsh", "fish", "tcsh"]],
  ["dropbear", ["bash", "ash"]],
];

liveDockerTest("the portability matrix: every server × login shell", async (fx, t) => {
  for (const [server, shells] of matrix) {
    for (const shell of shells) {
      for (const session of [false, "stateless"] as const) {
        const how = session === false ? "over the master" : "over sessions";
        await t.step(`${server} × ${shell} ${how}`, async (t) => {
          await using env = await SshEnvironment.open(fx.targetFor(server, shell), {
            ...fx.connect,
            session,
          });
          await runPortability(t, env, (s) => fx.probe(s));
        });
      }
    }
  }
});

liveDockerTest(
  "yonder check names the server and the login shell; each Dropbear call has its group",
  async (fx) => {
    const flags = (server: DockerServer, shell: DockerShell) => [
      "-r",
      fx.targetFor(server, shell),
      "-i",
      fx.identityFile,
      "--known-hosts",
      fx.knownHostsFile,
      "--strict-host-key",
    ];
    const dropbear = await runCli(["check", ...flags("dropbear", "ash")]);
    assert.equal(dropbear.code, 0, dropbear.stdout + dropbear.stderr);
    assert.match(dropbear.stdout, /^ok +server +Dropbear \d+\.\d+: SSH-2\.0-dropbear_/m);
    assert.match(dropbear.stdout, /login shell \/bin\/ash \(POSIX family\)$/m);
    assert.match(dropbear.stdout, /^ok +groups +each call runs in a process group of its own$/m);
    const fish = await runCli(["check", ...flags("openssh", "fish")]);
    assert.equal(fish.code, 0, fish.stdout + fish.stderr);
    assert.match(fish.stdout, /^ok +server +OpenSSH \d/m);
    assert.match(fish.stdout, /login shell \/usr\/bin\/fish \(fish family\)$/m);
    // Without setsid, perl's setpgrp gives each Dropbear call its group: a timeout stops it all.
    const noSetsid = await fx.probe("mv /usr/bin/setsid /usr/bin/setsid.off");
    assert.equal(noSetsid.code, 0, noSetsid.stderr);
    const perl = await runCli(["check", ...flags("dropbear", "bash")]);
    assert.match(perl.stdout, /^ok +groups +each call runs in a process group of its own$/m);
    const tag = uniqueSleep();
    const timed = await runCli([
      "exec",
      ...flags("dropbear", "bash"),
      "--timeout",
      "1",
      "--",
      "sh",
      "-c",
      `sleep ${tag} & sleep ${tag}`,
    ]);
    assert.equal(timed.code, 124, timed.stderr);
    assert.equal(await survivors((s) => fx.probe(s), tag), "");
    // With neither, the calls share Dropbear's group: check fails the probe, with the hint.
    const noPerl = await fx.probe("mv /usr/bin/perl /usr/bin/perl.off");
    assert.equal(noPerl.code, 0, noPerl.stderr);
    const none = await runCli(["check", ...flags("dropbear", "bash")]);
    assert.equal(none.code, 1, none.stdout + none.stderr);
    assert.match(none.stdout, /^FAIL +groups +calls share the server's process group/m);
    assert.match(none.stdout, /hint: Install setsid/);
  },
);
