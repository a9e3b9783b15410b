/**
 * File operations on a remote host, each one command over the master (through the environment's
 * `exec`, so every call gets the exec wrapper's exact exit status). Bytes stay `Uint8Array` end
 * to end: the channel has no pty. `upload` and `download` hand the local file to ssh as its stdin
 * or stdout (`stdinFile`/`stdoutFile`), so the bytes never pass through JavaScript; streams
 * (`writeFile` of bytes, `readFileStream`, `upload` with `onProgress`) go through its pipes.
 *
 * Writes are atomic: the remote script copies stdin into a temp file beside the destination,
 * checks that exactly the announced number of bytes came, and only then renames it over the
 * destination; when the sender dies the remote sees a clean EOF, counts too few bytes and leaves
 * the destination alone. Downloads land in a local temp file whose size must equal the count the
 * remote `dd` reports before it replaces the destination. Failures come back as exit statuses
 * ({@linkcode FILE_STATUS}) and become typed errors.
 *
 * @module
 */

import { basename, dirname } from "../_path.ts";
import type { ExecOptions, ExecResult, Logger } from "../environment.ts";
import {
  FileError,
  NoSpace,
  NotADirectory,
  NotFound,
  PermissionDenied,
  tail,
  UsageError,
  YonderError,
} from "../errors.ts";
import {
  checkMode,
  type DownloadOptions,
  type FileInfo,
  type FileOps,
  type ListOptions,
  type MkdirOptions,
  type ReadFileOptions,
  refuseRoot,
  type RemoveOptions,
  sortByName,
  typeFromMode,
  type WriteFileOptions,
} from "../files.ts";
import { withRetry } from "../retry.ts";
import {
  cleanStaleTemps,
  fileReadable,
  localError,
  reserveSpace,
  spool,
  tempPathFor,
  umask,
} from "../_file_stream.ts";
import { newNonce } from "./_frames.ts";
import {
  downloadScript,
  FILE_STATUS,
  listScript,
  mkdirScript,
  parseCopied,
  parseSize,
  PREALLOCATE_BYTES,
  readScript,
  removeScript,
  statScript,
  writeScript,
} from "./_file_scripts.ts";

/** Runs a `sh -c` script on the host (an environment's `exec`). */
export type ExecFn = (command: string, options?: ExecOptions) => Promise<ExecResult>;

const dec = new TextDecoder();

/** What the failing operation was, for messages. */
type Op = "read" | "write" | "stat" | "list" | "remove" | "create";

/** Turns a file script's failure into a typed error. */
export function fileFailure(r: ExecResult, op: Op, path: string, host: string): Error {
  const text = tail(dec.decode(r.stderr), 3);
  const detail = text ? `: ${text.split("\n").at(-1)}` : "";
  const S = FILE_STATUS;
  const dir = dirname(path, true);
  const where = { where: host };
  switch (r.code) {
    case S.notFound:
      if (op === "write" || op === "create") {
        return new NotFound(
          op === "create" ? path : dir,
          `Directory "${dir}" does not exist on "${host}"`,
          { ...where, hint: "Create it first, or pass mkdirs (CLI: --mkdirs)" },
        );
      }
      return new NotFound(path, `"${path}" does not exist on "${host}"`, where);
    case S.denied:
      return new PermissionDenied(
        path,
        `Permission denied: cannot ${op} "${path}" on "${host}"`,
        where,
      );
    case S.notDir:
      return new NotADirectory(
        op === "list" ? path : dir,
        op === "list"
          ? `"${path}" on "${host}" is not a directory`
          : `A parent of "${path}" on "${host}" is not a directory`,
        where,
      );
    case S.noSpace:
      return new NoSpace(path, `No space left on "${host}" to write "${path}"${detail}`, {
        ...where,
        hint:
          "Free space (or raise the file size limit) on the remote; the destination was not changed",
      });
    case S.isDir:
      return new FileError(path, `"${path}" on "${host}" is a directory`, where);
    case S.short:
      return new FileError(
        path,
        `The upload of "${path}" to "${host}" was cut short${detail}; the destination is unchanged`,
        where,
      );
    case S.long:
      return new FileError(
        path,
        `The upload of "${path}" to "${host}" brought more bytes than announced${detail}; ` +
          `the destination is unchanged`,
        { ...where, hint: "The source grew while it was sent; retry once it stops changing" },
      );
    case S.exists:
      return new FileError(path, `"${path}" already exists on "${host}"`, where);
    case S.notEmpty:
      return new FileError(path, `Directory "${path}" on "${host}" is not empty`, {
        ...where,
        hint: "Pass recursive to remove it with everything in it",
      });
    case 124:
      return new YonderError(`Timed out: cannot ${op} "${path}" on "${host}"`);
    case 143:
      return new YonderError(`Aborted: ${op} of "${path}" on "${host}"`);
    default:
      return new FileError(
        path,
        `Cannot ${op} "${path}" on "${host}"${detail || ` (exit ${r.code})`}`,
        where,
      );
  }
}

