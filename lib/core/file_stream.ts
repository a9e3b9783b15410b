/** Local file streaming helpers shared by the file backends: bounded reads, spooling, temp names. */

import { toHex } from "../util/hex.ts";
import { dirname, join } from "../util/path.ts";
import { spawn } from "../util/process.ts";
import {
  FileError,
  NoSpace,
  NotADirectory,
  NotFound,
  PermissionDenied,
  YonderError,
} from "./errors.ts";

/** Chunk size of local file reads (large chunks keep ssh's pipe full). */
export const CHUNK = 256 * 1024;

/**
 * A stream of the first `size` bytes of an open file (fewer if the file shrinks), closing the file
 * at the end or on cancel. `onBytes` gets the running count.
 */
export function fileReadable(
  file: Deno.FsFile,
  size: number,
  onBytes?: (n: number) => void,
): ReadableStream<Uint8Array> {
  let sent = 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      file.close();
    } catch {
      // Closed already.
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= size) {
        close();
        controller.close();
        return;
      }
      const buf = new Uint8Array(Math.min(CHUNK, size - sent));
      const n = await file.read(buf);
      if (n === null || n === 0) {
        close();
        controller.close();
        return;
      }
      sent += n;
      onBytes?.(sent);
      controller.enqueue(n === buf.length ? buf : buf.subarray(0, n));
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 2 });
}

/** Writes a stream to a fresh temp file; returns its path and size (the caller removes it). */
export async function spool(
  stream: ReadableStream<Uint8Array>,
): Promise<{ path: string; size: number }> {
  const path = await Deno.makeTempFile({ prefix: "yonder-spool-" });
  let size = 0;
  try {
    const file = await Deno.open(path, { write: true, truncate: true });
    try {
      for await (const chunk of stream) {
        let at = 0;
        while (at < chunk.length) at += await file.write(chunk.subarray(at));
        size += chunk.length;
      }
    } finally {
      file.close();
    }
  } catch (e) {
    await Deno.remove(path).catch(() => {});
    throw e;
  }
  return { path, size };
}

/** Writes all of `bytes` to `file` synchronously (holds a fast source back). */
export function writeAllSync(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
}

/** A random suffix for temp names. */
export function tempSuffix(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(6)));
}

/**
 * The temp file name a write of `dest` uses beside it: `.<name>.yonder-tmp-<pid>-<nonce>` (or
 * `.yonder-tmp-<pid>-<nonce>` for very long names), the same scheme as the remote side.
 */
export function tempPathFor(dir: string, name: string): string {
  const suffix = `yonder-tmp-${Deno.pid}-${tempSuffix()}`;
  const base = new TextEncoder().encode(name).length > 200 ? `.${suffix}` : `.${name}.${suffix}`;
  return join(dir, base);
}

/**
 * Removes the temp files in `dir` that yonder processes which are gone left (any name: a write,
 * a download or a pull killed before it could clean up), the same sweep as on a remote.
 */
export async function cleanStaleTemps(dir: string): Promise<void> {
  const stale = /^\.(?:.*\.)?yonder-tmp-(\d+)-/;
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && stale.test(e.name)) names.push(e.name);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(stale.exec(name)![1]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    await Deno.remove(join(dir, name)).catch(() => {});
  }
}

/** Whether `pid` runs; unknown (treated as alive) where there is no /proc. */
function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

let canReserve = Deno.build.os === "linux";

/**
 * Reserves `size` bytes of blocks for `path` without changing its size (Linux `fallocate -n`),
 * so that ext4 need not write the whole file out when it is renamed over an existing one
 * (auto_da_alloc). Best effort: resolves whatever happens; without `fallocate` it stops trying.
 */
export async function reserveSpace(path: string, size: number): Promise<void> {
  if (!canReserve) return;
  try {
    await spawn("fallocate", { args: ["-n", "-l", String(size), "--", path] }).status;
  } catch {
    canReserve = false; // No fallocate here.
  }
}

/** The process umask (read by setting and restoring it); 0o022 where there is none (Windows). */
export function umask(): number {
  try {
    return Deno.umask();
  } catch {
    return 0o022;
  }
}

/** Maps a local Deno error about `path` to a typed yonder error. */
export function localError(e: unknown, path: string, op: string): Error {
  if (e instanceof YonderError) return e;
  const here = { where: "local" };
  if (!(e instanceof Error)) {
    return new FileError(path, `Cannot ${op} "${path}": ${String(e)}`, here);
  }
  const code = (e as { code?: string }).code;
  if (e instanceof Deno.errors.NotFound) {
    return new NotFound(path, `"${path}" does not exist on this machine`, here);
  }
  if (e instanceof Deno.errors.PermissionDenied || code === "EACCES" || code === "EPERM") {
    return new PermissionDenied(path, `Permission denied: cannot ${op} "${path}"`, here);
  }
  if (e instanceof Deno.errors.NotADirectory) {
    return new NotADirectory(path, `A parent of "${path}" is not a directory`, here);
  }
  if (code === "ENOSPC" || code === "EFBIG" || code === "EDQUOT") {
    return new NoSpace(path, `No space left to write "${path}"`, {
      ...here,
      hint: "Free space on the local filesystem; the destination was not changed",
    });
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new FileError(path, `"${path}" is a directory`, here);
  }
  return new FileError(path, `Cannot ${op} "${path}": ${e.message}`, { ...here, cause: e });
}

/**
 * Refuses, before anything runs, a call's `stdinFile` that cannot be read and a `stdoutFile`
 * whose directory is missing or that is a directory: a typed error naming the file, instead of a
 * redirection failing in a shell that would look like the command's own exit status.
 */
export async function checkStdioFiles(
  opts: { stdinFile?: string | undefined; stdoutFile?: string | undefined },
): Promise<void> {
  const here = { where: "local" };
  if (opts.stdinFile !== undefined) {
    const p = opts.stdinFile;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(p);
    } catch (e) {
      throw localError(e, p, "read");
    }
    if (info.isDirectory) throw new FileError(p, `"${p}" is a directory, not a file to read`, here);
    // A FIFO or a device is left alone: opening one here could block or consume it.
    if (info.isFile) {
      try {
        (await Deno.open(p, { read: true })).close();
      } catch (e) {
        throw localError(e, p, "read");
      }
    }
  }
  if (opts.stdoutFile !== undefined) {
    const p = opts.stdoutFile;
    const info = await Deno.stat(p).catch(() => null);
    if (info?.isDirectory) {
      throw new FileError(p, `"${p}" is a directory, not a file to write`, here);
    }
    if (!info) {
      const dir = dirname(p);
      const parent = await Deno.stat(dir).catch((e) => {
        throw localError(e, dir, "write into");
      });
      if (!parent.isDirectory) {
        throw new NotADirectory(p, `A parent of "${p}" is not a directory`, here);
      }
    }
  }
}
