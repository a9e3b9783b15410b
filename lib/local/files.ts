/**
 * File operations on this machine, with the same contract as the remote ones (`lib/ssh/files.ts`):
 * atomic writes through a temp file beside the destination, streamed copies, the same typed
 * errors carrying the same paths.
 *
 * @module
 */

import { basename, dirname, join } from "../util/path.ts";
import { FileError, NotADirectory, NotFound, UsageError } from "../core/errors.ts";
import {
  checkMode,
  type DownloadOptions,
  type FileInfo,
  type FileOps,
  type FileType,
  type ListOptions,
  type MkdirOptions,
  type ReadFileOptions,
  refuseRoot,
  type RemoveOptions,
  sortByName,
  type StatOptions,
  type WriteFileOptions,
} from "../core/files.ts";
import {
  CHUNK,
  cleanStaleTemps,
  localError,
  tempPathFor,
  umask,
  writeAllSync,
} from "../core/file_stream.ts";

/** Maps a path as given (relative, `~`) to the path to use. */
export type PathResolver = (path: string) => string;

function checkPath(path: string): void {
  if (path === "") throw new UsageError("Empty path");
  if (path.includes("\0")) throw new UsageError(`Invalid path ${JSON.stringify(path)}: NUL byte`);
}

function typeOf(info: Deno.FileInfo): FileType {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "dir";
  if (info.isFile) return "file";
  return "other";
}

function infoOf(name: string, info: Deno.FileInfo): FileInfo {
  return {
    name,
    type: typeOf(info),
    size: info.size,
    mode: (info.mode ?? 0) & 0o7777,
    mtime: info.mtime ?? new Date(0),
  };
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch {
    return null;
  }
}

/**
 * Why the parent of `path` is unusable: a `NotADirectory` when an ancestor is a file, else a
 * `NotFound` for the directory.
 */
