/**
 * The file-operation types every {@linkcode Environment} shares: what a listing entry says, and the
 * options of reads, writes, listings and copies. The SSH implementation is `lib/ssh/files.ts`, the
 * local one `lib/local/files.ts`; one contract test suite runs against both.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/**
 * What kind of thing a path is. Symlinks are reported as such (never followed).
 *
 * @example
 * ```ts
 * import { type FileType, LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * const type: FileType = (await env.stat("/etc/hostname")).type;
 * if (type === "symlink") console.log("a link; stat describes the link itself");
 * ```
 */
export type FileType = "file" | "dir" | "symlink" | "other";

/**
 * One entry of a listing, or what `stat` says about a path.
 *
 * @example
 * ```ts
 * import { type FileInfo, LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * const entries: FileInfo[] = await env.list("/etc", { recursive: true });
 * for (const e of entries.filter((e) => e.type === "file" && e.size > 100_000)) {
 *   console.log(e.name, e.size, e.mode.toString(8), e.mtime.toISOString());
 * }
 * ```
 */
export interface FileInfo {
  /**
   * The entry's name: for `list`, its path relative to the listed directory (`a/b.txt` when
   * recursive); for `stat`, the last component of the path.
   */
  name: string;
  /** File, directory, symlink or other (device, fifo, socket). */
  type: FileType;
  /** Size in bytes (for a symlink: the length of its target). */
  size: number;
  /** Permission bits, e.g. `0o644` (setuid/setgid/sticky included). */
  mode: number;
  /** Last modification time (whole seconds on remote hosts). */
  mtime: Date;
}

/**
 * How a transfer is going; handed to `onProgress` callbacks.
 *
 * @example
 * ```ts
 * import { SshEnvironment, type TransferProgress } from "../../mod.ts";
 * const show = (p: TransferProgress) => {
 *   const of = p.totalBytes ? ` of ${p.totalBytes}` : "";
 *   console.log(`${p.bytes}${of} bytes`);
 * };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * await env.download("/var/backups/db.sql.gz", "db.sql.gz", { onProgress: show });
 * ```
 */
export interface TransferProgress {
  /** Bytes moved so far. */
  bytes: number;
  /** Bytes to move in all, when known. */
  totalBytes?: number;
  /** Files finished so far (tree transfers). */
  files?: number;
  /** Files to move in all (tree transfers). */
  totalFiles?: number;
}

/**
 * Options of `Environment.readFile`.
 *
 * @example
 * ```ts
 * import { type ReadFileOptions, SshEnvironment } from "../../mod.ts";
 * const options: ReadFileOptions = { maxBytes: 64 * 1024, signal: AbortSignal.timeout(10_000) };
 * await using env = await SshEnvironment.open("deploy@web1.example.com");
 * const text = new TextDecoder().decode(await env.readFile("/etc/nginx/nginx.conf", options));
 * console.log(text.split("\n").length, "lines");
 * ```
 */
export interface ReadFileOptions {
  /** Refuse (with a `FileError`) a file larger than this many bytes instead of reading it. */
  maxBytes?: number;
  /** Aborting stops the transfer. */
  signal?: AbortSignal;
}

/**
 * Options of `Environment.writeFile` and `Environment.upload`.
 *
 * @example
 * ```ts
 * import { SshEnvironment, type WriteFileOptions } from "../../mod.ts";
 * const options: WriteFileOptions = { mode: 0o600, mkdirs: true };
 * await using env = await SshEnvironment.open("deploy@web1.example.com");
 * await env.writeFile("/srv/app/config/secrets.env", "API_URL=https://api.example.com\n", options);
 * await env.upload("dist/app.tar.gz", "/srv/app/releases/app.tar.gz", { mkdirs: true });
 * ```
 */
export interface WriteFileOptions {
  /**
   * Permission bits of the written file. Default: an existing file keeps its mode; a new file
   * gets `0o666` less the umask.
   */
  mode?: number;
  /** Create missing parent directories (like `mkdir -p`); without it they are a `NotFound`. */
  mkdirs?: boolean;
  /** Aborting stops the transfer; the destination keeps its old content. */
  signal?: AbortSignal;
  /**
   * Called as bytes go out. On a remote `upload`, giving it makes the bytes pass through this
   * process so they can be counted; without it the file is handed to ssh directly (faster).
   */
  onProgress?: (p: TransferProgress) => void;
}

/**
 * Options of `Environment.download` and `Environment.readFileStream`.
 *
 * @example
 * ```ts
 * import { type DownloadOptions, SshEnvironment } from "../../mod.ts";
 * const options: DownloadOptions = { mkdirs: true, signal: AbortSignal.timeout(60_000) };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * const size = await env.download("/srv/app/logs/build.log", "logs/build.log", options);
 * console.log(`${size} bytes`);
 * ```
 */
export interface DownloadOptions {
  /** Create missing local parent directories. */
  mkdirs?: boolean;
  /** Aborting stops the transfer; the local destination keeps its old content. */
  signal?: AbortSignal;
  /**
   * Called as bytes come in (a remote `download`, whose bytes go from ssh straight into the file,
   * reports the file's size about four times a second).
   */
  onProgress?: (p: TransferProgress) => void;
}

/**
 * Options of `Environment.list`.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, type ListOptions } from "../../mod.ts";
 * const everything: ListOptions = { recursive: true, hidden: true };
 * await using env = new LocalEnvironment();
 * console.log((await env.list(".", everything)).map((e) => e.name));
 * ```
 */
