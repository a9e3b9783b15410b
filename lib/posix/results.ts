/**
 * What the POSIX file scripts' output means: their exit statuses as typed errors, and their
 * listing and stat records as {@linkcode FileInfo}s. Shared by every backend and by the tree code.
 *
 * @module
 */

import { basename, dirname } from "../util/path.ts";
import type { ExecResult } from "../core/environment.ts";
import {
  FileError,
  NoSpace,
  NotADirectory,
  NotFound,
  PermissionDenied,
  tail,
  TimedOut,
  YonderError,
} from "../core/errors.ts";
import { type FileInfo, sortByName, typeFromMode } from "../core/files.ts";
import { FILE_STATUS } from "./file_scripts.ts";

const dec = new TextDecoder();

/** What the failing operation was, for messages. */
export type Op = "read" | "write" | "stat" | "list" | "remove" | "create";

/**
 * Turns a file script's failure into a typed error; a call stopped by `signal` rejects with the
 * signal's reason instead.
 */
export function fileFailure(
  r: ExecResult,
  op: Op,
  path: string,
  host: string,
  signal?: AbortSignal,
): unknown {
  if (signal?.aborted) return signal.reason;
  const text = tail(dec.decode(r.stderr), 3);
  const failure: Failure = {
    op,
    path,
    host,
    code: r.code,
    dir: dirname(path, true),
    detail: text ? `: ${text.split("\n").at(-1)}` : "",
    where: { where: host },
  };
  return (FAILURES.get(r.code) ?? otherFailure)(failure);
}

/** What the error for a failed file script is made from. */
interface Failure {
  /** The operation that failed. */
  op: Op;
  /** The path it was about. */
  path: string;
  /** The host's label. */
  host: string;
  /** The script's exit status. */
  code: number;
  /** The parent directory of `path`. */
  dir: string;
  /** `: ` and the last line of the script's stderr, or `""` if it wrote none. */
  detail: string;
  /** The errors' `where` option: the host. */
  where: { where: string };
}

/** Builds the error for one exit status. */
type FailureBuilder = (f: Failure) => YonderError;

/** Not found: for a write or create, the directory it goes in; else the path itself. */
function notFoundFailure({ op, path, host, dir, where }: Failure): NotFound {
  if (op !== "write" && op !== "create") {
    return new NotFound(path, `"${path}" does not exist on "${host}"`, where);
  }
  return new NotFound(
    op === "create" ? path : dir,
    `Directory "${dir}" does not exist on "${host}"`,
    { ...where, hint: "Create it first, or pass mkdirs (CLI: --mkdirs)" },
  );
}

/** Not a directory: the path itself when listing it, else one of its parents. */
function notDirFailure({ op, path, host, dir, where }: Failure): NotADirectory {
  return new NotADirectory(
    op === "list" ? path : dir,
    op === "list"
      ? `"${path}" on "${host}" is not a directory`
      : `A parent of "${path}" on "${host}" is not a directory`,
    where,
  );
}

/** Any other status: the script's last line of stderr, or the status. */
function otherFailure({ op, path, host, code, detail, where }: Failure): FileError {
  return new FileError(
    path,
    `Cannot ${op} "${path}" on "${host}"${detail || ` (exit ${code})`}`,
    where,
  );
}

/**
 * The error of each exit status a file script reports ({@linkcode FILE_STATUS}), and of the
 * exec pipeline's 124 (timed out) and 143 (stopped with SIGTERM); any other is {@linkcode otherFailure}.
 */
const FAILURES = new Map<number, FailureBuilder>([
  [FILE_STATUS.notFound, notFoundFailure],
  [
    FILE_STATUS.denied,
    ({ op, path, host, where }) =>
      new PermissionDenied(path, `Permission denied: cannot ${op} "${path}" on "${host}"`, where),
  ],
  [FILE_STATUS.notDir, notDirFailure],
  [
    FILE_STATUS.noSpace,
    ({ path, host, detail, where }) =>
      new NoSpace(path, `No space left on "${host}" to write "${path}"${detail}`, {
        ...where,
        hint:
          "Free space (or raise the file size limit) on the remote; the destination was not changed",
      }),
  ],
  [
    FILE_STATUS.isDir,
    ({ path, host, where }) => new FileError(path, `"${path}" on "${host}" is a directory`, where),
  ],
  [
    FILE_STATUS.short,
    ({ path, host, detail, where }) =>
      new FileError(
        path,
        `The upload of "${path}" to "${host}" was cut short${detail}; the destination is unchanged`,
        where,
      ),
  ],
  [
    FILE_STATUS.long,
    ({ path, host, detail, where }) =>
      new FileError(
        path,
        `The upload of "${path}" to "${host}" brought more bytes than announced${detail}; ` +
          `the destination is unchanged`,
        { ...where, hint: "The source grew while it was sent; retry once it stops changing" },
      ),
  ],
  [
    FILE_STATUS.exists,
    ({ path, host, where }) => new FileError(path, `"${path}" already exists on "${host}"`, where),
  ],
  [
    FILE_STATUS.notEmpty,
    ({ path, host, where }) =>
      new FileError(path, `Directory "${path}" on "${host}" is not empty`, {
        ...where,
        hint: "Pass recursive to remove it with everything in it",
      }),
  ],
  [124, ({ op, path, host }) => new TimedOut(`cannot ${op} "${path}" on "${host}"`)],
  [
    143,
    ({ op, path, host, where }) =>
      new FileError(path, `Stopped: ${op} of "${path}" on "${host}"`, where),
  ],
]);

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
