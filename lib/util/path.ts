/**
 * The few path functions the file commands need. `node:path` would do, but loading it costs about
 * 13 ms of start-up on every `put`, `get`, `cat` and `ls`. Unlike `node:path`'s `join`, these never
 * fold `..` away: `a/link/..` names what the filesystem says it names.
 *
 * Remote paths are always POSIX (`posix: true`); local ones also split at `\` on Windows.
 *
 * @module
 */

const WINDOWS = Deno.build.os === "windows";

function isSep(c: string | undefined, posix: boolean): boolean {
  return c === "/" || (!posix && WINDOWS && c === "\\");
}

function trimTrailing(p: string, posix: boolean): string {
  let end = p.length;
  while (end > 1 && isSep(p[end - 1], posix)) end--;
  return p.slice(0, end);
}

/** The last part of `p`, ignoring trailing separators; `""` for a root. */
export function basename(p: string, posix = false): string {
  const t = trimTrailing(p, posix);
  if (t.length === 1 && isSep(t, posix)) return "";
  for (let i = t.length - 1; i >= 0; i--) if (isSep(t[i], posix)) return t.slice(i + 1);
  return t;
}

/** Everything but the last part of `p`: `"."` when it has no directory, the root for a root. */
export function dirname(p: string, posix = false): string {
  if (p === "") return ".";
  const t = trimTrailing(p, posix);
  let i = t.length - 1;
  while (i >= 0 && !isSep(t[i], posix)) i--;
  if (i < 0) return ".";
  if (t.length === 1) return t; // The root itself.
  const dir = trimTrailing(t.slice(0, i + 1), posix);
  if (!posix && WINDOWS && /^[A-Za-z]:$/.test(dir)) return `${dir}\\`;
  return dir;
}

/** Joins parts with `/`, dropping empty parts and doubled separators at the seams. */
export function join(...parts: string[]): string {
  let out = "";
  for (const part of parts) {
    if (part === "") continue;
    if (out === "") out = part;
    else if (out.endsWith("/") || (WINDOWS && out.endsWith("\\"))) out += part.replace(/^\/+/, "");
    else out += part.startsWith("/") ? part.replace(/^\/+/, "/") : `/${part}`;
  }
  return out === "" ? "." : out;
}

/**
 * `path` (absolute, POSIX) with `.` and `..` resolved lexically and slashes collapsed.
 *
 * @example
 * ```ts
 * import { normalizePosix } from "./path.ts";
 * console.log(normalizePosix("/srv/app/new/../x//y")); // "/srv/app/x/y"
 * ```
 */
export function normalizePosix(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return "/" + parts.join("/");
}

/**
 * Whether the absolute POSIX `path` lies under (or is) one of `roots`, `..` resolved lexically.
 *
 * @example
 * ```ts
 * import { underRoot } from "./path.ts";
 * console.log(underRoot("/srv/app/x", ["/srv/app"])); // true
 * console.log(underRoot("/srv/application", ["/srv/app"])); // false
 * ```
 */
export function underRoot(path: string, roots: readonly string[]): boolean {
  const clean = normalizePosix(path);
  return roots.some((r) => {
    const root = normalizePosix(r);
    return root === "/" || clean === root || clean.startsWith(root + "/");
  });
}
