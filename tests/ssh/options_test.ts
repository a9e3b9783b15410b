import assert from "node:assert/strict";
import {
  buildSshArgv,
  NO_MASTER_SENTINEL,
  type SshConnectOptions,
  validateConnectOptions,
} from "../../lib/ssh/options.ts";
import { UsageError } from "../../lib/core/errors.ts";

const target = { host: "box", user: "deploy", port: 2222 };

/** The value of each `-o Key=…` in argv, first one per key (ssh keeps the first). */
function firstOptions(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== "-o") continue;
    const [k, ...v] = argv[i + 1]!.split("=");
    if (!out.has(k!)) out.set(k!, v.join("="));
  }
  return out;
}

Deno.test("buildSshArgv() always prepends the safety options", async (t) => {
  for (
    const role of [
      { kind: "master", controlPath: "/tmp/y/c0", logFile: "/tmp/y/c0.log" },
      { kind: "client", controlPath: "/tmp/y/c0", command: "true", stdin: false },
      { kind: "control", controlPath: "/tmp/y/c0", request: "check" },
      { kind: "direct", command: "true", stdin: false },
    ] as const
  ) {
    await t.step(role.kind, () => {
      const argv = buildSshArgv(target, { options: ["BatchMode=no", "ConnectTimeout=3"] }, role);
      const o = firstOptions(argv);
      assert.equal(argv[0], "-o");
      assert.equal(argv[1], "BatchMode=yes");
      assert.equal(o.get("BatchMode"), "yes", "the caller cannot turn BatchMode off");
      assert.equal(o.get("ConnectTimeout"), "3", "the caller's option beats the default");
      assert.equal(o.get("StrictHostKeyChecking"), "accept-new");
      assert.ok(o.has("ServerAliveInterval") && o.has("ServerAliveCountMax"));
      assert.equal(
        argv.at(role.kind === "client" || role.kind === "direct" ? -2 : -1),
        "deploy@box",
      );
      assert.equal(argv[argv.indexOf("-p") + 1], "2222");
      if (role.kind !== "direct") assert.equal(o.get("ControlPath"), "/tmp/y/c0");
      else assert.ok(!o.has("ControlPath"));
    });
  }
});

Deno.test("buildSshArgv() gives clients -T, -n without stdin, and no way to dial alone", () => {
  const noStdin = buildSshArgv(target, {}, {
    kind: "client",
    controlPath: "/tmp/y/c0",
    command: "echo hi",
    stdin: false,
  });
  assert.ok(noStdin.includes("-T"));
  assert.ok(noStdin.includes("-n"));
  assert.deepEqual(noStdin.slice(-3), ["--", "deploy@box", "echo hi"]);
  const o = firstOptions(noStdin);
  assert.equal(o.get("ControlMaster"), "no");
  assert.match(o.get("ProxyCommand")!, new RegExp(NO_MASTER_SENTINEL));
  const withStdin = buildSshArgv(target, {}, {
    kind: "client",
    controlPath: "/tmp/y/c0",
    command: "cat",
    stdin: true,
  });
  assert.ok(withStdin.includes("-T"));
  assert.ok(!withStdin.includes("-n"));
});

Deno.test("buildSshArgv() starts the master with -M -N, no persistence and a log file", () => {
  const argv = buildSshArgv(target, { sshVerbose: true }, {
    kind: "master",
    controlPath: "/tmp/y/c%0",
    logFile: "/tmp/y/c0.log",
  });
  for (const flag of ["-M", "-N", "-v"]) assert.ok(argv.includes(flag), flag);
  assert.equal(argv[argv.indexOf("-E") + 1], "/tmp/y/c0.log");
  const o = firstOptions(argv);
  assert.equal(o.get("ControlMaster"), "yes");
  assert.equal(o.get("ControlPersist"), "no");
  assert.equal(o.get("ControlPath"), "/tmp/y/c%%0", "% is escaped from ssh's token expansion");
  assert.ok(!argv.includes("-T"));
});

