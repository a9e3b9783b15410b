import assert from "node:assert/strict";
import { guard } from "../../lib/config/guard.ts";
import { PolicyRefused } from "../../lib/core/policy.ts";
import { LocalEnvironment } from "../../lib/local/environment.ts";
import { verifyAudit } from "../../lib/core/audit.ts";

Deno.test("guard() checks local file operations against resolved path roots", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "yonder-guard-" }));
  try {
    await Deno.mkdir(`${dir}/data/out`, { recursive: true });
    await Deno.writeTextFile(`${dir}/data/a`, "a");
    await Deno.writeTextFile(`${dir}/secret`, "s");
    await Deno.symlink(`${dir}/secret`, `${dir}/data/link`);
    await Deno.symlink(`${dir}/nowhere`, `${dir}/data/out/dangling`);
    await using env = guard(new LocalEnvironment(), {
      paths: { read: [`${dir}/data`], write: [`${dir}/data/out`] },
    });
    assert.equal(new TextDecoder().decode(await env.readFile(`${dir}/data/a`)), "a");
    await assert.rejects(env.readFile(`${dir}/data/link`), PolicyRefused);
    await assert.rejects(env.readFile(`${dir}/data/../secret`), PolicyRefused);
    await assert.rejects(env.writeFile(`${dir}/data/b`, "x"), PolicyRefused);
    // A path that does not exist yet resolves through its existing parent.
    await env.writeFile(`${dir}/data/out/new`, "x");
    await assert.rejects(env.writeFile(`${dir}/data/out/../../x`, "x"), PolicyRefused);
    // A dangling symlink cannot be resolved: refused, not written through.
    await assert.rejects(env.writeFile(`${dir}/data/out/dangling`, "x"));
    await assert.rejects(Deno.stat(`${dir}/nowhere`), Deno.errors.NotFound);
    // The local side of a transfer on this machine counts too.
    await assert.rejects(env.upload(`${dir}/secret`, `${dir}/data/out/copy`), PolicyRefused);
    // Commands are not restricted without a policy.
    assert.equal((await env.exec(["true"])).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("guard() logs approvals and decisions; a refusal runs nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yonder-guard-" });
  const log = `${dir}/audit.jsonl`;
  try {
    const answers = ["no", "alice"];
    await using env = guard(new LocalEnvironment(), {
      policy: {
        rules: [
          { id: "echo", decision: "allow", program: "echo", more: true },
          { id: "touch", decision: "approve", program: "touch", more: true },
        ],
      },
      approve: () => {
        const a = answers.shift();
        return a === "no" ? false : a ?? false;
      },
      audit: { path: log, host: "here" },
    });
    assert.equal((await env.exec(["echo", "hi"])).code, 0);
    await assert.rejects(env.exec(["touch", `${dir}/m`]), PolicyRefused);
    await assert.rejects(Deno.stat(`${dir}/m`), Deno.errors.NotFound);
    assert.equal((await env.exec(["touch", `${dir}/m`])).code, 0);
    await assert.rejects(env.exec(["rm", `${dir}/m`]), PolicyRefused);
    const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => [l.event, l.decision, l.rule, l.approver ?? null, l.host]),
      [
        ["exec", "allow", "echo", null, "here"],
        ["refused", "approve", "touch", null, "here"],
        ["approved", "approve", "touch", "alice", "here"],
        ["exec", "approve", "touch", "alice", "here"],
        ["refused", "deny", "default", null, "here"],
      ],
    );
    assert.equal(lines[0].stdout_bytes, 3);
    assert.ok((await verifyAudit(log)).ok);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
