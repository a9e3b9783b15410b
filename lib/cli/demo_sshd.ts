/**
 * A throwaway OpenSSH server on loopback for `yonder demo`: ephemeral ed25519 keys in a private
 * temp dir, listening on a few ports ("hosts"), logging in as the user who runs the demo. Nothing
 * outside its temp dir is touched; stopping it removes everything.
 */

import { UsageError } from "../core/errors.ts";
import { freeTcpPorts } from "../util/net.ts";

/** The loopback server. */
export interface DemoSshd extends AsyncDisposable {
  /** Its private directory (keys, config, known_hosts). */
  dir: string;
  /** The ports it listens on, one per demo host. */
  ports: number[];
  /** The account to log in as. */
  user: string;
  /** The client key. */
  identityFile: string;
  /** A known_hosts file that trusts its host key on every port. */
  knownHostsFile: string;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** Where sshd is, or undefined. */
export function findSshd(env: (name: string) => string | undefined): string | undefined {
  const dirs = ["/usr/sbin", "/usr/local/sbin", "/sbin", ...(env("PATH") ?? "").split(":")];
  for (const dir of dirs) {
    try {
      const info = Deno.statSync(`${dir}/sshd`);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return `${dir}/sshd`;
    } catch {
      // not there
    }
  }
  return undefined;
}

async function run(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output()
    .catch((e) => {
      throw new UsageError(`${program} cannot run: ${e instanceof Error ? e.message : e}`, {
        hint:
          "Install the OpenSSH client and server (Debian: apt-get install openssh-client openssh-server)",
      });
    });
  if (out.code !== 0) {
    throw new UsageError(
      `${program} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Waits until `port` accepts a connection (sshd is up), or sshd exited. */
async function waitListening(
  port: number,
  exited: () => boolean,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited()) {
      throw new UsageError(
        `The demo sshd exited: ${log().trim().split("\n").slice(-3).join(" / ")}`,
      );
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new UsageError("The demo sshd did not start listening within 10 s");
}

/** Starts the demo server with `hosts` ports. */
export async function startDemoSshd(sshd: string, hosts: number): Promise<DemoSshd> {
  const user = (await run("id", ["-un"])).trim();
  const dir = await Deno.makeTempDir({ prefix: "yonder-demo-" });
  let child: Deno.ChildProcess | null = null;
  const stop = async () => {
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      child = null;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const key = (name: string) =>
      run("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        `yonder-demo-${name}`,
        "-f",
        `${dir}/${name}`,
      ]);
    await Promise.all([key("host_ed25519"), key("client_ed25519")]);
    const hostPub = (await Deno.readTextFile(`${dir}/host_ed25519.pub`)).trim().split(" ").slice(
      0,
      2,
    ).join(" ");
    await Deno.copyFile(`${dir}/client_ed25519.pub`, `${dir}/authorized_keys`);
    const ports = freeTcpPorts(hosts);
    await Deno.writeTextFile(
      `${dir}/known_hosts`,
      ports.map((p) => `[127.0.0.1]:${p} ${hostPub}\n`).join(""),
    );
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        ...ports.map((p) => `ListenAddress 127.0.0.1:${p}`),
        `HostKey ${dir}/host_ed25519`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        `AllowUsers ${user}`,
        `PermitRootLogin ${user === "root" ? "prohibit-password" : "no"}`,
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "StrictModes no",
        "AllowTcpForwarding yes",
        "PrintMotd no",
        "UseDNS no",
        "LogLevel ERROR",
        "",
      ].join("\n"),
    );
    let exited = false;
    const started = new Deno.Command(sshd, {
      args: ["-D", "-e", "-f", `${dir}/sshd_config`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    child = started;
    let log = "";
    (async () => {
      for await (const c of started.stderr.pipeThrough(new TextDecoderStream())) log += c;
    })().catch(() => {});
    started.status.then(() => (exited = true));
    for (const p of ports) await waitListening(p, () => exited, () => log);
    return {
      dir,
      ports,
      user,
      identityFile: `${dir}/client_ed25519`,
      knownHostsFile: `${dir}/known_hosts`,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
