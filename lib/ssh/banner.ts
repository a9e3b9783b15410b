/**
 * The server's identification: the first line an SSH server sends (`SSH-2.0-OpenSSH_9.2p1 …`,
 * `SSH-2.0-dropbear_2022.83`), read from a TCP connection of its own. ssh itself only shows it
 * in debug output, which the master's log must not carry (its lines mean trouble there).
 *
 * @module
 */

import type { Target } from "../core/target.ts";
import { withTimeout } from "../util/async.ts";
import { spawn } from "../util/process.ts";
import { pump } from "../util/output.ts";
import { buildSshArgv, type SshConnectOptions } from "./options.ts";

/** What {@linkcode readServerBanner} learned: the banner line, or why it could not be read. */
export type BannerResult = { banner: string } | { reason: string };

/**
 * Reads the server's banner for `target`: ssh's own view of the host and port (`ssh -G`, so
 * ssh_config aliases apply), then a plain TCP connection. A host reached through a jump host or
 * a ProxyCommand is not dialled directly: the reason says so.
 *
 * @example
 * ```ts ignore
 * const r = await readServerBanner({ host: "build-box" }, {});
 * console.log("banner" in r ? r.banner : r.reason);
 * ```
 */
export async function readServerBanner(
  target: Target,
  options: SshConnectOptions,
  timeoutMs = 5000,
): Promise<BannerResult> {
  const config = await sshConfig(target, options);
  if (config === null) return { reason: "ssh -G failed" };
  const proxy = config.get("proxyjump") ?? config.get("proxycommand");
  if (proxy !== undefined && proxy !== "none") {
    return { reason: `reached through ${proxy}; not dialled directly` };
  }
  const hostname = config.get("hostname") ?? target.host;
  const port = Number(config.get("port") ?? 22);
  let conn: Deno.TcpConn | undefined;
  try {
    const connecting = Deno.connect({ hostname, port });
    conn = await withTimeout(connecting, timeoutMs) ?? undefined;
    if (!conn) {
      connecting.then((c) => c.close(), () => {});
      return { reason: `no answer from ${hostname}:${port} in ${timeoutMs} ms` };
    }
    const line = await withTimeout(firstLine(conn), timeoutMs);
    return line !== null && line.startsWith("SSH-")
      ? { banner: line }
      : { reason: `${hostname}:${port} sent no SSH banner` };
  } catch (e) {
    return { reason: `${hostname}:${port}: ${(e as Error).message}` };
  } finally {
    try {
      conn?.close();
    } catch {
      // Closed already.
    }
  }
}

/** The first line the server sends (at most 255 bytes, as the protocol allows). */
async function firstLine(conn: Deno.TcpConn): Promise<string> {
  const buf = new Uint8Array(256);
  let have = 0;
  while (have < buf.length) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) break;
    have += n;
    const nl = buf.subarray(0, have).indexOf(0x0a);
    if (nl >= 0) return new TextDecoder().decode(buf.subarray(0, nl)).replace(/\r$/, "");
  }
  return new TextDecoder().decode(buf.subarray(0, have));
}

/** `ssh -G` for the target: the settings ssh would use, keyed by lower-case keyword. */
async function sshConfig(
  target: Target,
  options: SshConnectOptions,
): Promise<Map<string, string> | null> {
  const child = spawn(options.sshPath ?? "ssh", {
    args: buildSshArgv(target, options, { kind: "config" }),
    stdout: "piped",
  });
  let text = "";
  const dec = new TextDecoder();
  await pump(child.stdout!, (c) => void (text += dec.decode(c, { stream: true })));
  if ((await child.status).code !== 0) return null;
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) out.set(line.slice(0, sp).toLowerCase(), line.slice(sp + 1));
  }
  return out;
}

/**
 * The server software in a banner, for people: `OpenSSH 9.2p1 (Debian-2+deb12u3)`,
 * `Dropbear 2022.83`, or the banner's software field as it is.
 *
 * @example
 * ```ts
 * import { describeBanner } from "./banner.ts";
 * console.log(describeBanner("SSH-2.0-dropbear_2022.83")); // "Dropbear 2022.83"
 * ```
 */
export function describeBanner(banner: string): string {
  const m = /^SSH-[\d.]+-(\S+)(?: (.*))?$/.exec(banner);
  if (!m) return banner;
  const [, software = "", comment] = m;
  const named = /^(OpenSSH|dropbear)_(\S+)$/i.exec(software);
  const name = named
    ? `${/^dropbear$/i.test(named[1]!) ? "Dropbear" : "OpenSSH"} ${named[2]}`
    : software;
  return comment ? `${name} (${comment})` : name;
}