async function parentError(path: string, shown: string): Promise<Error> {
  let dir = dirname(path);
  while (true) {
    const info = await Deno.stat(dir).catch(() => null);
    if (info) {
      if (!info.isDirectory) {
        return new NotADirectory(dirname(shown), `A parent of "${shown}" is not a directory`);
      }
      break;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return new NotFound(dirname(shown), `Directory "${dirname(shown)}" does not exist`, {
    hint: "Create it first, or pass mkdirs (CLI: --mkdirs)",
  });
}

/**
 * The file operations of this machine.
 *
 * @example
 * ```ts
 * import { LocalFiles } from "./files.ts";
 * const files = new LocalFiles((p) => p);
 * const dir = await Deno.makeTempDir();
 * await files.writeFile(`${dir}/a.txt`, "hi");
 * console.assert(new TextDecoder().decode(await files.readFile(`${dir}/a.txt`)) === "hi");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LocalFiles implements FileOps {
  #resolve: PathResolver;

  /** Creates the operations; `resolve` maps relative and `~` paths. */
  constructor(resolve: PathResolver) {
    this.#resolve = resolve;
  }

  /** Reads a whole file; see {@linkcode FileOps.readFile}. */
  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const p = this.#resolve(path);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(p);
    } catch (e) {
      throw await this.#readError(e, p, path);
    }
    if (info.isDirectory) throw new FileError(path, `"${path}" is a directory`);
    if (options.maxBytes !== undefined && info.size > options.maxBytes) {
      throw new FileError(path, `"${path}" is larger than ${options.maxBytes} bytes`, {
        hint: "Raise maxBytes, or stream it with readFileStream/download",
      });
    }
    try {
      return await Deno.readFile(p, options.signal ? { signal: options.signal } : {});
    } catch (e) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw await this.#readError(e, p, path);
    }
  }

  async #readError(e: unknown, p: string, shown: string): Promise<Error> {
    if (e instanceof Deno.errors.NotFound) {
      const parent = await parentError(p, shown);
      if (parent instanceof NotADirectory) return parent;
      return new NotFound(shown, `"${shown}" does not exist`);
    }
    if (e instanceof Deno.errors.NotADirectory) return await parentError(p, shown);
    return localError(e, shown, "read");
  }

  /** Streams a file to `sink`; see {@linkcode FileOps.readFileStream}. */
  async readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options: DownloadOptions = {},
  ): Promise<number> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const p = this.#resolve(path);
    let file: Deno.FsFile;
    try {
      if ((await Deno.stat(p)).isDirectory) throw new FileError(path, `"${path}" is a directory`);
      file = await Deno.open(p, { read: true });
    } catch (e) {
      throw await this.#readError(e, p, path);
    }
    let bytes = 0;
    try {
      while (true) {
        options.signal?.throwIfAborted();
        const buf = new Uint8Array(CHUNK);
        const n = await file.read(buf);
        if (n === null) break;
        sink(buf.subarray(0, n));
        bytes += n;
        options.onProgress?.({ bytes });
      }
    } finally {
      file.close();
    }
    return bytes;
  }

  /** Copies a file to a local path atomically; see {@linkcode FileOps.download}. */
  async download(path: string, localPath: string, options: DownloadOptions = {}): Promise<number> {
    checkPath(path);
    options.signal?.throwIfAborted();
    return await this.#atomicWrite(
      localPath,
      localPath,
      { mkdirs: options.mkdirs, signal: options.signal },
      (file) => this.readFileStream(path, (c) => writeAllSync(file, c), options),
    );
  }

  /** Writes a file atomically; see {@linkcode FileOps.writeFile}. */
  async writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options: WriteFileOptions = {},
  ): Promise<void> {
    checkPath(path);
    options.signal?.throwIfAborted();
    checkMode(options.mode);
    await this.#atomicWrite(this.#resolve(path), path, options, async (file) => {
      if (data instanceof ReadableStream) {
        let bytes = 0;
        for await (const chunk of data) {
          options.signal?.throwIfAborted();
          writeAllSync(file, chunk);
          bytes += chunk.length;
          options.onProgress?.({ bytes });
        }
        return bytes;
      }
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      writeAllSync(file, bytes);
      options.onProgress?.({ bytes: bytes.length, totalBytes: bytes.length });
      return bytes.length;
    });
  }

  /** Copies a local file to `path` atomically; see {@linkcode FileOps.upload}. */
  async upload(localPath: string, path: string, options: WriteFileOptions = {}): Promise<number> {
    checkPath(path);
    options.signal?.throwIfAborted();
    checkMode(options.mode);
    let src: Deno.FsFile;
    try {
      src = await Deno.open(localPath, { read: true });
    } catch (e) {
      throw localError(e, localPath, "read");
    }
    try {
      const info = await src.stat();
      if (info.isDirectory) throw new FileError(localPath, `"${localPath}" is a directory`);
      return await this.#atomicWrite(this.#resolve(path), path, options, async (file) => {
        let bytes = 0;
        while (true) {
          options.signal?.throwIfAborted();
          const buf = new Uint8Array(CHUNK);
          const n = await src.read(buf);
          if (n === null) break;
          writeAllSync(file, buf.subarray(0, n));
          bytes += n;
          options.onProgress?.({ bytes, totalBytes: info.size });
        }
        return bytes;
      });
    } finally {
      src.close();
    }
  }

  /**
   * Writes through a temp file beside `p` (created 0600), sets the final mode, renames it over
   * `p`; on any failure the temp file is removed and `p` is untouched.
   */
  async #atomicWrite(
    p: string,
    shown: string,
    options: {
      mode?: number | undefined;
      mkdirs?: boolean | undefined;
      signal?: AbortSignal | undefined;
    },
    fill: (file: Deno.FsFile) => Promise<number>,
  ): Promise<number> {
    if (p.endsWith("/")) throw new FileError(shown, `"${shown}" is a directory`);
    const dir = dirname(p);
    const dirInfo = await Deno.stat(dir).catch(() => null);
    if (!dirInfo) {
      if (!options.mkdirs) throw await parentError(p, shown);
      try {
        await Deno.mkdir(dir, { recursive: true });
      } catch (e) {
        if (e instanceof Deno.errors.NotADirectory || e instanceof Deno.errors.AlreadyExists) {
          throw await parentError(p, shown);
        }
        throw localError(e, dirname(shown), "create");
      }
    } else if (!dirInfo.isDirectory) {
      throw new NotADirectory(dirname(shown), `A parent of "${shown}" is not a directory`);
    }
    const old = await Deno.stat(p).catch(() => null);
    if (old?.isDirectory) throw new FileError(shown, `"${shown}" is a directory`);
    await cleanStaleTemps(dir);
    const tmp = tempPathFor(dir, basename(p));
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    } catch (e) {
      throw localError(e, shown, "write");
    }
    let done = false;
    try {
      const n = await fill(file);
      file.close();
      const mode = options.mode ?? (old?.mode ?? (0o666 & ~umask()));
      await Deno.chmod(tmp, mode & 0o7777);
      await Deno.rename(tmp, p);
      done = true;
      return n;
    } catch (e) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw localError(e, shown, "write");
    } finally {
      if (!done) {
        try {
          file.close();
        } catch {
          // Closed already.
        }
        await Deno.remove(tmp).catch(() => {});
      }
    }
  }

  /** Describes a path; see {@linkcode FileOps.stat}. */
  async stat(path: string, options: StatOptions = {}): Promise<FileInfo> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const p = this.#resolve(path);
    try {
      return infoOf(basename(path) || path, await Deno.lstat(p));
    } catch (e) {
      throw await this.#readError(e, p, path);
    }
  }

  /** Lists a directory; see {@linkcode FileOps.list}. */
  async list(path: string, options: ListOptions = {}): Promise<FileInfo[]> {
    checkPath(path);
    options.signal?.throwIfAborted();
    const root = this.#resolve(path);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(root);
    } catch (e) {
      throw await this.#readError(e, root, path);
    }
    if (!info.isDirectory) {
      throw new NotADirectory(path, `"${path}" is not a directory`);
    }
    const out: FileInfo[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      options.signal?.throwIfAborted();
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch (e) {
        if (prefix === "") throw localError(e, path, "list");
        return;
      }
      for (const e of entries) {
        if (!options.hidden && e.name.startsWith(".")) continue;
        const full = join(dir, e.name);
        const st = await lstatOrNull(full);
        if (!st) continue;
        const name = prefix + e.name;
        out.push(infoOf(name, st));
        if (options.recursive && st.isDirectory) await walk(full, name + "/");
      }
    };
    await walk(root, "");
    return sortByName(out);
  }

  /** Removes a path; see {@linkcode FileOps.remove}. */
  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    checkPath(path);
    options.signal?.throwIfAborted();
    refuseRoot(path);
    const p = this.#resolve(path);
    const info = await lstatOrNull(p);
    if (!info) {
      if (options.force) return;
      throw await this.#readError(new Deno.errors.NotFound(), p, path);
    }
    try {
      await Deno.remove(p, { recursive: options.recursive ?? false });
    } catch (e) {
      if (info.isDirectory && !options.recursive && !(e instanceof Deno.errors.PermissionDenied)) {
        throw new FileError(path, `Directory "${path}" is not empty`, {
          hint: "Pass recursive to remove it with everything in it",
        });
      }
      throw localError(e, path, "remove");
    }
  }

  /** Creates a directory; see {@linkcode FileOps.mkdir}. */
  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    checkPath(path);
    options.signal?.throwIfAborted();
    checkMode(options.mode);
    const p = this.#resolve(path);
    const info = await lstatOrNull(p);
    if (info) {
      if (info.isDirectory && options.recursive) return;
      throw new FileError(path, `"${path}" already exists`);
    }
    try {
      await Deno.mkdir(p, {
        recursive: options.recursive ?? false,
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
      });
      if (options.mode !== undefined) await Deno.chmod(p, options.mode);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        const parent = await parentError(p, path);
        if (parent instanceof NotADirectory) throw parent;
        throw new NotFound(path, `Directory "${dirname(path)}" does not exist`);
      }
      if (e instanceof Deno.errors.NotADirectory || e instanceof Deno.errors.AlreadyExists) {
        throw await parentError(p, path);
      }
      throw localError(e, path, "create");
    }
  }
}
