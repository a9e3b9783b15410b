/**
 * Parses and formats the target of a remote command: which host to reach, as whom, on which port,
 * and (optionally) which remote path.
 *
 * Accepted forms:
 *
 * | form | example | notes |
 * |---|---|---|
 * | URL | `ssh://alice@build-box:2222/srv/app` | user, host and path are percent-decoded |
 * | URL, home-relative | `ssh://alice@build-box/~/app` | path `~/app` |
 * | URL, IPv6 | `ssh://[2001:db8::1]:2222/x`, `ssh://[fe80::1%25eth0]` | brackets required |
 * | user and host | `alice@build-box`, `build-box` | the host may be an ssh_config alias |
 * | bracketed host | `[2001:db8::1]:2222`, `alice@[::1]:/srv` | after `]:` digits are a port |
 * | bare IPv6 | `2001:db8::1`, `alice@fe80::1%eth0` | cannot carry a port: use brackets |
 * | scp-like | `alice@build-box:/srv/app`, `build-box:app` | after the first `:` see below |
 *
 * In the scp-like form the text after the first `:` is a **port** when it is all ASCII digits
 * (`build-box:2222`), nothing when it is empty (`build-box:`), and otherwise a path taken verbatim
 * (not percent-decoded). A relative path such as `app` is relative to the login directory, as with
 * scp. To name a directory whose name is all digits, write `build-box:./2222`.
 *
 * The last `@` before the host separates the user from the host, as in ssh, so a user may contain
 * `@` (`alice@corp.example@build-box` is user `alice@corp.example`).
 *
 * Every error is a {@linkcode TargetError} whose `part` names the wrong part.
 *
 * @example
 * ```ts
 * import { parseTarget, sshDestination } from "./target.ts";
 *
 * const t = parseTarget("ssh://deploy@[2001:db8::1]:2222/srv/app");
 * // t = { user: "deploy", host: "2001:db8::1", port: 2222, path: "/srv/app" }
 * sshDestination(t); // "deploy@2001:db8::1" (the port goes to ssh as -p 2222)
 * ```
 *
 * @module
 */

import { TargetError } from "./errors.ts";

/**
 * Whether `text` is an IPv6 address (without a zone), by the platform's URL parser: the same
 * answer as `node:net`'s `isIPv6`, without the start-up time of loading `node:net`.
 */
function isIPv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * A parsed target: the host to reach and, optionally, the user, port and remote path.
 *
 * @example
 * ```ts
 * import { formatTarget, SshEnvironment, type Target } from "../../mod.ts";
 * const target: Target = { host: "build.example.com", user: "deploy", port: 2222, path: "/srv" };
 * console.log(formatTarget(target)); // "ssh://deploy@build.example.com:2222/srv"
 * await using env = await SshEnvironment.open(target); // commands run in /srv unless told otherwise
 * console.log(env.label);
 * ```
 */
export interface Target {
  /**
   * Hostname, IPv4 address, IPv6 address without brackets (with an optional `%zone`), or an
   * ssh_config alias; passed to ssh untouched.
   */
  host: string;
  /** The remote user; `undefined` when not given (ssh then picks one from its config). */
  user?: string;
  /** The TCP port (1-65535); `undefined` when not given (ssh then picks one from its config). */
  port?: number;
  /** The remote path; `undefined` when not given. Percent-decoded in the URL form. */
  path?: string;
}

/**
 * Parses a target such as `build-box`, `alice@build-box:/srv/app`, `[::1]:2222` or
 * `ssh://alice@build-box:2222/srv/app` (see the module documentation for every form).
 *
 * The returned object has only the keys that were given: `parseTarget("h")` is `{ host: "h" }`.
 *
 * @param input The target text, exactly as the user gave it (not trimmed).
 * @returns The parsed target.
 * @throws {TargetError} When the text is not a valid target; `part` names the part that is wrong.
 *
 * @example
 * ```ts
 * import { parseTarget } from "./target.ts";
 *
 * parseTarget("alice@build-box:/srv/app"); // { user: "alice", host: "build-box", path: "/srv/app" }
 * parseTarget("build-box:2222"); // { host: "build-box", port: 2222 }
 * parseTarget("ssh://[::1]:2222/~/x"); // { host: "::1", port: 2222, path: "~/x" }
 * ```
 */
