/**
 * File operations on a remote host, each one command over the master (through the environment's
 * `exec`, so every call gets the exec wrapper's exact exit status). Bytes stay `Uint8Array` end
 * to end: the channel has no pty. `download` hands the local file to ssh as its stdout
 * (`stdoutFile`), so the bytes never pass through JavaScript; `upload` (`stdinFile`) hands it to
 * ssh as its stdin once the connection learned a POSIX login shell, else copies it in 1 MiB
 * chunks behind the call's script (see `posix/first_hop.ts`);
 * streams (`writeFile` of bytes, `readFileStream`, `upload` with `onProgress`) go through its
 * pipes.
 *
 * Writes are atomic: the remote script copies stdin into a temp file beside the destination,
 * checks that exactly the announced number of bytes came, and only then renames it over the
 * destination; when the sender dies the remote sees a clean EOF, counts too few bytes and leaves
 * the destination alone. Downloads land in a local temp file whose size must equal the count the
 * remote `dd` reports before it replaces the destination. Failures come back as exit statuses
 * (`FILE_STATUS` in the POSIX scripts) and become typed errors.
 *
 * @module
 */

import { basename, dirname } from "../util/path.ts";
import type { ExecOptions, ExecResult, Logger } from "../core/environment.ts";
import { FileError, UsageError } from "../core/errors.ts";
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
  type StatOptions,
  type WriteFileOptions,
} from "../core/files.ts";
import { withRetry } from "../core/retry.ts";
import {
  cleanStaleTemps,
  fileReadable,
  localError,
  reserveSpace,
  spool,
  tempPathFor,
  umask,
} from "../core/file_stream.ts";
import { newNonce } from "../posix/frames.ts";
import { fileFailure, type Op, parseListing, parseStat } from "../posix/results.ts";
import {
  downloadScript,
  listScript,
  mkdirScript,
  parseCopied,
  parseSize,
  PREALLOCATE_BYTES,
  readScript,
  removeScript,
  statScript,
  writeScript,
} from "../posix/file_scripts.ts";

/** Runs a `sh -c` script on the host (an environment's `exec`). */
export type ExecFn = (command: string, options?: ExecOptions) => Promise<ExecResult>;

const dec = new TextDecoder();

/** `{ signal }` of `options`, or nothing. */
function signalOf(options: { signal?: AbortSignal | undefined }): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

function checkPath(path: string): void {
  if (path === "") throw new UsageError("Empty path");
  if (path.includes("\0")) throw new UsageError(`Invalid path ${JSON.stringify(path)}: NUL byte`);
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
    if (r.code !== 0) throw this.#failure(r, op, path, opts.signal);
    return r;
  }

  /** The error of a failed script: the signal's reason when it was aborted, else typed. */
  #failure(r: ExecResult, op: Op, path: string, signal: AbortSignal | undefined): unknown {
    return fileFailure(r, op, path, this.#host, signal);
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
        if (r.code !== 0) throw this.#failure({ ...r, stderr }, "read", path, options.signal);
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
   * goes to ssh as its stdin (or, behind the first hop, in large chunks after the call's script);
   * with it they are
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
      throw this.#failure(r, "write", path, options.signal);
    }
  }

  /** Describes a path; see {@linkcode FileOps.stat}. */
  stat(path: string, options: StatOptions = {}): Promise<FileInfo> {
    checkPath(path);
    return this.#retry(`stat ${path}`, async () => {
      const r = await this.#run("stat", path, statScript(path), signalOf(options));
      return parseStat(path, dec.decode(r.stdout));
    }, options.signal);
  }

  /** Lists a directory; see {@linkcode FileOps.list}. */
  list(path: string, options: ListOptions = {}): Promise<FileInfo[]> {
    checkPath(path);
    return this.#retry(`list ${path}`, async () => {
      const r = await this.#run("list", path, listScript(path, options), signalOf(options));
      return parseListing(r.stdout);
    }, options.signal);
  }

  /** Removes a path; see {@linkcode FileOps.remove}. */
  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    checkPath(path);
    refuseRoot(path);
    await this.#retry(
      `remove ${path}`,
      () => this.#run("remove", path, removeScript(path, options), signalOf(options)),
      options.signal,
    );
  }

  /** Creates a directory; see {@linkcode FileOps.mkdir}. */
  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    checkPath(path);
    checkMode(options.mode);
    await this.#run("create", path, mkdirScript(path, options), signalOf(options));
  }
}
