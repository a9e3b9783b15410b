/** Port forwarding over the open connection: parsing, and live -L, -R, -D with port 0. */
import assert from "node:assert/strict";
import { forwardArg, parseForward } from "../../lib/ssh/forward.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { connFlags, hostEntry, MAIN } from "../cli/_run.ts";

Deno.test("parseForward: ssh's -L/-R/-D syntax, IPv6 in brackets, bad ports refused", () => {
  assert.deepEqual(parseForward("local", "8080:localhost:80"), {
    kind: "local",
    port: 8080,
    host: "localhost",
    hostPort: 80,
  });
  assert.deepEqual(parseForward("remote", "0.0.0.0:0:[::1]:22"), {
    kind: "remote",
    bind: "0.0.0.0",
    port: 0,
    host: "::1",
    hostPort: 22,
  });
  assert.deepEqual(parseForward("dynamic", "1080"), { kind: "dynamic", port: 1080 });
  assert.deepEqual(parseForward("dynamic", "[::1]:0"), { kind: "dynamic", bind: "::1", port: 0 });
  assert.equal(
    forwardArg(parseForward("remote", "0.0.0.0:0:[::1]:22"), 4242),
    "0.0.0.0:4242:[::1]:22",
  );
  for (const bad of ["80", "x:h:1", "1:h:70000", "1::2", ""]) {
    assert.throws(() => parseForward("local", bad), /Bad/, bad);
  }
  assert.throws(() => parseForward("dynamic", "a:b:c"), /Bad -D/);
});

/** Resolves once nothing accepts on `port` any more; rejects after `ms`. */
async function refusedWithin(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch {
      return;
    }
    if (Date.now() > end) throw new Error(`port ${port} still accepts after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An echo server here; returns its port and a stopper. */
function echoServer(): { port: number; close: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of l) {
      (async () => {
        try {
          await conn.readable.pipeTo(conn.writable);
        } catch { /* the peer went away */ }
      })();
    }
  })().catch(() => {});
  return { port: (l.addr as Deno.NetAddr).port, close: () => l.close() };
}

/** Sends `text` through `port` (after `greet`, for SOCKS) and reads it back. */
async function roundTrip(
  port: number,
  text: string,
  greet?: (c: Deno.TcpConn) => Promise<void>,
): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    if (greet) await greet(c);
    await c.write(new TextEncoder().encode(text));
    const buf = new Uint8Array(text.length);
    let got = 0;
    while (got < buf.length) {
      const n = await c.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return new TextDecoder().decode(buf.subarray(0, got));
  } finally {
    c.close();
  }
}

/** A SOCKS5 greeting and CONNECT to 127.0.0.1:`to`. */
function socks(to: number) {
  return async (c: Deno.TcpConn) => {
    await c.write(new Uint8Array([5, 1, 0]));
    const hello = new Uint8Array(2);
    await c.read(hello);
    await c.write(new Uint8Array([5, 1, 0, 1, 127, 0, 0, 1, to >> 8, to & 255]));
    const reply = new Uint8Array(10);
    let got = 0;
    while (got < 10) got += (await c.read(reply.subarray(got))) ?? 10;
    assert.equal(reply[1], 0, "SOCKS CONNECT refused");
  };
}

liveSshTest(
  "forward: -L, -R and -D on port 0 carry bytes; closing one frees its port",
  async () => {
    await using host = await openLiveHost();
    if (host.kind !== "native") return; // the echo server lives on this machine
    const echo = echoServer();
    try {
      await using env = await SshEnvironment.open(host.target, { ...host.connect });
      const local = await env.forward({
        kind: "local",
        port: 0,
        host: "127.0.0.1",
        hostPort: echo.port,
      });
      assert.ok(local.port > 0);
      assert.equal(await roundTrip(local.port, "through -L"), "through -L");
      const remote = await env.forward({
        kind: "remote",
        port: 0,
        host: "127.0.0.1",
        hostPort: echo.port,
      });
      assert.ok(remote.port > 0 && remote.port !== local.port);
      assert.equal(await roundTrip(remote.port, "through -R"), "through -R");
      await using dyn = await env.forward({ kind: "dynamic", port: 0 });
      assert.equal(await roundTrip(dyn.port, "through -D", socks(echo.port)), "through -D");
      await local.close();
      await refusedWithin(local.port, 3000);
      await remote.close();
      // sshd closes a remote listener when the cancel request reaches it, a moment after
      // ssh -O cancel returned.
      await refusedWithin(remote.port, 3000);
    } finally {
      echo.close();
    }
  },
);

liveSshTest("yonder forward: prints the port, forwards until Ctrl-C, then lets go", async () => {
  await using host = await openLiveHost();
  if (host.kind !== "native") return;
  const echo = echoServer();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        MAIN,
        "forward",
        ...connFlags(host),
        "--json",
        "-L",
        `0:127.0.0.1:${echo.port}`,
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const info = JSON.parse(text.split("\n")[0]!);
    assert.equal(info.kind, "local");
    assert.equal(await roundTrip(info.port, "cli"), "cli");
    child.kill("SIGINT");
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    const status = await child.status;
    await child.stderr.cancel().catch(() => {});
    assert.equal(status.code, 130);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: info.port }));
  } finally {
    echo.close();
  }
});

liveSshTest("yonder forward refuses a host the config fences (policy or audit)", async () => {
  await using host = await openLiveHost();
  const dir = await Deno.makeTempDir({ prefix: "yonder-forward-fenced-" });
  try {
    const config = `${dir}/yonder.yaml`;
    await Deno.writeTextFile(
      config,
      [
        "hosts:",
        ...hostEntry(host, "box"),
        `audit: {path: ${JSON.stringify(`${dir}/a.jsonl`)}}`,
        "",
      ]
        .join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        MAIN,
        "forward",
        "--config",
        config,
        "-r",
        "box",
        "-L",
        "0:127.0.0.1:22",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /cannot forward ports/);
    assert.equal(new TextDecoder().decode(out.stdout), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