export function parseTarget(input: string): Target {
  if (input.trim() === "") {
    throw new TargetError(
      "target",
      input,
      `Empty target ${q(input)}: give a host such as "build-box", "user@host" or ` +
        `"ssh://user@host:2222/path"`,
    );
  }
  const scheme = SCHEME_RE.exec(input);
  if (scheme !== null) {
    const name = scheme[1] ?? "";
    if (name.toLowerCase() !== "ssh") {
      throw new TargetError(
        "scheme",
        input,
        `Unknown scheme ${q(name)} in target ${q(input)}: only "ssh://" is supported`,
        { hint: `Write "ssh://user@host:port/path", "user@host" or "user@host:/path"` },
      );
    }
    return parseUrl(input, input.slice(scheme[0].length));
  }
  // "ssh:/host" or "ssh:host" is a URL with a slash missing, not a host named "ssh".
  if (/^ssh:(?!\/\/)/i.test(input) && !/^ssh:\d*$/i.test(input)) {
    throw new TargetError(
      "scheme",
      input,
      `Malformed URL ${q(input)}: "ssh:" must be followed by "//"`,
      { hint: `Write ${q(`ssh://${input.replace(/^ssh:\/*/i, "")}`)}` },
    );
  }
  return parsePlain(input);
}

/**
 * Formats a target as text that {@linkcode parseTarget} reads back to an equal object.
 *
 * The result is the canonical URL `ssh://user@host:port/path`, with an IPv6 host in brackets (a
 * zone as `%25zone`) and the user and path percent-encoded where needed. A path that starts with
 * `~` is written as `/~…`. A relative path (one that starts with neither `/` nor `~`) cannot be
 * written in a URL, so such a target is written in the scp-like form `user@host:path`.
 *
 * @param t The target to format.
 * @returns The target as text.
 * @throws {TargetError} When a part of `t` is invalid (the same rules as `parseTarget`), or the
 *   target has a relative path that the scp-like form cannot carry (with a port, with an IPv6
 *   host, or a path that would read as a port or an IPv6 address).
 *
 * @example
 * ```ts
 * import { formatTarget } from "./target.ts";
 *
 * formatTarget({ user: "alice", host: "2001:db8::1", port: 2222, path: "/srv/my app" });
 * // "ssh://alice@[2001:db8::1]:2222/srv/my%20app"
 * formatTarget({ host: "build-box", path: "app" }); // "build-box:app"
 * ```
 */
export function formatTarget(t: Target): string {
  checkHost(t.host, t.host);
  if (t.user !== undefined) checkUser(t.user, t.user);
  if (t.port !== undefined) checkPortNumber(t.port);
  const userPart = t.user === undefined ? "" : `${encodeURIComponent(t.user)}@`;
  const path = t.path;
  if (path !== undefined) {
    checkPath(path, path);
    if (path === "") {
      throw new TargetError("path", path, `Empty path in target: leave the path out instead`);
    }
    if (!path.startsWith("/") && !path.startsWith("~")) {
      return formatRelative(t, path);
    }
  }
  let hostPart = t.host;
  if (t.host.includes(":")) {
    const zoneAt = t.host.indexOf("%");
    hostPart = zoneAt < 0
      ? `[${t.host}]`
      : `[${t.host.slice(0, zoneAt)}%25${t.host.slice(zoneAt + 1)}]`;
  }
  const portPart = t.port === undefined ? "" : `:${t.port}`;
  let pathPart = "";
  if (path !== undefined) {
    if (path.startsWith("~")) pathPart = `/${encodePath(path)}`;
    else if (path.startsWith("/~")) pathPart = `/%7E${encodePath(path.slice(2))}`;
    else pathPart = encodePath(path);
  }
  return `ssh://${userPart}${hostPart}${portPart}${pathPart}`;
}

/**
 * The destination argument for the ssh command line: `user@host`, or `host` when no user is given.
 * An IPv6 host is bare (no brackets); the port is not included: pass it to ssh as `-p PORT`.
 *
 * The host and user are checked again (as {@linkcode parseTarget} does), so a hand-built target
 * whose host starts with `-` can never be read by ssh as an option.
 *
 * @param t The target.
 * @returns The destination text.
 * @throws {TargetError} When the host or user is invalid.
 *
 * @example
 * ```ts
 * import { parseTarget, sshDestination } from "./target.ts";
 *
 * sshDestination(parseTarget("ssh://alice@[::1]:2222")); // "alice@::1"
 * sshDestination({ host: "build-box" }); // "build-box"
 * ```
 */
export function sshDestination(t: Target): string {
  checkHost(t.host, t.host);
  if (t.user === undefined) return t.host;
  checkUser(t.user, t.user);
  return `${t.user}@${t.host}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** `scheme://` at the start of the text (RFC 3986 scheme characters). */
const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/** Whitespace (including Unicode spaces) or a control character (C0, DEL, C1). */
const BAD_SPACE_RE = /[\s\p{Cc}]/u;

/** The characters of a hostname or ssh_config alias. */
const HOSTNAME_RE = /^[A-Za-z0-9._-]+$/;

/** The characters of an IPv6 zone (interface name or number). */
const ZONE_RE = /^[A-Za-z0-9._-]+$/;

/** Text that looks like a bare IPv6 address, with an optional zone. */
const IPV6_ISH_RE = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?$/;

/** Characters OpenSSH (9.6 and later) refuses in a user name given on its command line. */
const USER_SHELL_CHARS = "'`\";&<>|(){}";

/** Quotes a value for a message (JSON quoting, so control characters stay visible). */
function q(value: string): string {
  return JSON.stringify(value);
}

/** Parses the part after `ssh://`. */
function parseUrl(input: string, rest: string): Target {
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const rawPath = slash < 0 ? undefined : rest.slice(slash);

  const at = authority.lastIndexOf("@");
  let user: string | undefined;
  if (at >= 0) {
    user = decode(authority.slice(0, at), "user", input);
    checkUser(user, input);
  }
  const hostPort = authority.slice(at + 1);

  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) throw unbalanced(hostPort, input);
    host = hostPort.slice(1, close);
    // RFC 6874 writes the zone's "%" as "%25"; a bare "%" is accepted too.
    if (host.includes("%25")) host = host.replace("%25", "%");
    const after = hostPort.slice(close + 1);
    if (after.startsWith(":")) portText = after.slice(1);
    else if (after !== "") {
      throw new TargetError(
        "host",
        input,
        `Unexpected text ${q(after)} after "]" in target ${q(input)}: ` +
          `only ":port" may follow a bracketed host`,
        { hint: `Write "ssh://[${host}]:2222/path"` },
      );
    }
    checkBracketedHost(host, input);
  } else {
    const colons = hostPort.split(":").length - 1;
    if (colons >= 2 && IPV6_ISH_RE.test(hostPort)) {
      throw new TargetError(
        "host",
        input,
        `Invalid host ${q(hostPort)} in target ${q(input)}: ` +
          `an IPv6 address in an ssh:// target must be in brackets`,
        { hint: `Write "ssh://[${hostPort}]"` },
      );
    }
    const colon = hostPort.indexOf(":");
    const rawHost = colon < 0 ? hostPort : hostPort.slice(0, colon);
    if (colon >= 0) portText = hostPort.slice(colon + 1);
    host = decode(rawHost, "host", input);
    checkHost(host, input);
  }

  const target: Target = { host };
  if (user !== undefined) target.user = user;
  if (portText !== undefined && portText !== "") target.port = parsePort(portText, input);
  if (rawPath !== undefined) {
    const path = rawPath.startsWith("/~")
      ? decode(rawPath.slice(1), "path", input)
      : decode(rawPath, "path", input);
    checkPath(path, input);
    target.path = path;
  }
  return target;
}

