import assert from "node:assert/strict";
import { main } from "../../lib/cli/main.ts";
import { loadConfig } from "../../lib/config/config.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { fakeIo } from "./_io.ts";

const POSIX = Deno.build.os !== "windows";

/** A temp dir as HOME, with `yonder.yaml` in it; removed after `fn`. */
async function withHome(fn: (home: string, config: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "yonder-init-" });
  try {
    await fn(home, `${home}/yonder.yaml`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Runs `yonder init ARGS` in-process with HOME = `home`. */
async function init(home: string, args: string[]) {
  const io = fakeIo({ HOME: home });
  const code = await main(["init", ...args], io);
  return { code, out: io.out(), err: io.err() };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("yonder init writes the same files twice: the second run says unchanged", async () => {
  await withHome(async (home, config) => {
    const args = [
      "--config",
      config,
      "-r",
      "ssh://deploy@web1.example.com:2222",
      "-i",
      `${home}/id_ed25519`,
      "-J",
      "ops@bastion",
      "--write-ssh-config",
      "--no-check",
    ];
    const first = await init(home, args);
    assert.equal(first.code, 0, first.err);
    assert.match(first.err, /wrote .*yonder\.yaml/);
    const yaml = await Deno.readFile(config);
    const ssh = await Deno.readFile(`${home}/.ssh/config`);
    for (
      const line of [
        "# >>> yonder web1.example.com >>>",
        "Host web1.example.com",
        "  HostName web1.example.com",
        "  User deploy",
        "  Port 2222",
        `  IdentityFile ${home}/id_ed25519`,
        "  IdentitiesOnly yes",
        "  ProxyJump ops@bastion",
        "  ServerAliveInterval 15",
        "  ServerAliveCountMax 4",
        "# <<< yonder web1.example.com <<<",
      ]
    ) {
      assert.ok(first.out.split("\n").includes(line), `stdout lacks ${JSON.stringify(line)}`);
    }
    assert.equal(new TextDecoder().decode(ssh), first.out);
    if (POSIX) {
      assert.equal((await Deno.stat(config)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${home}/.ssh`)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(`${home}/.ssh/config`)).mode! & 0o777, 0o600);
    }

    const second = await init(home, args);
    assert.equal(second.code, 0, second.err);
    assert.match(second.err, /yonder\.yaml unchanged/);
    assert.match(second.err, /\.ssh\/config unchanged/);
    assert.deepEqual(await Deno.readFile(config), yaml);
    assert.deepEqual(await Deno.readFile(`${home}/.ssh/config`), ssh);
    assert.equal(second.out, first.out);
    // Nothing changed, so nothing was backed up, and no temporary file is left behind.
    assert.equal(await exists(`${home}/.ssh/config.yonder-backup`), false);
    const names = [...Deno.readDirSync(home)].map((e) => e.name).sort();
    assert.deepEqual(names, [".ssh", "yonder.yaml"]);
  });
});

Deno.test("yonder init writes a config that loadConfig reads back", async (t) => {
  const cases: [string, string[], string][] = [
    ["user@host", ["-r", "deploy@web1.example.com"], "web1.example.com"],
    ["an IPv6 URL with a path", ["-r", "ssh://deploy@[2001:db8::1]:2222/srv/app"], "2001-db8--1"],
    ["--name", ["-r", "build-box:2222", "--name", "builder"], "builder"],
    ["a target YAML would read as a number", ["-r", "10.0.0.1"], "10.0.0.1"],
  ];
  for (const [what, args, name] of cases) {
    await t.step(what, async () => {
      await withHome(async (home, config) => {
        const r = await init(home, ["--config", config, "--no-check", ...args]);
        assert.equal(r.code, 0, r.err);
        const loaded = await loadConfig(config);
        assert.deepEqual([...loaded.hosts.keys()], [name]);
        assert.equal(loaded.hosts.get(name)!.target, args[1]);
        assert.equal(loaded.raw.version, 1);
        assert.equal(await exists(`${home}/.ssh`), false, "~/.ssh is touched only when asked");
      });
    });
  }
  await t.step("settings, and the example fence once uncommented", async () => {
    await withHome(async (home, config) => {
      const args = ["-r", "a@h", "--name", "h", "-i", "~/.ssh/k", "-J", "j1", "-J", "j2:2022"];
      const r = await init(home, ["--config", config, "--no-check", ...args]);
      assert.equal(r.code, 0, r.err);
      const raw = (await loadConfig(config)).raw.hosts?.h;
      assert.deepEqual(raw, { target: "a@h", identity_file: "~/.ssh/k", jump: ["j1", "j2:2022"] });
      const text = await Deno.readTextFile(config);
      assert.match(text, /^# policy:$/m);
      assert.match(text, /^# audit:$/m);
      await Deno.writeTextFile(config, text.replace(/^# (policy:|audit:| {2})/gm, "$1"));
      const fenced = await loadConfig(config);
      assert.equal(fenced.raw.policy?.mode, "allowlist");
      assert.equal(fenced.raw.audit?.args, "hash");
    });
  });
});

Deno.test("yonder init without -r and without a terminal exits 2", async () => {
  await withHome(async (home, config) => {
    const r = await init(home, ["--config", config, "--no-check"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /yonder: usage: No target given/);
    assert.match(r.err, /hint: Pass -r TARGET/);
    assert.equal(await exists(config), false);
  });
});

Deno.test("yonder init refuses a bad target or name with exit 2 and writes nothing", async () => {
  await withHome(async (home, config) => {
    for (
      const [args, re] of [
        [["-r", "ssh://h:70000"], /Invalid port "70000"/],
        [["-r", "a b@h"], /Invalid user "a b"/],
        [["-r", "h", "--name=-x"], /Invalid --name "-x"/],
        [["-r", "h", "--name", "a b"], /Invalid --name "a b"/],
        [["-r", "h", "-J-oProxyCommand=x"], /Invalid jump host "-oProxyCommand=x"/],
      ] as const
    ) {
      const r = await init(home, ["--config", config, "--no-check", ...args]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
      assert.equal(await exists(config), false);
    }
  });
});

Deno.test("yonder init --write-ssh-config keeps the rest of ~/.ssh/config and backs it up", async () => {
  await withHome(async (home, config) => {
    await Deno.mkdir(`${home}/.ssh`);
    const mine = "# mine\nHost other\n  HostName other.example.com\n  User me\n";
    await Deno.writeTextFile(`${home}/.ssh/config`, mine);
    const args = ["--config", config, "-r", "deploy@web1", "--write-ssh-config", "--no-check"];
    const first = await init(home, args);
    assert.equal(first.code, 0, first.err);
    const after = await Deno.readTextFile(`${home}/.ssh/config`);
    assert.ok(after.startsWith(mine + "\n# >>> yonder web1 >>>\nHost web1\n"), after);
    assert.equal(await Deno.readTextFile(`${home}/.ssh/config.yonder-backup`), mine);
    assert.match(first.err, /config\.yonder-backup/);

    // The same again: unchanged, the backup stays the original.
    const again = await init(home, args);
    assert.equal(again.code, 0, again.err);
    assert.equal(await Deno.readTextFile(`${home}/.ssh/config`), after);
    assert.equal(await Deno.readTextFile(`${home}/.ssh/config.yonder-backup`), mine);

    // Another key: the block between the markers is replaced, the rest stays.
    const other = await init(home, [...args, "-i", "/keys/web1"]);
    assert.equal(other.code, 0, other.err);
    const replaced = await Deno.readTextFile(`${home}/.ssh/config`);
    assert.ok(replaced.startsWith(mine), replaced);
    assert.equal(replaced.split("# >>> yonder web1 >>>").length, 2);
    assert.match(replaced, /^ {2}IdentityFile \/keys\/web1$/m);
    assert.equal(await Deno.readTextFile(`${home}/.ssh/config.yonder-backup`), after);
    // The config had the host with that target already: left alone, with a word about the key.
    assert.match(other.err, /yonder\.yaml unchanged/);
    assert.match(other.err, /warning: .*identity_file/);
  });
});

Deno.test("yonder init adds a host to an existing config as text, keeping its comments", async () => {
  await withHome(async (home, config) => {
    const before = [
      "# our hosts",
      "version: 1",
      "hosts:",
      "    db:   # the database",
      "        target: admin@db.example.com",
      "",
      "# keep this",
      "policy:",
      "  mode: denylist",
      "",
    ].join("\n");
    await Deno.writeTextFile(config, before);
    const r = await init(home, ["--config", config, "-r", "deploy@web1", "--no-check"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /added host "web1"/);
    const text = await Deno.readTextFile(config);
    assert.equal(
      text,
      before.replace(
        "db.example.com\n",
        "db.example.com\n    web1:\n        target: deploy@web1\n",
      ),
    );
    const loaded = await loadConfig(config);
    assert.deepEqual([...loaded.hosts.keys()], ["db", "web1"]);
    assert.equal(loaded.raw.policy?.mode, "denylist");

    const again = await init(home, ["--config", config, "-r", "deploy@web1", "--no-check"]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.err, /unchanged/);
    assert.equal(await Deno.readTextFile(config), text);
  });
});

Deno.test("yonder init refuses a config it will not edit; --force replaces it with a backup", async (t) => {
  const cases: [string, string, string[]][] = [
    ["the name with another target", "hosts:\n  web1: other@web1\n", ["-r", "deploy@web1"]],
    ["hosts in flow style", "hosts: {db: admin@db}\n", ["-r", "deploy@web1"]],
    ["not a yonder config", "hosts: [1, 2\n", ["-r", "deploy@web1"]],
  ];
  for (const [what, before, args] of cases) {
    await t.step(what, async () => {
      await withHome(async (home, config) => {
        await Deno.writeTextFile(config, before);
        const refused = await init(home, ["--config", config, "--no-check", ...args]);
        assert.equal(refused.code, 2, refused.err);
        assert.match(refused.err, /yonder: usage: .*"web1"/);
        assert.match(refused.err, /hint: .*--force/);
        assert.match(refused.err, /^ {4}target: deploy@web1$/m);
        assert.equal(await Deno.readTextFile(config), before);

        const forced = await init(home, ["--config", config, "--no-check", "--force", ...args]);
        assert.equal(forced.code, 0, forced.err);
        assert.equal(await Deno.readTextFile(`${config}.bak`), before);
        assert.equal((await loadConfig(config)).hosts.get("web1")?.target, "deploy@web1");
      });
    });
  }
});

Deno.test("yonder init exits with the check's code when it fails, the files written", async () => {
  await withHome(async (home, config) => {
    // Nothing listens on port 1 of this machine: the check cannot connect.
    const r = await init(home, [
      "--config",
      config,
      "-r",
      "ssh://nobody@127.0.0.1:1",
      "--known-hosts",
      `${home}/known_hosts`,
    ]);
    assert.equal(r.code, 255, r.err);
    assert.match(r.out, /^FAIL +connect /m);
    assert.match(r.err, /check failed \(exit 255\); .*yonder\.yaml is written all the same/);
    assert.match(r.err, /hint: .*yonder check --config .* -r 127\.0\.0\.1/);
    assert.equal(
      (await loadConfig(config)).hosts.get("127.0.0.1")?.target,
      "ssh://nobody@127.0.0.1:1",
    );
  });
});

liveSshTest("yonder init writes the config and the check it runs passes", async () => {
  await using host = await openLiveHost();
  await withHome(async (home, config) => {
    const c = host.connect;
    const args = [
      "--config",
      config,
      "-r",
      host.target,
      "--name",
      "fixture",
      ...(c.identityFile ? ["-i", c.identityFile] : []),
      ...(c.knownHostsFile ? ["--known-hosts", c.knownHostsFile] : []),
      ...(c.hostKeyPolicy === "strict" ? ["--strict-host-key"] : []),
    ];
    const r = await init(home, args);
    assert.equal(r.code, 0, `${r.err}\n${r.out}`);
    assert.match(r.out, /^ok +connect /m);
    assert.match(r.out, /^ok +shell /m);
    assert.match(r.err, /ready: yonder exec --config .* -r fixture/);
    assert.equal((await loadConfig(config)).hosts.get("fixture")?.target, host.target);
  });
});