export interface ListOptions {
  /** Aborting stops the listing; it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Descend into subdirectories (names become relative paths). */
  recursive?: boolean;
  /** Include names starting with `.` (and, when recursive, what is below such directories). */
  hidden?: boolean;
}

/**
 * Options of `Environment.stat`.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, type StatOptions } from "../../mod.ts";
 * const quick: StatOptions = { signal: AbortSignal.timeout(5_000) };
 * await using env = new LocalEnvironment();
 * console.log((await env.stat("/", quick)).type);
 * ```
 */
export interface StatOptions {
  /** Aborting stops it; it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Options of `Environment.remove`.
 *
 * @example
 * ```ts
 * import { type RemoveOptions, SshEnvironment } from "../../mod.ts";
 * const rmRf: RemoveOptions = { recursive: true, force: true };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * await env.remove("/srv/app/releases/2024-01-01", rmRf); // fine if it is already gone
 * ```
 */
export interface RemoveOptions {
  /** Aborting stops the removal (what was removed stays removed); it rejects with the reason. */
  signal?: AbortSignal;
  /** Remove a directory with everything in it. */
  recursive?: boolean;
  /** A missing path is not an error. */
  force?: boolean;
}

/**
 * Options of `Environment.mkdir`.
 *
 * @example
 * ```ts
 * import { type MkdirOptions, SshEnvironment } from "../../mod.ts";
 * const mkdirP: MkdirOptions = { recursive: true, mode: 0o750 };
 * await using env = await SshEnvironment.open("deploy@build.example.com");
 * await env.mkdir("/srv/app/releases/42", mkdirP);
 * ```
 */
export interface MkdirOptions {
  /** Aborting stops it; it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Create missing parents too, and accept an existing directory (like `mkdir -p`). */
  recursive?: boolean;
  /** Permission bits of the new directory (default `0o777` less the umask). */
  mode?: number;
}

/**
 * The file operations of an {@linkcode Environment}. Failures are typed: `NotFound`,
 * `PermissionDenied`, `NotADirectory`, `NoSpace`, or another `FileError`.
 *
 * @example
 * ```ts
 * import { type FileOps, NotFound, SshEnvironment } from "../../mod.ts";
 * // Keeps one old copy of a log and starts it afresh once it passes 10 MB.
 * async function rotate(files: FileOps, log: string): Promise<void> {
 *   try {
 *     if ((await files.stat(log)).size < 10_000_000) return;
 *   } catch (e) {
 *     if (e instanceof NotFound) return;
 *     throw e;
 *   }
 *   await files.remove(`${log}.1`, { force: true });
 *   await files.writeFile(`${log}.1`, await files.readFile(log));
 *   await files.writeFile(log, "");
 * }
 * await using env = await SshEnvironment.open("deploy@web1.example.com");
 * await rotate(env, "/var/log/myapp/app.log");
 * ```
 */
export interface FileOps {
  /**
   * Reads a whole file into memory. A missing file is `NotFound`, a directory `FileError`,
   * a file over `maxBytes` a `FileError`.
   */
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  /**
   * Streams a file without holding it in memory: `sink` is called with each chunk in order, as it
   * arrives. The transfer does not wait for anything `sink` returns, so a sink that must hold the
   * source back writes synchronously (`Deno.FsFile.writeSync`). Resolves to the number of bytes.
   */
  readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options?: DownloadOptions,
  ): Promise<number>;
  /**
   * Writes a file atomically: the data goes to a temp file beside the destination
   * (`.<name>.yonder-tmp-<pid>-<nonce>`), which replaces the destination only once every byte has
   * arrived. A stream of unknown length is spooled to a local temp file first.
   */
  writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options?: WriteFileOptions,
  ): Promise<void>;
  /** Copies a local file to `path` (streamed, atomic like `writeFile`). Resolves to the size. */
  upload(localPath: string, path: string, options?: WriteFileOptions): Promise<number>;
  /** Copies `path` to a local file (streamed; the local file is replaced atomically). */
  download(path: string, localPath: string, options?: DownloadOptions): Promise<number>;
  /** Describes a path (a symlink is described, not followed). */
  stat(path: string, options?: StatOptions): Promise<FileInfo>;
  /** Lists a directory, sorted by name. */
  list(path: string, options?: ListOptions): Promise<FileInfo[]>;
  /** Removes a file, a symlink, an empty directory, or (with `recursive`) a tree. */
  remove(path: string, options?: RemoveOptions): Promise<void>;
  /** Creates a directory. */
  mkdir(path: string, options?: MkdirOptions): Promise<void>;
}

/** Maps `S_IFMT` bits of a raw `st_mode` to a {@linkcode FileType}. */
export function typeFromMode(rawMode: number): FileType {
  switch (rawMode & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "dir";
    case 0o120000:
      return "symlink";
    default:
      return "other";
  }
}

/** Sorts entries by name, bytewise (like `LC_ALL=C ls`). */
export function sortByName(entries: FileInfo[]): FileInfo[] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Checks a mode option: whole number within `0o7777`. */
export function checkMode(mode: number | undefined): void {
  if (mode === undefined) return;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new UsageError(`Invalid mode ${mode}: expected permission bits 0-0o7777`);
  }
}

/** Refuses to remove `/`, `~`, `.`, `..` or a path ending in `.`/`..`. */
export function refuseRoot(path: string): void {
  const p = path.replace(/\/+$/, "");
  if (["", "/", "~", ".", ".."].includes(p) || /(^|\/)\.\.?$/.test(p)) {
    throw new UsageError(`Refusing to remove "${path}"`, {
      hint: "Name the directory itself, not /, ~, . or ..",
    });
  }
}