function checkPath(path: string): void {
  if (path === "") throw new UsageError("Empty path");
  if (path.includes("\0")) throw new UsageError(`Invalid path ${JSON.stringify(path)}: NUL byte`);
}

/** Parses one stat line `MODE SIZE MTIME` in the given radix. */
function parseStatFields(
  mode: string,
  size: string,
  mtime: string,
  radix: 8 | 16,
): Omit<FileInfo, "name"> {
  const raw = parseInt(mode, radix);
  return {
    type: typeFromMode(raw),
    size: Number(size),
    mode: raw & 0o7777,
    mtime: new Date(Number(mtime) * 1000),
  };
}

/**
 * Parses the output of `listScript`: a flavour record, then batches of NUL-terminated names, an
 * empty record, and the `stat` lines of those names. A name whose line is missing (the entry went
 * away meanwhile) is left out.
 */
export function parseListing(out: Uint8Array): FileInfo[] {
  const text = dec.decode(out);
  const records = text.split("\0");
  if (records.at(-1) === "") records.pop();
  const flavour = records.shift();
  const entries: FileInfo[] = [];
  if (flavour === "f") {
    // GNU find -printf '%y %m %s %T@ %p\0'.
    const re = /^([a-zA-Z]) ([0-7]+) (\d+) (\d+)(?:\.\d*)? ([^]*)$/;
    for (const rec of records) {
      const m = re.exec(rec);
      if (!m) continue;
      const name = m[5]!.startsWith("./") ? m[5]!.slice(2) : m[5]!;
      const t = m[1]!;
      entries.push({
        name,
        type: t === "f" ? "file" : t === "d" ? "dir" : t === "l" ? "symlink" : "other",
        size: Number(m[3]),
        mode: parseInt(m[2]!, 8) & 0o7777,
        mtime: new Date(Number(m[4]) * 1000),
      });
    }
    return sortByName(entries);
  }
  const radix: 8 | 16 = flavour === "b" ? 8 : 16;
  const fieldRe = /([0-9a-fA-F]+) (\d+) (\d+) /y;
  let i = 0;
  while (i < records.length) {
    const names: string[] = [];
    while (i < records.length && records[i] !== "") names.push(records[i++]!);
    i++; // the empty record
    const stats = records[i++] ?? "";
    let at = 0;
    for (const name of names) {
      fieldRe.lastIndex = at;
      const m = fieldRe.exec(stats);
      if (!m) continue;
      const after = fieldRe.lastIndex;
      if (stats.startsWith(name + "\n", after)) {
        const rel = name.startsWith("./") ? name.slice(2) : name;
        entries.push({ name: rel, ...parseStatFields(m[1]!, m[2]!, m[3]!, radix) });
        at = after + name.length + 1;
      }
    }
  }
  return sortByName(entries);
}

/** Parses the output of `statScript` for `path`. */
export function parseStat(path: string, out: string): FileInfo {
  const m = /^([gb]) ([0-9a-fA-F]+) (\d+) (\d+)$/.exec(out.trim());
  if (!m) throw new YonderError(`Unexpected stat output for "${path}": ${JSON.stringify(out)}`);
  const name = basename(path, true) || path;
  return { name, ...parseStatFields(m[2]!, m[3]!, m[4]!, m[1] === "b" ? 8 : 16) };
}

/**
 * The file operations of a remote host, run through `exec`. Idempotent operations (reads,
 * atomic writes, listings) are retried up to 3 times when the connection drops.
 *
 * @example
 * ```ts ignore
 * import { SshFiles } from "./files.ts";
 * const files = new SshFiles((cmd, o) => env.exec(cmd, o), env.label);
 * await files.writeFile("notes.txt", "hello\n", { mode: 0o600 });
 * ```
 */
export class SshFiles implements FileOps {
  #exec: ExecFn;
  #host: string;
  #log: Logger;

  /** Creates the file operations over `exec`; `host` names the host in messages. */
  constructor(exec: ExecFn, host: string, log: Logger = () => {}) {
    this.#exec = exec;
    this.#host = host;
    this.#log = log;
  }

