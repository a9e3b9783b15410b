import assert from "node:assert/strict";
import { loadConfig, resolveHost, selectHosts } from "../../lib/config/config.ts";
import { ConfigError } from "../../lib/config/errors.ts";
import { findConfig } from "../../lib/config/find.ts";
import { checkProtected } from "../../lib/config/protect.ts";

/** Writes `files` into a fresh temp dir; returns its path. */
async function tempFiles(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "yonder-config-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  return dir;
}

async function configError(text: string): Promise<ConfigError> {
  const dir = await tempFiles({ "yonder.yaml": text });
  try {
    await loadConfig(`${dir}/yonder.yaml`);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  throw new Error("the config loaded");
}

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("loadConfig() names file:line:col and the key path of a typo", async () => {
  const e = await configError("defaults:\n  connect_timeout: 5\n  timout: 30\n");
  assert.equal(e.issues.length, 1);
  const i = e.issues[0]!;
  assert.deepEqual([i.line, i.col, i.path], [3, 3, "defaults.timout"]);
  assert.match(
    e.message,
    /yonder\.yaml:3:3: defaults\.timout: unknown key \(did you mean "timeout"\?\)/,
  );
});

Deno.test("loadConfig() names file:line:col and the key path of a bad type", async () => {
  const e = await configError(
    "hosts:\n  web1:\n    target: deploy@web1\n    max_output: lots\n",
  );
  assert.match(
    e.message,
    /yonder\.yaml:4:17: hosts\.web1\.max_output: expected number, not string "lots"/,
  );
});

Deno.test("loadConfig() reports every problem, in file order", async () => {
  const e = await configError(
    [
      "hosts:",
      "  web1: 'ssh://deploy@web1:99999'", // bad target
      "groups:",
      "  web:",
      "    hosts: [web1, web9]", // unknown host
      "    children: [nope]", // unknown group
      "policy:",
      "  rules:",
      "    - {id: x, decision: maybe}", // bad enum
      "",
    ].join("\n"),
  );
  // The schema problems come first (the references are checked once the shapes are right).
  assert.equal(e.issues.length, 1);
  assert.match(
    e.message,
    /:9:25: policy\.rules\[0\]\.decision: expected "allow", "deny", "approve"/,
  );
  const e2 = await configError(
    "hosts:\n  web1: 'ssh://deploy@web1:99999'\ngroups:\n  web:\n    hosts: [web1, web9]\n" +
      "    children: [nope]\n",
  );
  assert.deepEqual(e2.issues.map((i) => `${i.line}:${i.col} ${i.path}`), [
    "2:9 hosts.web1",
    "5:19 groups.web.hosts[1]",
    "6:16 groups.web.children[0]",
  ]);
  assert.match(e2.issues[0]!.message, /bad target/);
});

Deno.test("loadConfig() refuses YAML errors, duplicate keys and a cycle of groups", async () => {
  assert.match((await configError("hosts: [a\n")).message, /yonder\.yaml:\d+:\d+: YAML:/);
  assert.match((await configError("hosts:\n  a: x\n  a: y\n")).message, /:3:3: YAML: Map keys/);
  const cycle = await configError(
    "groups:\n  a: {children: [b]}\n  b: {children: [a]}\n",
  );
  assert.match(cycle.message, /groups contain each other: a -> b -> a/);
});

Deno.test("an Ansible INI inventory resolves to the same hosts as the equivalent YAML", async () => {
  const ini = [
    "[web]",
    "web1 ansible_host=10.0.0.1",
    "web2 ansible_host=10.0.0.2 ansible_port=2200",
    "[db]",
    "db1 ansible_host=db.example.com ansible_user=postgres",
    "[prod:children]",
    "web",
    "db",
    "[prod:vars]",
    "ansible_user=deploy",
    "ansible_ssh_private_key_file=/keys/prod",
    "",
  ].join("\n");
  const yaml = [
    "all:",
    "  children:",
    "    prod:",
    "      vars: {ansible_user: deploy, ansible_ssh_private_key_file: /keys/prod}",
    "      children:",
    "        web:",
    "          hosts:",
    "            web1: {ansible_host: 10.0.0.1}",
    "            web2: {ansible_host: 10.0.0.2, ansible_port: 2200}",
    "        db:",
    "          hosts:",
    "            db1: {ansible_host: db.example.com, ansible_user: postgres}",
    "",
  ].join("\n");
  const dir = await tempFiles({
    "hosts.ini": ini,
    "hosts.yaml": yaml,
    "a.yaml": "inventory: hosts.ini\n",
    "b.yaml": "inventory: hosts.yaml\n",
  });
  try {
    const model = async (file: string) => {
      const c = await loadConfig(`${dir}/${file}`);
      return {
        hosts: [...c.hosts.values()].map((h) => {
          const r = resolveHost(c, h.name, env({ HOME: "/h" }));
          return [h.name, r.target, r.settings.identityFile, r.groups];
        }).sort(),
        groups: [...c.groups.values()].map((g) => [g.name, [...g.members].sort()]).sort(),
      };
    };
    const a = await model("a.yaml");
    assert.deepEqual(a, await model("b.yaml"));
    assert.deepEqual(a.hosts.find((h) => h[0] === "db1")!.slice(0, 3), [
      "db1",
      "ssh://postgres@db.example.com",
      "/keys/prod",
    ]);
    assert.deepEqual(a.groups.find((g) => g[0] === "prod"), ["prod", ["db1", "web1", "web2"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveHost() layers defaults, groups and the host; rules host first", async () => {
  const dir = await tempFiles({
    "yonder.yaml": [
      "defaults: {timeout: 10, connect_timeout: 5, identity_file: keys/id}",
      "hosts:",
      "  web1: {target: deploy@web1, timeout: 1m}",
      "  web2: deploy@web2",
      "groups:",
      "  web: {hosts: [web1, web2], connect_timeout: 2, policy: {rules: [{id: g, decision: allow, program: make}]}}",
      "policy:",
      "  mode: allowlist",
      "  rules: [{id: ls, decision: allow, program: ls}]",
      "  paths: {read: [/srv]}",
      "audit: {args: none}",
      "",
    ].join("\n"),
  });
  try {
    const c = await loadConfig(`${dir}/yonder.yaml`);
    const vars = env({ HOME: "/home/u", XDG_STATE_HOME: "/state" });
    const r1 = resolveHost(c, "web1", vars);
    assert.deepEqual(r1.settings, {
      timeout: 60,
      connectTimeout: 2,
      identityFile: `${dir}/keys/id`,
    });
    assert.deepEqual(r1.policy?.rules.map((r) => r.id), ["g", "ls"]);
    assert.deepEqual(r1.paths, { read: ["/srv"] });
    assert.deepEqual(r1.audit, {
      path: "/state/yonder/audit.jsonl",
      args: "none",
      required: false,
    });
    const other = resolveHost(c, "someone@else", vars);
    assert.equal(other.target, "someone@else");
    assert.deepEqual(other.policy?.rules.map((r) => r.id), ["ls"]);
    assert.deepEqual(selectHosts(c, "@web"), ["web1", "web2"]);
    assert.deepEqual(selectHosts(c, "@all"), ["web1", "web2"]);
    assert.throws(() => selectHosts(c, "@nope"), /No group "nope"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findConfig() takes --config, then $YONDER_CONFIG, then ./yonder.yaml, then XDG", async () => {
  const dir = await tempFiles({ "yonder.yaml": "", "other.yaml": "" });
  try {
    await Deno.mkdir(`${dir}/xdg/yonder`, { recursive: true });
    await Deno.writeTextFile(`${dir}/xdg/yonder/config.yaml`, "");
    const vars = { XDG_CONFIG_HOME: `${dir}/xdg`, YONDER_CONFIG: `${dir}/other.yaml` };
    assert.equal(
      await findConfig({ flag: "x.yaml", env: env(vars), cwd: dir }).catch(() => "missing"),
      "missing",
    );
    assert.equal(await findConfig({ env: env(vars), cwd: dir }), `${dir}/other.yaml`);
    assert.equal(
      await findConfig({ env: env({ XDG_CONFIG_HOME: `${dir}/xdg` }), cwd: dir }),
      `${dir}/yonder.yaml`,
    );
    assert.equal(
      await findConfig({ env: env({ XDG_CONFIG_HOME: `${dir}/xdg` }), cwd: `${dir}/xdg` }),
      `${dir}/xdg/yonder/config.yaml`,
    );
    assert.equal(await findConfig({ env: env({ HOME: dir }), cwd: `${dir}/xdg` }), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkProtected() refuses a config others can write or under a write root", async () => {
  const dir = await tempFiles({ "yonder.yaml": "" });
  const file = `${dir}/yonder.yaml`;
  try {
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(file, 0o666);
    await assert.rejects(
      checkProtected(file, { sameMachine: false, paths: null }),
      /writable by other users/,
    );
    await Deno.chmod(file, 0o644);
    await Deno.chmod(dir, 0o777);
    await assert.rejects(
      checkProtected(file, { sameMachine: false, paths: null }),
      /directory .* writable by other/,
    );
    await Deno.chmod(dir, 0o755);
    assert.deepEqual(await checkProtected(file, { sameMachine: false, paths: null }), []);
    await assert.rejects(
      checkProtected(file, { sameMachine: true, paths: { write: [dir] } }),
      /lies under the write root/,
    );
    assert.deepEqual(
      await checkProtected(file, { sameMachine: true, paths: { write: ["/nowhere"] } }),
      [],
    );
    const warnings = await checkProtected(file, { sameMachine: true, paths: null });
    assert.match(warnings[0] ?? "", /can be changed by what it allows/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
