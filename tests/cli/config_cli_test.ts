/** The CLI's config commands and how -r, exec defaults and config errors behave (no sshd). */
import assert from "node:assert/strict";
import { main } from "../../lib/cli/main.ts";
import { fakeIo } from "./_io.ts";

async function withConfig(
  text: string,
  fn: (file: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "yonder-config-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/yonder.yaml`, text);
    await Deno.chmod(`${dir}/yonder.yaml`, 0o644);
    await fn(`${dir}/yonder.yaml`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CONFIG = [
  "defaults: {timeout: 1}",
  "hosts:",
  "  web1: deploy@web1.example.com",
  "  web2: {target: 'ssh://deploy@web2.example.com:2222', max_output: 4}",
  "groups:",
  "  web: {hosts: [web1, web2]}",
  "  one: {hosts: [web2]}",
  "",
].join("\n");

Deno.test("yonder config check prints the resolved model; a typo exits 2 with its place", async () => {
  await withConfig(CONFIG, async (file) => {
    const io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(await main(["config", "check", "--config", file, "--json"], io), 0);
    const model = JSON.parse(io.out());
    assert.deepEqual(model.hosts.map((h: { name: string }) => h.name), ["web1", "web2"]);
    assert.deepEqual(model.hosts[1].settings, { timeout: 1, maxOutput: 4 });
    assert.deepEqual(
      model.groups.map((g: { name: string; members: string[] }) => [g.name, g.members]),
      [["web", ["web1", "web2"]], ["one", ["web2"]], ["all", ["web1", "web2"]]],
    );
  });
  await withConfig("hosts:\n  web1:\n    target: x\n    timout: 3\n", async (file) => {
    const io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(await main(["config", "check", "--config", file], io), 2);
    assert.match(
      io.err(),
      /^yonder: config: .*yonder\.yaml:4:5: hosts\.web1\.timout: unknown key \(did you mean "timeout"\?\)$/m,
    );
  });
});

Deno.test("yonder hosts --json lists hosts with their groups, and groups", async () => {
  await withConfig(CONFIG, async (file) => {
    const io = fakeIo({ HOME: "/nonexistent", YONDER_CONFIG: file });
    assert.equal(await main(["hosts", "--json"], io), 0);
    assert.deepEqual(JSON.parse(io.out()).hosts, [
      { name: "web1", target: "deploy@web1.example.com", groups: ["web"] },
      { name: "web2", target: "ssh://deploy@web2.example.com:2222", groups: ["web", "one"] },
    ]);
  });
});

Deno.test("-r @group needs one host where a command takes one; an unknown group and a bad config exit 2", async () => {
  await withConfig(CONFIG, async (file) => {
    // get takes one host (exec, check, put, push, cat and ls fan out instead).
    let io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(await main(["get", "--config", file, "-r", "@web", "/etc/hostname", "-"], io), 2);
    assert.match(io.err(), /-r @web selects 2 hosts; this command runs on one/);
    assert.match(io.err(), /hint: Name one of them: web1, web2/);
    io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(await main(["exec", "--config", file, "-r", "@nope", "--", "true"], io), 2);
    assert.match(io.err(), /No group "nope"/);
  });
  await withConfig("hosts: [\n", async (file) => {
    const io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(await main(["exec", "--config", file, "--", "true"], io), 2);
    assert.match(io.err(), /^yonder: config: .*yonder\.yaml:\d+:\d+: YAML: /m);
  });
  const io = fakeIo({ HOME: "/nonexistent" });
  assert.equal(await main(["exec", "--config", "/nonexistent/y.yaml", "--", "true"], io), 2);
  assert.match(io.err(), /y\.yaml: not found/);
});

Deno.test("exec takes its timeout and output limit from the config; flags win", async () => {
  await withConfig("defaults: {timeout: 0.5, max_output: 3}\n", async (file, dir) => {
    let io = fakeIo({ HOME: "/nonexistent" });
    const started = performance.now();
    assert.equal(await main(["exec", "--config", file, "--", "sleep", "30"], io), 124);
    assert.ok(performance.now() - started < 20_000);
    io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(
      await main(["exec", "--config", file, "--json", "--", "printf", "abcdef"], io),
      0,
    );
    const r = JSON.parse(io.out());
    assert.deepEqual([r.stdout, r.truncated], ["abc", true]);
    io = fakeIo({ HOME: "/nonexistent" });
    assert.equal(
      await main(["exec", "--config", file, "--timeout", "20", "--", "sleep", "1"], io),
      0,
    );
    // No policy in this config: no audit log either.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["yonder.yaml"]);
  });
});