Deno.test("buildSshArgv() maps the connection options", async (t) => {
  await t.step("identity, config, jump, known_hosts, strict", () => {
    const argv = buildSshArgv({ host: "h" }, {
      identityFile: "/k/id",
      configFile: "/c/config",
      jump: ["bastion", "u@b2:2200"],
      knownHostsFile: "/k/known",
      hostKeyPolicy: "strict",
      port: 2200,
      connectTimeout: 4,
    }, { kind: "control", controlPath: "/tmp/y/c0", request: "exit" });
    assert.equal(argv[argv.indexOf("-i") + 1], "/k/id");
    assert.equal(argv[argv.indexOf("-F") + 1], "/c/config");
    assert.equal(argv[argv.indexOf("-J") + 1], "bastion,u@b2:2200");
    assert.equal(argv[argv.indexOf("-p") + 1], "2200");
    assert.equal(argv[argv.indexOf("-O") + 1], "exit");
    const o = firstOptions(argv);
    assert.equal(o.get("UserKnownHostsFile"), "/k/known");
    assert.equal(o.get("StrictHostKeyChecking"), "yes");
    assert.equal(o.get("IdentitiesOnly"), "yes");
    assert.equal(o.get("ConnectTimeout"), "4");
    assert.equal(argv.at(-1), "h");
  });
  await t.step("the target's port wins over the option", () => {
    const argv = buildSshArgv({ host: "h", port: 22 }, { port: 2200 }, {
      kind: "direct",
      command: "true",
      stdin: true,
    });
    assert.equal(argv[argv.indexOf("-p") + 1], "22");
    assert.ok(!argv.includes("-n"));
  });
  await t.step("an IPv6 host goes bare, after --", () => {
    const argv = buildSshArgv({ host: "2001:db8::1", user: "u" }, {}, {
      kind: "direct",
      command: "true",
      stdin: false,
    });
    assert.deepEqual(argv.slice(-3), ["--", "u@2001:db8::1", "true"]);
  });
});

Deno.test("validateConnectOptions() refuses bad values with a UsageError", async (t) => {
  for (
    const [name, o] of <[string, SshConnectOptions][]> [
      ["option without =", { options: ["BatchMode"] }],
      ["option with newline", { options: ["A=b\nProxyCommand=x"] }],
      ["port 0", { port: 0 }],
      ["port 70000", { port: 70000 }],
      ["fractional timeout", { connectTimeout: 1.5 }],
      ["jump host starting with -", { jump: "-oProxyCommand=x" }],
      ["empty identity", { identityFile: "" }],
    ]
  ) {
    await t.step(name, () => {
      assert.throws(() => validateConnectOptions(o), UsageError);
    });
  }
  validateConnectOptions({ port: 22, options: ["ServerAliveInterval=5"], jump: "bastion" });
});

Deno.test("buildSshArgv(): an explicit jump host wins over a ProxyJump option", () => {
  const argv = buildSshArgv(
    { host: "h" },
    { jump: "bastion", options: ["ProxyJump=other", "A=b"] },
    {
      kind: "master",
      controlPath: "/tmp/yonder-x/c0",
      logFile: "/tmp/yonder-x/c0.log",
    },
  );
  assert.ok(!argv.includes("ProxyJump=other"), argv.join(" "));
  assert.ok(argv.includes("A=b"));
  assert.deepEqual(argv.slice(argv.indexOf("-J"), argv.indexOf("-J") + 2), ["-J", "bastion"]);
});

Deno.test("buildSshArgv() lets only a master ask, and only with askPassTty", () => {
  const t = { host: "h" };
  const master = { kind: "master" as const, controlPath: "/tmp/s", logFile: "/tmp/l" };
  const client = { kind: "client" as const, controlPath: "/tmp/s", command: "true", stdin: false };
  const asking = { askPassTty: "/dev/pts/3" };
  assert.deepEqual(buildSshArgv(t, asking, master).slice(0, 2), ["-o", "BatchMode=no"]);
  assert.deepEqual(buildSshArgv(t, asking, client).slice(0, 2), ["-o", "BatchMode=yes"]);
  assert.deepEqual(buildSshArgv(t, {}, master).slice(0, 2), ["-o", "BatchMode=yes"]);
});
