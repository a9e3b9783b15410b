import assert from "node:assert/strict";
import { SandboxError, withSandbox } from "../../lib/config/sandbox.ts";
import { PolicyRefused } from "../../lib/core/policy.ts";
import { bwrapPrefix, sandboxFailure } from "../../lib/posix/sandbox.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { LocalEnvironment } from "../../lib/local/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

const dec = new TextDecoder();

Deno.test("bwrapPrefix() builds the sandbox: read-only root, write binds, private /tmp, no net", () => {
  assert.deepEqual(bwrapPrefix({ kind: "bwrap", write: ["/srv/app"] }), [
    "bwrap",
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-net",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    "--bind-try",
    "/srv/app",
    "/srv/app",
    "--",
  ]);
  const some = bwrapPrefix({
    kind: "bwrap",
    write: [],
    read: ["/srv/data"],
    network: true,
    tmp: "shared",
    program: "/opt/bwrap",
  });
  assert.equal(some[0], "/opt/bwrap");
  assert.ok(!some.includes("--unshare-net"));
  assert.ok(!some.includes("--tmpfs"));
  assert.ok(!some.join(" ").includes("--ro-bind / /"));
  assert.ok(some.join(" ").includes("--ro-bind-try /usr /usr"));
  assert.ok(some.join(" ").includes("--ro-bind-try /srv/data /srv/data"));
});

Deno.test("sandboxFailure() names missing bwrap and disabled user namespaces", () => {
  assert.equal(sandboxFailure(0, ""), null);
  assert.equal(sandboxFailure(10, "")?.kind, "missing");
  assert.match(sandboxFailure(10, "")!.hint, /apt install bubblewrap/);
  const userns = sandboxFailure(11, "bwrap: No permissions to create new namespace, likely…\n");
  assert.equal(userns?.kind, "userns");
  assert.match(userns!.hint, /user namespaces/);
  assert.equal(sandboxFailure(11, "bwrap: Can't mount proc on /newroot/proc\n")?.kind, "failed");
});

Deno.test("withSandbox() refuses relative paths before anything runs", () => {
  assert.throws(
    () => withSandbox(new LocalEnvironment(), { kind: "bwrap", write: ["work"] }),
    SandboxError,
  );
});

liveSshTest(
  "sandbox: writes only where allowed, no network, a timeout kills the tree",
  async () => {
    await using host = await openLiveHost();
    const home = (await host.remote('printf %s "$HOME"')).stdout;
    // Not under /tmp: the sandbox's /tmp is its own.
    const root = `${home}/yonder-sandbox-${crypto.randomUUID()}`;
    await host.remote(`mkdir -p '${root}/in' '${root}/out'`);
    try {
      for (const session of ["stateless", false] as const) {
        await using ssh = await SshEnvironment.open(host.target, { ...host.connect, session });
        const env = withSandbox(ssh, { kind: "bwrap", write: [`${root}/in`] });
        const inside = await env.exec([
          "sh",
          "-c",
          `echo hi > '${root}/in/f' && cat '${root}/in/f'`,
        ]);
        assert.deepEqual([inside.code, dec.decode(inside.stdout)], [0, "hi\n"], `${session}`);
        const outside = await env.exec(["sh", "-c", `echo x > '${root}/out/f'`]);
        assert.notEqual(outside.code, 0);
        assert.match(dec.decode(outside.stderr), /Read-only file system/);
        const homeWrite = await env.exec(["touch", `${home}/yonder-sandbox-escape`]);
        assert.notEqual(homeWrite.code, 0);
        const net = await env.exec("bash -c 'echo > /dev/tcp/127.0.0.1/22'");
        assert.notEqual(net.code, 0, "the network is reachable in the sandbox");
        // A private /tmp: what the call writes there is gone afterwards.
        assert.equal(
          (await env.exec("echo x > /tmp/yonder-private && cat /tmp/yonder-private")).code,
          0,
        );
        // The tree goes with a timeout: a background sleep in the sandbox included.
        const mark = String(4000 + Math.floor(Math.random() * 5000));
        const t = await env.exec(["sh", "-c", `sleep ${mark} & sleep ${Number(mark) + 1}`], {
          timeoutMs: 800,
        });
        assert.equal(t.timedOut, true);
        const left = await host.remote(
          `sleep 0.5; ps -eo args= | grep -E '^sleep (${mark}|${Number(mark) + 1})$' || true`,
        );
        assert.equal(left.stdout, "", `left running: ${left.stdout}`);
        // A spawned command is sandboxed too.
        const child = env.spawn(["sh", "-c", `touch '${root}/out/g'`]);
        assert.notEqual((await child.status).code, 0);
        // yonder's own file operations: writes only under the write paths.
        await env.writeFile(`${root}/in/w`, "ok");
        await assert.rejects(env.writeFile(`${root}/out/w`, "no"), PolicyRefused);
      }
      assert.equal(
        (await host.remote(
          `ls '${root}/out'; ls /tmp/yonder-private '${home}/yonder-sandbox-escape' 2>/dev/null || true`,
        ))
          .stdout,
        "",
      );
    } finally {
      await host.remote(`rm -rf '${root}'`);
    }
  },
);