  #retry<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(what, fn, { log: this.#log, signal });
  }

  async #run(
    op: Op,
    path: string,
    script: string,
    opts: ExecOptions = {},
  ): Promise<ExecResult> {
    const r = await this.#exec(script, opts);
    if (r.code !== 0) throw fileFailure(r, op, path, this.#host);
    return r;
  }

  /** Reads a whole file; see {@linkcode FileOps.readFile}. */
  readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    checkPath(path);
    const max = options.maxBytes;
    return this.#retry(`read ${path}`, async () => {
      const r = await this.#run(
        "read",
        path,
        readScript(path, max === undefined ? undefined : max + 1),
        options.signal ? { signal: options.signal } : {},
      );
      if (max !== undefined && r.stdout.length > max) {
        throw new FileError(path, `"${path}" on "${this.#host}" is larger than ${max} bytes`, {
          hint: "Raise maxBytes, or stream it with readFileStream/download",
        });
      }
      return r.stdout;
    }, options.signal);
  }

  /** Streams a file to `sink`; see {@linkcode FileOps.readFileStream}. Not retried. */
  async readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options: DownloadOptions = {},
  ): Promise<number> {
    checkPath(path);
    let bytes = 0;
    await this.#run("read", path, readScript(path), {
      maxOutputBytes: 0,
      onStdout: (c) => {
        sink(c);
        bytes += c.length;
        options.onProgress?.({ bytes });
      },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return bytes;
  }

  /**
   * Downloads to a local file, replaced atomically; see {@linkcode FileOps.download}. The bytes go
   * from ssh straight into a temp file beside `localPath` (they never pass through this process);
   * its size must match the count the remote copied before it replaces `localPath`.
   */
  download(path: string, localPath: string, options: DownloadOptions = {}): Promise<number> {
    checkPath(path);
    return this.#retry(`download ${path}`, async () => {
      const dir = dirname(localPath);
      if (options.mkdirs) {
        await Deno.mkdir(dir, { recursive: true }).catch((e) => {
          throw localError(e, dir, "create");
        });
      }
      await cleanStaleTemps(dir);
      const tmp = tempPathFor(dir, basename(localPath));
      try {
        // Created private first; ssh's redirection then truncates it and keeps that mode.
        (await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 })).close();
      } catch (e) {
        throw localError(e, localPath, "write");
      }
      const old = await Deno.stat(localPath).catch(() => null);
      let ok = false;
      const onProgress = options.onProgress;
      // The progress poll starts with the remote's first words (the size frame, sent before the
      // bytes): Deno loads its timers on first use, 10 ms that would otherwise come before ssh
      // even starts.
      let poll: ReturnType<typeof setInterval> | undefined;
      const startPoll = () => {
        if (poll !== undefined || !onProgress || ok) return;
        poll = setInterval(() => {
          Deno.stat(tmp).then((s) => onProgress({ bytes: s.size }), () => {});
        }, 250);
      };
      const stopPoll = () => {
        if (poll !== undefined) clearInterval(poll);
      };
      // Replacing a file: reserve the new one's blocks as soon as the remote says its size.
      let reserved = 0;
      let reserving = Promise.resolve();
      let head = "";
      const nonce = newNonce().slice(0, 16);
      const onStderr = (c: Uint8Array) => {
        startPoll();
        if (!old?.isFile || reserved !== 0 || head.length > 4096) return;
        head += new TextDecoder().decode(c);
        const size = parseSize(head, nonce);
        if (size === null) return;
        reserved = -1;
        if (size < PREALLOCATE_BYTES) return;
        reserved = size;
        reserving = reserveSpace(tmp, size);
      };
      try {
        const r = await this.#exec(downloadScript(path, nonce), {
          stdoutFile: tmp,
          onStderr,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        await reserving;
        const { copied, stderr } = parseCopied(r.stderr, nonce);
        if (r.code !== 0) throw fileFailure({ ...r, stderr }, "read", path, this.#host);
        const got = (await Deno.stat(tmp)).size;
        if (copied === null) this.#log(`download ${path}: dd gave no byte count; size not checked`);
        else if (got !== copied) {
          throw new FileError(
            path,
            `The download of "${path}" from "${this.#host}" is incomplete: ` +
              `${got} of ${copied} bytes arrived; "${localPath}" is unchanged`,
            { hint: "Retry the download" },
          );
        }
        stopPoll();
        onProgress?.({ bytes: got, totalBytes: got });
        // Blocks reserved past the end (the file shrank meanwhile) go back.
        if (reserved > got) await Deno.truncate(tmp, got);
        try {
          await Deno.chmod(tmp, (old?.mode ?? (0o666 & ~umask())) & 0o7777);
          await Deno.rename(tmp, localPath);
        } catch (e) {
          throw localError(e, localPath, "write");
        }
        ok = true;
        return got;
      } finally {
        stopPoll();
        await reserving;
        if (!ok) await Deno.remove(tmp).catch(() => {});
      }
    }, options.signal);
  }

  /** Writes a file atomically; see {@linkcode FileOps.writeFile}. */
  async writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options: WriteFileOptions = {},
  ): Promise<void> {
    checkPath(path);
    checkMode(options.mode);
    if (data instanceof ReadableStream) {
      const spooled = await spool(data);
      try {
        await this.upload(spooled.path, path, options);
      } finally {
        await Deno.remove(spooled.path).catch(() => {});
      }
      return;
    }
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    await this.#retry(`write ${path}`, async () => {
      await this.#put(path, bytes.length, { stdin: bytes }, options);
      options.onProgress?.({ bytes: bytes.length, totalBytes: bytes.length });
    }, options.signal);
  }

  /**
   * Uploads a local file atomically; see {@linkcode FileOps.upload}. Without `onProgress` the file
   * is handed to ssh as its stdin (its bytes never pass through this process); with it they are
   * streamed through this process so they can be counted as they go. A local fifo or device is
   * read to a temp file first, since its size is not known in advance.
   */
  upload(localPath: string, path: string, options: WriteFileOptions = {}): Promise<number> {
    checkPath(path);
    checkMode(options.mode);
    return this.#retry(`upload ${path}`, async () => {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(localPath, { read: true });
      } catch (e) {
        throw localError(e, localPath, "read");
      }
      let info: Deno.FileInfo;
      try {
        info = await file.stat();
        if (info.isDirectory) throw new FileError(localPath, `"${localPath}" is a directory`);
      } catch (e) {
        file.close();
        throw e;
      }
      if (!info.isFile) {
        const spooled = await spool(file.readable);
        try {
          return await this.upload(spooled.path, path, options);
        } finally {
          await Deno.remove(spooled.path).catch(() => {});
        }
      }
      const size = info.size;
      if (!options.onProgress) {
        file.close();
        await this.#put(path, size, { stdinFile: localPath }, options);
        return size;
      }
      const stream = fileReadable(
        file,
        size,
        (bytes) => options.onProgress?.({ bytes, totalBytes: size }),
      );
      await this.#put(path, size, { stdin: stream }, options);
      return size;
    }, options.signal);
  }

  async #put(
    path: string,
    size: number,
    source: { stdin: Uint8Array | ReadableStream<Uint8Array> } | { stdinFile: string },
    options: WriteFileOptions,
  ): Promise<void> {
    const script = writeScript({
      path,
      size,
      mkdirs: options.mkdirs ?? false,
      mode: options.mode,
      nonce: newNonce().slice(0, 12),
    });
    const r = await this.#exec(script, {
      ...source,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (r.code !== 0) {
      if ("stdin" in source && source.stdin instanceof ReadableStream) {
        await source.stdin.cancel().catch(() => {});
      }
      throw fileFailure(r, "write", path, this.#host);
    }
  }

  /** Describes a path; see {@linkcode FileOps.stat}. */
  stat(path: string): Promise<FileInfo> {
    checkPath(path);
    return this.#retry(`stat ${path}`, async () => {
      const r = await this.#run("stat", path, statScript(path));
      return parseStat(path, dec.decode(r.stdout));
    });
  }

  /** Lists a directory; see {@linkcode FileOps.list}. */
  list(path: string, options: ListOptions = {}): Promise<FileInfo[]> {
    checkPath(path);
    return this.#retry(`list ${path}`, async () => {
      const r = await this.#run("list", path, listScript(path, options));
      return parseListing(r.stdout);
    });
  }

  /** Removes a path; see {@linkcode FileOps.remove}. */
  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    checkPath(path);
    refuseRoot(path);
    await this.#retry(
      `remove ${path}`,
      () => this.#run("remove", path, removeScript(path, options)),
    );
  }

  /** Creates a directory; see {@linkcode FileOps.mkdir}. */
  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    checkPath(path);
    checkMode(options.mode);
    await this.#run("create", path, mkdirScript(path, options));
  }
}
