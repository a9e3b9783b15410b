/** Checks that keep tree entries inside their root, on both sides. */

import { posix } from "node:path";
import { FileError } from "../core/errors.ts";

/** Why a relative entry path is unsafe, or null when it stays inside the root. */
export function unsafeEntryPath(rel: string): string | null {
  if (rel === "" || rel === ".") return "empty path";
  if (rel.includes("\0")) return "NUL byte in the name";
  if (rel.startsWith("/")) return "absolute path";
  if (rel.split("/").some((c) => c === "..")) return "'..' in the path";
  return null;
}

/** Why a symlink at `rel` pointing to `target` is unsafe (it points out of the root), or null. */
export function unsafeLinkTarget(rel: string, target: string): string | null {
  if (target === "") return "empty link target";
  if (target.startsWith("/")) return `absolute link target "${target}"`;
  const joined = posix.normalize(posix.join(posix.dirname(rel), target));
  if (joined === ".." || joined.startsWith("../")) {
    return `link target "${target}" points out of the root`;
  }
  return null;
}

/** Throws a `FileError` refusing `rel` when its path or link target escapes the root. */
export function assertInsideRoot(
  side: "local" | "remote",
  rel: string,
  target?: string,
): void {
  const why = unsafeEntryPath(rel) ?? (target !== undefined ? unsafeLinkTarget(rel, target) : null);
  if (why !== null) {
    throw new FileError(rel, `Refusing ${side} entry "${rel}": ${why}`, {
      hint: side === "local"
        ? "Exclude it (--exclude) or make the link relative and inside the tree"
        : "The remote tree holds an entry that escapes its root; remove or exclude it",
    });
  }
}

/** Strips a leading `./` (as tar and find print names). */
export function stripDot(name: string): string {
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  return n.replace(/\/+$/, "");
}