liveSshTest(
  "sandbox: no bwrap, or no user namespaces, is a typed error and nothing runs",
  async () => {
    await using host = await openLiveHost();
    await using ssh = await SshEnvironment.open(host.target, { ...host.connect });
    const marker = `/tmp/yonder-nosandbox-${crypto.randomUUID()}`;
    const fake = `/tmp/yonder-fake-bwrap-${crypto.randomUUID()}`;
    try {
      const missing = withSandbox(ssh, { kind: "bwrap", write: [], program: "/nonexistent/bwrap" });
      const e = await missing.exec(["touch", marker]).catch((e) => e);
      assert.ok(e instanceof SandboxError, String(e));
      assert.equal(e.kind, "missing");
      // A bwrap that cannot make namespaces (what a host with them disabled prints).
      await host.remote(
        `printf '#!/bin/sh\\necho "bwrap: No permissions to create new namespace" >&2\\nexit 1\\n' > '${fake}' && chmod +x '${fake}'`,
      );
      const userns = withSandbox(ssh, { kind: "bwrap", write: [], program: fake });
      const u = await userns.exec(["touch", marker]).catch((e) => e);
      assert.ok(u instanceof SandboxError, String(u));
      assert.equal(u.kind, "userns");
      assert.match(u.message, /No permissions to create new namespace/);
      assert.equal(
        (await host.remote(`test -e '${marker}' && echo ran || echo none`)).stdout,
        "none\n",
      );
    } finally {
      await host.remote(`rm -f '${marker}' '${fake}'`);
    }
  },
);

Deno.test("sandbox on the local backend: read-only outside the write paths", async () => {
  const which = await new Deno.Command("sh", { args: ["-c", "command -v bwrap"] }).output();
  if (which.code !== 0) {
    if (Deno.env.get("CI") === "true") throw new Error("bwrap is not installed");
    // deno-lint-ignore no-console
    console.error("local sandbox test skipped: bwrap is not installed (apt install bubblewrap)");
    return;
  }
  const home = Deno.env.get("HOME") ?? "/root";
  const dir = await Deno.makeTempDir({ dir: home, prefix: "yonder-local-sandbox-" });
  try {
    await Deno.mkdir(`${dir}/in`);
    await using env = withSandbox(new LocalEnvironment(), { kind: "bwrap", write: [`${dir}/in`] });
    const inside = await env.exec(["sh", "-c", `echo ok > '${dir}/in/f' && cat '${dir}/in/f'`]);
    assert.deepEqual([inside.code, dec.decode(inside.stdout)], [0, "ok\n"]);
    const outside = await env.exec(`echo x > '${dir}/f'`);
    assert.notEqual(outside.code, 0);
    assert.match(dec.decode(outside.stderr), /Read-only file system/);
    await assert.rejects(Deno.stat(`${dir}/f`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
