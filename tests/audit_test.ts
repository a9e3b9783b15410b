import assert from "node:assert/strict";
import { appendAudit, auditHooks, verifyAudit } from "../lib/core/audit.ts";
import { withHooks } from "../lib/core/hooks.ts";
import { policyHooks } from "../lib/core/policy.ts";
import { LocalEnvironment } from "../lib/local/environment.ts";
import { runCli } from "./cli/_run.ts";

async function withLog(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "yonder-audit-" });
  try {
    await fn(`${dir}/audit.jsonl`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const lines = async (p: string) => (await Deno.readTextFile(p)).trimEnd().split("\n");

Deno.test("audit: 4 processes × 250 appends make 1000 whole lines in one unbroken chain", async () => {
  await withLog(async (path) => {
    const mod = new URL("../lib/core/audit.ts", import.meta.url).href;
    const code = `const { appendAudit } = await import(${JSON.stringify(mod)});
      for (let i = 0; i < 250; i++) await appendAudit(Deno.args[0], { event: "exec", w: Deno.args[1], i });`;
    const workers = [0, 1, 2, 3].map((w) =>
      new Deno.Command(Deno.execPath(), { args: ["eval", code, path, String(w)] }).output()
    );
    for (const out of await Promise.all(workers)) {
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    }
    const all = await lines(path);
    assert.equal(all.length, 1000);
    for (const l of all) JSON.parse(l);
    const v = await verifyAudit(path);
    assert.deepEqual([v.ok, v.ok && v.lines], [true, 1000]);
  });
});

Deno.test("audit: an edited, deleted or inserted line is found at that line", async () => {
  await withLog(async (path) => {
    for (let i = 0; i < 6; i++) await appendAudit(path, { event: "exec", i });
    const good = await lines(path);
    const check = async (edited: string[]) => {
      await Deno.writeTextFile(path, edited.join("\n") + "\n");
      return await verifyAudit(path);
    };
    const edit = [...good];
    edit[2] = edit[2]!.replace('"i":2', '"i":9');
    assert.deepEqual(await check(edit), {
      ok: false,
      line: 3,
      reason: "the line does not match its own hash (edited)",
    });
    const deleted = good.filter((_, i) => i !== 3);
    const d = await check(deleted);
    assert.equal(!d.ok && d.line, 4);
    const inserted = [...good.slice(0, 2), good[4]!, ...good.slice(2)];
    const ins = await check(inserted);
    assert.equal(!ins.ok && ins.line, 3);
    const v = await check(good);
    assert.equal(v.ok, true);
    // The CLI says the same, with exit 1 for a broken chain.
    assert.equal((await runCli(["audit", "verify", path])).code, 0);
    await check(edit);
    const r = await runCli(["audit", "verify", path]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^broken at line 3: /);
  });
});

Deno.test("audit hooks: a line per call and per refusal, arguments hashed, never output", async () => {
  await withLog(async (path) => {
    await using local = new LocalEnvironment();
    const policy = policyHooks({
      rules: [{ id: "printf", decision: "allow", program: "printf", more: true }],
    });
    // The audit hooks outside the policy's: they see its refusals.
    const env = withHooks(withHooks(local, policy), auditHooks({ path }));
    await env.exec(["printf", "secret-argument-%s", "s3cr3t"], { env: { TOKEN: "value-123" } });
    await assert.rejects(env.exec(["rm", "-rf", "/nonexistent-yonder"]));
    const text = await Deno.readTextFile(path);
    for (const leak of ["secret-argument", "s3cr3t", "value-123", "/nonexistent-yonder"]) {
      assert.ok(!text.includes(leak), `${leak} is in the log`);
    }
    const [run, refused] = (await lines(path)).map((l) => JSON.parse(l));
    assert.equal(run.event, "exec");
    assert.equal(run.argv0, "printf");
    assert.equal(run.code, 0);
    assert.equal(run.args, null);
    assert.match(run.argv_sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(run.env_names, ["TOKEN"]);
    assert.equal(refused.event, "refused");
    assert.equal(refused.argv0, "rm");
    assert.equal(refused.rule, "default");
    assert.equal((await verifyAudit(path)).ok, true);
  });
});

Deno.test("audit hooks: required refuses when the log cannot be written; otherwise the call runs", async () => {
  await using local = new LocalEnvironment();
  const path = "/nonexistent-yonder-dir/audit.jsonl";
  const errors: unknown[] = [];
  const lax = withHooks(
    new LocalEnvironment(),
    auditHooks({ path, onError: (e) => errors.push(e) }),
  );
  assert.equal((await lax.exec(["true"])).code, 0);
  // The line is written behind the call; close() waits for it, and the failure is reported.
  await lax.close();
  assert.equal(errors.length, 1, "the failure is reported");
  const strict = withHooks(local, auditHooks({ path, required: true, onError: () => {} }));
  await assert.rejects(strict.exec(["true"]), /audit log .* cannot be written/);
});