/** Parses the forms without a scheme: `[user@]host[:port|:path]`, brackets and bare IPv6. */
function parsePlain(input: string): Target {
  // The user ends at the last "@" before the first ":" or "/" (a path may contain "@").
  const stop = firstIndexOf(input, [":", "/"]);
  const at = input.lastIndexOf("@", stop < 0 ? input.length : stop - 1);
  let user: string | undefined;
  if (at >= 0 && (stop < 0 || at < stop)) {
    user = input.slice(0, at);
    checkUser(user, input);
  }
  const rest = user === undefined ? input : input.slice(at + 1);

  const target: Target = { host: "" };
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw unbalanced(rest, input);
    target.host = rest.slice(1, close);
    checkBracketedHost(target.host, input);
    const after = rest.slice(close + 1);
    if (after.startsWith(":")) {
      const tail = after.slice(1);
      if (tail.startsWith("/") || tail.startsWith("~")) {
        checkPath(tail, input);
        target.path = tail;
      } else if (tail !== "") {
        target.port = parsePort(tail, input, {
          hint: `After "[host]:" give a port, or a path starting with "/" or "~"`,
        });
      }
    } else if (after !== "") {
      throw new TargetError(
        "host",
        input,
        `Unexpected text ${q(after)} after "]" in target ${q(input)}: ` +
          `only ":port" or ":/path" may follow a bracketed host`,
        { hint: `Write "[${target.host}]:2222"` },
      );
    }
  } else if (looksLikeBareIPv6(rest)) {
    target.host = rest;
    checkHost(rest, input);
  } else {
    const colon = rest.indexOf(":");
    target.host = colon < 0 ? rest : rest.slice(0, colon);
    checkHost(target.host, input);
    const tail = colon < 0 ? "" : rest.slice(colon + 1);
    if (/^[+-]?[0-9]+$/.test(tail)) {
      target.port = parsePort(tail, input, {
        hint: `For a path made of digits write "${target.host}:./${tail}"`,
      });
    } else if (tail !== "") {
      checkPath(tail, input);
      target.path = tail;
    }
  }
  if (user !== undefined) target.user = user;
  return target;
}

