/**
 * Typed errors. Every error yonder throws on purpose is a {@linkcode YonderError}: it carries the
 * data a caller needs (host, path, ssh's stderr tail) and a `hint` saying what to run or change.
 *
 * @module
 */

/** Base class of every error yonder throws on purpose. */
export class YonderError extends Error {
  override readonly name: string = "YonderError";
  /** What to run or change to fix or diagnose the problem, if yonder knows. */
  readonly hint: string | undefined;

  /** Creates an error with a message and an optional hint. */
  constructor(message: string, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

/** A bad option, flag or value given by the caller (CLI exit code 2). */
export class UsageError extends YonderError {
  override readonly name: string = "UsageError";
}

/** The target text cannot be parsed; `part` names the part that is wrong. */
export class TargetError extends UsageError {
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

/** Why ssh could not set up a connection. */
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

/** ssh could not connect or authenticate (CLI exit code 255). */
export class SshConnectError extends YonderError {
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

/** The connection dropped while a command ran; the command's fate is unknown (CLI exit code 255). */
export class SshConnectionLost extends YonderError {
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

/** A file operation failed; `path` is the path it was about. */
export class FileError extends YonderError {
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

/** The path does not exist. */
export class NotFound extends FileError {
  override readonly name = "NotFound";
}

/** The path exists but may not be read, written or entered. */
export class PermissionDenied extends FileError {
  override readonly name = "PermissionDenied";
}

/** A directory was needed but the path is something else. */
export class NotADirectory extends FileError {
  override readonly name = "NotADirectory";
}

/** The filesystem ran out of space (or a file size limit was hit). */
export class NoSpace extends FileError {
  override readonly name = "NoSpace";
}

/** Keeps the last `maxLines` non-empty lines of `text`, for error messages. */
export function tail(text: string, maxLines = 6): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.slice(-maxLines).join("\n");
}
