/**
 * The choke point: every operation of the contract suites, run through `withHooks`, passes
 * `before` and `after` exactly once, and nothing reaches the wrapped environment around them.
 */
import assert from "node:assert/strict";
import type { Environment } from "../lib/core/environment.ts";
import { type Operation, type Outcome, withHooks } from "../lib/core/hooks.ts";
import { UsageError } from "../lib/core/errors.ts";
import { LocalEnvironment } from "../lib/local/environment.ts";
import { runExecContract } from "./_contract.ts";
import { fileContract } from "./_files_contract.ts";
import { runSpawnContract } from "./_spawn_contract.ts";

async function localProbe(script: string) {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: "" };
}

/** `env` with every method call from outside counted (its own inner calls go to itself). */
function counted(env: Environment): { env: Environment; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(env, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof v !== "function" || typeof key !== "string") return v;
      return (...args: unknown[]) => {
        calls.push(key);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { env: proxy, calls };
}

function recorder() {
  const before: Operation[] = [];
  const after: [Operation, Outcome][] = [];
  return {
    before,
    after,
    hooks: {
      before: (op: Operation) => void before.push(op),
      after: (op: Operation, o: Outcome) => void after.push([op, o]),
    },
  };
}

Deno.test("hooks see every operation of the exec, spawn and file contracts", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "yonder-hooks-" });
  const local = await Deno.makeTempDir({ prefix: "yonder-hooks-local-" });
  const inner = counted(new LocalEnvironment());
  const rec = recorder();
  const env = withHooks(inner.env, rec.hooks);
  try {
    await runExecContract(t, env, localProbe);
    await runSpawnContract(t, env, localProbe, { stdin: true });
    await fileContract(t, env, root, local);
  } finally {
    await env.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(local, { recursive: true });
  }
  const ops = (list: { name: string }[]) => list.map((o) => o.name);
  // Each operation was seen before and after, once, in the order the suites made them.
  assert.equal(rec.before.length, rec.after.length);
  assert.deepEqual(ops(rec.after.map(([op]) => op)).sort(), ops(rec.before).sort());
  // Nothing reached the backend around the hooks: one backend call per operation (spawn runs
  // as the backend's exec), plus the close.
  const reached = inner.calls.filter((c) => c !== "close");
  assert.deepEqual(
    reached,
    ops(rec.before).map((n) => (n === "spawn" ? "exec" : n)),
  );
  const names = new Set(ops(rec.before));
  for (
    const n of [
      "exec",
      "spawn",
      "readFile",
      "readFileStream",
      "writeFile",
      "upload",
      "download",
      "stat",
      "list",
      "remove",
      "mkdir",
    ]
  ) assert.ok(names.has(n), `no ${n} was seen`);
  assert.ok(rec.before.length > 100, `only ${rec.before.length} operations seen`);
  // Failures are seen too, with their error.
  assert.ok(rec.after.some(([, o]) => !o.ok && !o.refused));
});

Deno.test("hooks see push and pull once each, and env.$ as an exec", async () => {
  const src = await Deno.makeTempDir({ prefix: "yonder-hooks-src-" });
  const dst = await Deno.makeTempDir({ prefix: "yonder-hooks-dst-" });
  const back = await Deno.makeTempDir({ prefix: "yonder-hooks-back-" });
  try {
    await Deno.writeTextFile(`${src}/a.txt`, "a\n");
    const rec = recorder();
    await using env = withHooks(new LocalEnvironment(), rec.hooks);
    await env.push(src, dst);
    await env.pull(dst, back);
    assert.equal(await env.$`cat ${`${back}/a.txt`}`.text(), "a");
    assert.deepEqual(rec.before.map((o) => o.name), ["push", "pull", "exec"]);
    assert.deepEqual(rec.before[0]!.args.slice(0, 2), [src, dst]);
    assert.equal(typeof rec.before[2]!.args[0], "string");
  } finally {
    for (const d of [src, dst, back]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("a before hook that throws refuses the operation: nothing runs", async () => {
  const marker = await Deno.makeTempFile();
  await Deno.remove(marker);
  const inner = counted(new LocalEnvironment());
  const seen: Outcome[] = [];
  await using env = withHooks(inner.env, {
    before(op) {
      if (op.name !== "stat") throw new UsageError(`${op.name} refused`);
    },
    after: (_op, o) => void seen.push(o),
  });
  await assert.rejects(env.exec(["touch", marker]), /exec refused/);
  const child = env.spawn(["touch", marker]);
  await assert.rejects(child.status, /spawn refused/);
  await assert.rejects(new Response(child.stdout).text(), /spawn refused/);
  await assert.rejects(env.writeFile(marker, "x"), /writeFile refused/);
  await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
  assert.deepEqual(inner.calls, []);
  assert.equal(seen.length, 3);
  assert.ok(seen.every((o) => !o.ok && o.refused));
  // An allowed operation goes through.
  assert.equal((await env.stat("/")).type, "dir");
});

Deno.test("an after hook that throws does not fail the call; onHookError hears it", async () => {
  const errors: unknown[] = [];
  await using env = withHooks(new LocalEnvironment(), {
    after() {
      throw new Error("audit sink down");
    },
    onHookError: (e) => void errors.push(e),
  });
  assert.equal((await env.exec(["true"])).code, 0);
  assert.equal(errors.length, 1);
});

Deno.test("an onHookError that throws changes nothing: after runs once, the call keeps its result", async () => {
  const seen: boolean[] = [];
  await using env = withHooks(new LocalEnvironment(), {
    after(_op, o) {
      seen.push(o.ok);
      throw new Error("audit sink down");
    },
    onHookError() {
      throw new Error("and its handler too");
    },
  });
  assert.equal((await env.exec(["true"])).code, 0);
  assert.deepEqual(seen, [true]);
});

Deno.test("hooks over hooks: the inner layer sees a spawn as the spawn the caller made", async () => {
  const inner = recorder();
  const outer = recorder();
  await using env = withHooks(withHooks(new LocalEnvironment(), inner.hooks), outer.hooks);
  const child = env.spawn(["echo", "hi"], { timeoutMs: 5000 });
  assert.equal(await new Response(child.stdout).text(), "hi\n");
  await child.status;
  for (const rec of [inner, outer]) {
    assert.deepEqual(rec.before.map((o) => o.name), ["spawn"]);
    assert.deepEqual(rec.before[0]!.args, [["echo", "hi"], { timeoutMs: 5000 }]);
  }
});

Deno.test("a refused spawn with a piped stdin: writes fail, they do not wait", async () => {
  await using env = withHooks(new LocalEnvironment(), {
    before() {
      throw new UsageError("no");
    },
  });
  const child = env.spawn(["cat"], { stdin: "piped" });
  await assert.rejects(child.status, UsageError);
  await assert.rejects(child.stdin.getWriter().write(new Uint8Array([1])));
});