/** Whether the text is a bare IPv6 address: two or more colons, hex digits, dots, a zone. */
function looksLikeBareIPv6(text: string): boolean {
  if (text.split(":").length - 1 < 2 || !IPV6_ISH_RE.test(text)) return false;
  const zoneAt = text.indexOf("%");
  return isIPv6(zoneAt < 0 ? text : text.slice(0, zoneAt));
}

/** The lowest index of any of `needles` in `text`, or -1. */
function firstIndexOf(text: string, needles: string[]): number {
  let best = -1;
  for (const n of needles) {
    const i = text.indexOf(n);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Percent-decodes one part of a URL target. */
function decode(text: string, part: "user" | "host" | "path", input: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new TargetError(
      part,
      input,
      `Invalid percent-encoding in the ${part} ${q(text)} of target ${q(input)}: ` +
        `"%" must be followed by two hex digits of valid UTF-8`,
      { hint: `Write a literal "%" as "%25"` },
    );
  }
}

/** Parses port text: ASCII digits only, 1-65535. */
function parsePort(text: string, input: string, options: { hint?: string } = {}): number {
  const port = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new TargetError(
      "port",
      input,
      `Invalid port ${q(text)} in target ${q(input)}: must be 1-65535`,
      { hint: options.hint ?? "Give the port as a whole number such as 22 or 2222" },
    );
  }
  return port;
}

/** Throws unless `port` is a whole number from 1 to 65535. */
function checkPortNumber(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TargetError(
      "port",
      String(port),
      `Invalid port ${q(String(port))}: must be 1-65535`,
      { hint: "Give the port as a whole number such as 22 or 2222, or leave it out" },
    );
  }
}

/** The error for a `[` without its `]`, or a stray bracket. */
function unbalanced(host: string, input: string): TargetError {
  return new TargetError(
    "host",
    input,
    `Unbalanced brackets in host ${q(host)} in target ${q(input)}: ` +
      `an IPv6 address goes in "[" and "]"`,
    { hint: `Write "[2001:db8::1]:2222" or "ssh://[2001:db8::1]:2222"` },
  );
}

/** Checks the text between `[` and `]`. */
function checkBracketedHost(host: string, input: string): void {
  if (host.includes("[")) throw unbalanced(host, input);
  checkHost(host, input);
}

