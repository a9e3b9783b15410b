/**
 * Typed errors. Every error yonder throws on purpose is a {@linkcode YonderError}: it carries the
 * data a caller needs (host, path, ssh's stderr tail) and a `hint` saying what to run or change.
 *
 * @module
 */

/**
 * Base class of every error yonder throws on purpose. Anything else that reaches a caller is a
 * bug in yonder (or an error thrown by the caller's own callback).
 *
 * @example
 * ```ts
 * import { LocalEnvironment, YonderError } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * try {
 *   await env.readFile("/no/such/file");
 * } catch (e) {
 *   if (!(e instanceof YonderError)) throw e;
 *   console.error(`${e.name}: ${e.message}`); // NotFound: "/no/such/file" does not exist
 *   if (e.hint) console.error(`hint: ${e.hint}`);
 * }
 * ```
 */
export class YonderError extends Error {
  /** The class name, `"YonderError"` here; each subclass sets its own. */
  override readonly name: string = "YonderError";
  /** What to run or change to fix or diagnose the problem, if yonder knows. */
  readonly hint: string | undefined;

  /** Creates an error with a message and an optional hint. */
  constructor(message: string, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

/**
 * A bad option, flag or value given by the caller (CLI exit code 2). Nothing ran.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, UsageError } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * try {
 *   await env.exec(["printenv", "A-B"], { env: { "A-B": "1" } });
 * } catch (e) {
 *   if (e instanceof UsageError) console.error(e.message); // Invalid environment variable name…
 * }
 * ```
 */
export class UsageError extends YonderError {
  /** `"UsageError"`, or the subclass's name. */
  override readonly name: string = "UsageError";
}

/**
 * The target text cannot be parsed; `part` names the part that is wrong.
 *
 * @example
 * ```ts
 * import { parseTarget, TargetError } from "../../mod.ts";
 * try {
 *   parseTarget("ssh://deploy@build.example.com:99999");
 * } catch (e) {
 *   if (e instanceof TargetError) console.error(e.part, e.hint); // "port", "Give the port as …"
 * }
 * ```
 */
export class TargetError extends UsageError {
  /** Always `"TargetError"`. */
  override readonly name = "TargetError";
  /** Which part of the target is wrong. */
  readonly part: "target" | "scheme" | "user" | "host" | "port" | "path";
  /** The text that was given. */
  readonly input: string;

  /** Creates a target error for `part` of `input`. */
  constructor(
    part: TargetError["part"],
    input: string,
    message: string,
    options: { hint?: string } = {},
  ) {
    super(message, options);
    this.part = part;
    this.input = input;
  }
}

/**
 * Why ssh could not set up a connection.
 *
 * @example
 * ```ts
 * import { SshConnectError, type SshConnectErrorKind, SshEnvironment } from "../../mod.ts";
 * const worthRetrying: SshConnectErrorKind[] = ["refused", "unreachable", "timeout"];
 * try {
 *   await using env = await SshEnvironment.open("deploy@build.example.com");
 *   console.log(env.label);
 * } catch (e) {
 *   if (!(e instanceof SshConnectError) || !worthRetrying.includes(e.kind)) throw e;
 *   console.error(`${e.host}: ${e.kind}, try again later`);
 * }
 * ```
 */
export type SshConnectErrorKind =
  | "refused"
  | "unreachable"
  | "dns"
  | "auth"
  | "host_key_changed"
  | "host_key_unknown"
  | "timeout"
  | "ssh_missing"
  | "config"
  | "unknown";

/**
 * ssh could not connect or authenticate (CLI exit code 255). `kind` says why, as far as ssh's
 * messages tell, and `hint` what to check.
 *
 * @example
 * ```ts
 * import { SshConnectError, SshEnvironment } from "../../mod.ts";
 * try {
 *   await using env = await SshEnvironment.open("deploy@build.example.com");
 *   await env.exec(["true"]);
 * } catch (e) {
 *   if (!(e instanceof SshConnectError)) throw e;
 *   console.error(`cannot reach ${e.host} (${e.kind}): ${e.message}`);
 *   if (e.hint) console.error(`hint: ${e.hint}`);
 *   if (e.kind === "host_key_changed") console.error(e.stderrTail);
 * }
 * ```
 */
export class SshConnectError extends YonderError {
  /** Always `"SshConnectError"`. */
  override readonly name = "SshConnectError";
  /** The cause, as far as ssh's messages tell. */
  readonly kind: SshConnectErrorKind;
  /** The target as given. */
  readonly host: string;
  /** ssh's exit code, if it exited. */
  readonly exitCode: number | null;
  /** The last lines ssh printed. */
  readonly stderrTail: string;

  /** Creates a connect error. */
  constructor(
    init: {
      kind: SshConnectErrorKind;
      host: string;
      message: string;
      exitCode?: number | null;
      stderrTail?: string;
      hint?: string;
    },
  ) {
    super(init.message, { hint: init.hint });
    this.kind = init.kind;
    this.host = init.host;
    this.exitCode = init.exitCode ?? null;
    this.stderrTail = init.stderrTail ?? "";
  }
}

/**
 * The connection dropped while a command ran; the command's fate is unknown (CLI exit code 255).
 *
 * @example
 * ```ts
 * import { SshConnectionLost, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * try {
 *   await env.exec(["systemctl", "restart", "app"]);
 * } catch (e) {
 *   if (!(e instanceof SshConnectionLost)) throw e;
 *   // The restart may or may not have happened: look before running it again.
 *   console.error(`${e.host}: ${e.message}`, e.hint ?? "");
 * }
 * ```
 */
export class SshConnectionLost extends YonderError {
  /** Always `"SshConnectionLost"`. */
  override readonly name = "SshConnectionLost";
  /** The target as given. */
  readonly host: string;
  /** The last lines ssh printed. */
  readonly stderrTail: string;

  /** Creates a connection-lost error. */
  constructor(init: { host: string; message: string; stderrTail?: string; hint?: string }) {
    super(init.message, { hint: init.hint });
    this.host = init.host;
    this.stderrTail = init.stderrTail ?? "";
  }
}

/**
 * A file operation failed; `path` is the path it was about. The subclasses name the common
 * causes; a plain `FileError` is any other (a read-only filesystem, a path that is a directory).
 *
 * @example
 * ```ts
 * import { FileError, LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * try {
 *   await env.mkdir("/etc/hostname/conf.d", { recursive: true });
 * } catch (e) {
 *   if (!(e instanceof FileError)) throw e;
 *   console.error(e.name, e.path, e.message); // NotADirectory /etc/hostname/conf.d …
 * }
 * ```
 */
export class FileError extends YonderError {
  /** `"FileError"`, or the subclass's name. */
  override readonly name: string = "FileError";
  /** The path the operation was about. */
  readonly path: string;
  /** Where the path is: `"local"` (this machine) or the remote host's label; unset if unknown. */
  readonly where: string | undefined;
  /** `"cwd"` when the path is the working directory a command was to run in. */
  readonly role: "cwd" | undefined;

  /** Creates a file error about `path`. */
  constructor(
    path: string,
    message: string,
    options: { hint?: string; cause?: unknown; where?: string; role?: "cwd" } = {},
  ) {
    super(message, options);
    this.path = path;
    this.where = options.where;
    this.role = options.role;
  }
}

/**
 * The path does not exist.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, NotFound } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * let config = "{}";
 * try {
 *   config = new TextDecoder().decode(await env.readFile("/etc/myapp/config.json"));
 * } catch (e) {
 *   if (!(e instanceof NotFound)) throw e; // no config file: keep the defaults
 * }
 * console.log(JSON.parse(config));
 * ```
 */
export class NotFound extends FileError {
  /** Always `"NotFound"`. */
  override readonly name = "NotFound";
}

/**
 * The path exists but may not be read, written or entered.
 *
 * @example
 * ```ts
 * import { PermissionDenied, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@web1.example.com");
 * try {
 *   await env.writeFile("/etc/motd", "Maintenance tonight at 22:00\n");
 * } catch (e) {
 *   if (!(e instanceof PermissionDenied)) throw e;
 *   console.error(`cannot write ${e.path} on ${e.where}: ${e.message}`);
 * }
 * ```
 */
export class PermissionDenied extends FileError {
  /** Always `"PermissionDenied"`. */
  override readonly name = "PermissionDenied";
}

/**
 * A directory was needed but the path is something else.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, NotADirectory } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * try {
 *   await env.list("/etc/hostname");
 * } catch (e) {
 *   if (e instanceof NotADirectory) console.error(`${e.path} is not a directory`);
 * }
 * ```
 */
export class NotADirectory extends FileError {
  /** Always `"NotADirectory"`. */
  override readonly name = "NotADirectory";
}

/**
 * The filesystem ran out of space (or a file size limit was hit).
 *
 * @example
 * ```ts
 * import { NoSpace, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * try {
 *   await env.upload("dist/app.tar.gz", "/srv/releases/app.tar.gz");
 * } catch (e) {
 *   if (!(e instanceof NoSpace)) throw e;
 *   // The write is atomic: the old /srv/releases/app.tar.gz, if any, is still there.
 *   console.error(`${e.where} is full: ${e.message}`, e.hint ?? "");
 * }
 * ```
 */
export class NoSpace extends FileError {
  /** Always `"NoSpace"`. */
  override readonly name = "NoSpace";
}

/**
 * A command ended with a non-zero status where success was required (`check: true`, or a
 * `$` template). Carries the whole result.
 *
 * @example
 * ```ts
 * import { CommandFailed, LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * try {
 *   await env.exec(["false"], { check: true });
 * } catch (e) {
 *   if (e instanceof CommandFailed) console.log(e.code, e.stderrTail);
 * }
 * ```
 */
export class CommandFailed extends YonderError {
  /** Always `"CommandFailed"`. */
  override readonly name = "CommandFailed";
  /** The exit code (124 after a timeout, 128+n when stopped by signal n). */
  readonly code: number;
  /** The signal the command was stopped with, if any. */
  readonly signal: string | null;
  /** True when the timeout stopped it. */
  readonly timedOut: boolean;
  /** The command as given: an argv or a script. */
  readonly command: readonly string[] | string;
  /** The last lines of its stderr. */
  readonly stderrTail: string;
  /** Its captured stdout. */
  readonly stdout: Uint8Array;
  /** Its captured stderr. */
  readonly stderr: Uint8Array;

  /** Creates the error from a command and its result. */
  constructor(
    command: readonly string[] | string,
    result: {
      code: number;
      signal: string | null;
      timedOut: boolean;
      stdout: Uint8Array;
      stderr: Uint8Array;
    },
    where: string,
  ) {
    const shown = typeof command === "string" ? command : command.join(" ");
    const short = shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
    const stderrTail = tail(new TextDecoder().decode(result.stderr), 3);
    const how = result.timedOut ? "timed out" : `exited with ${result.code}`;
    super(`Command on "${where}" ${how}: ${short}${stderrTail ? `\n${stderrTail}` : ""}`);
    this.code = result.code;
    this.signal = result.signal;
    this.timedOut = result.timedOut;
    this.command = command;
    this.stderrTail = stderrTail;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
  }
}

/**
 * An operation ran out of its time (`timeoutMs`): a file transfer, a listing, a push.
 *
 * @example
 * ```ts
 * import { TimedOut } from "../../mod.ts";
 * const e: unknown = new TimedOut("read of \"big.bin\" on \"host\"");
 * if (e instanceof TimedOut) console.log(e.message);
 * ```
 */
export class TimedOut extends YonderError {
  /** Always `"TimedOut"`. */
  override readonly name = "TimedOut";

  /** Creates the error for `what` (e.g. `read of "x" on "host"`). */
  constructor(what: string, options: { hint?: string } = {}) {
    super(`Timed out: ${what}`, options);
  }
}

/** Keeps the last `maxLines` non-empty lines of `text`, for error messages. */
export function tail(text: string, maxLines = 6): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.slice(-maxLines).join("\n");
}