/** Throws unless `host` is a hostname, alias, IPv4 or IPv6 address (bare, optional zone). */
function checkHost(host: string, input: string): void {
  const where = `in target ${q(input)}`;
  if (host === "") {
    throw new TargetError("host", input, `Missing host ${where}: give a host after "@"`, {
      hint: `Write "user@host", "host" or "ssh://user@host"`,
    });
  }
  if (BAD_SPACE_RE.test(host)) {
    throw new TargetError(
      "host",
      input,
      `Invalid host ${q(host)} ${where}: must not contain whitespace or control characters`,
      { hint: "Remove the whitespace (check for a trailing newline or a pasted space)" },
    );
  }
  if (host.startsWith("-")) {
    throw new TargetError(
      "host",
      input,
      `Invalid host ${q(host)} ${where}: must not start with "-" (ssh would read it as an option)`,
      { hint: "Pass ssh options with yonder's own flags, not in the target" },
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[^\x00-\x7f]/.test(host)) {
    throw new TargetError(
      "host",
      input,
      `Invalid host ${q(host)} ${where}: must be ASCII`,
      { hint: `Use the punycode form of the name ("xn--...") or an ssh_config alias` },
    );
  }
  if (host.includes("[") || host.includes("]")) throw unbalanced(host, input);
  if (host.includes(":")) {
    const zoneAt = host.indexOf("%");
    const address = zoneAt < 0 ? host : host.slice(0, zoneAt);
    const zone = zoneAt < 0 ? undefined : host.slice(zoneAt + 1);
    if (!isIPv6(address) || (zone !== undefined && !ZONE_RE.test(zone))) {
      throw new TargetError(
        "host",
        input,
        `Invalid IPv6 address ${q(host)} ${where}: must be like "2001:db8::1" or "fe80::1%eth0"`,
        { hint: `Check the address; a hostname must not contain ":"` },
      );
    }
    return;
  }
  const bad = [...host].find((c) => !HOSTNAME_RE.test(c));
  if (bad !== undefined) {
    throw new TargetError(
      "host",
      input,
      `Invalid character ${q(bad)} in host ${q(host)} ${where}: ` +
        `a host may contain only letters, digits, ".", "-" and "_"`,
      { hint: "Use the host's name or address, or an alias from ~/.ssh/config" },
    );
  }
}

/** Throws unless `user` is a user name ssh accepts on its command line. */
function checkUser(user: string, input: string): void {
  const where = `in target ${q(input)}`;
  if (user === "") {
    throw new TargetError("user", input, `Missing user before "@" ${where}`, {
      hint: `Write "user@host", or leave out the "@" to use ssh's default user`,
    });
  }
  if (BAD_SPACE_RE.test(user)) {
    throw new TargetError(
      "user",
      input,
      `Invalid user ${q(user)} ${where}: must not contain whitespace or control characters`,
      { hint: "Remove the whitespace (check for a trailing newline or a pasted space)" },
    );
  }
  if (user.startsWith("-")) {
    throw new TargetError(
      "user",
      input,
      `Invalid user ${q(user)} ${where}: must not start with "-" (ssh would read it as an option)`,
      { hint: "Check the user name" },
    );
  }
  for (const c of user) {
    const ok = c.charCodeAt(0) < 0x80
      ? c !== ":" && c !== "/" && !USER_SHELL_CHARS.includes(c)
      : /^[\p{L}\p{M}\p{N}]$/u.test(c);
    if (!ok) {
      throw new TargetError(
        "user",
        input,
        `Invalid character ${q(c)} in user ${q(user)} ${where}: ` +
          `a user may not contain ":", "/", quotes or shell characters (${USER_SHELL_CHARS})`,
        { hint: "Check the user name; in an ssh:// target percent-encode unusual characters" },
      );
    }
  }
  if (user.endsWith("\\")) {
    throw new TargetError(
      "user",
      input,
      `Invalid user ${q(user)} ${where}: must not end with "\\"`,
      { hint: "Check the user name" },
    );
  }
}

/** Throws unless `path` is a path we can pass on: no NUL, valid Unicode. */
function checkPath(path: string, input: string): void {
  if (path.includes("\0")) {
    throw new TargetError(
      "path",
      input,
      `Invalid path ${q(path)} in target ${q(input)}: must not contain NUL characters`,
      { hint: `Remove the NUL ("\\0" or "%00") from the path` },
    );
  }
  if (!path.isWellFormed()) {
    throw new TargetError(
      "path",
      input,
      `Invalid path ${q(path)} in target ${q(input)}: must be valid Unicode (lone surrogate)`,
      { hint: "Check how the path was produced" },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Percent-encodes a path for the URL form, keeping "/" and "~". */
function encodePath(path: string): string {
  return encodeURIComponent(path).replaceAll("%2F", "/");
}

/** Formats a target with a relative path in the scp-like form `user@host:path`. */
function formatRelative(t: Target, path: string): string {
  const reason = t.port !== undefined
    ? "a target cannot carry both a port and a relative path"
    : t.host.includes(":")
    ? "a target with an IPv6 host cannot carry a relative path"
    : /^[+-]?[0-9]+$/.test(path)
    ? "it would read as a port"
    : looksLikeBareIPv6(`${t.host}:${path}`)
    ? "it would read as part of an IPv6 address"
    : undefined;
  if (reason !== undefined) {
    throw new TargetError(
      "path",
      path,
      `Cannot format relative path ${q(path)} for host ${q(t.host)}: ${reason}`,
      { hint: `Use an absolute path, or one starting with "~/" or "./"` },
    );
  }
  return `${t.user === undefined ? "" : `${t.user}@`}${t.host}:${path}`;
}
