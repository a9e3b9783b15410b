/**
 * A policy must not be changeable by what it restricts. Before a config with a policy is used,
 * its file and directory are checked: writable by other users (group or world write, or owned by
 * another user than this one or root) → refused; reachable through the policy's own write roots
 * on this machine → refused; writable by this user while commands run on this machine with file
 * writes unrestricted → a warning (the commands the policy allows could rewrite it).
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import type { PathRoots } from "../core/policy.ts";
import { underRoot } from "../util/path.ts";

/** Where the fence applies. */
export interface ProtectContext {
  /** Commands and file operations run on this machine (local, or a loopback target). */
  readonly sameMachine: boolean;
  /** The file operation roots in force (null: not restricted). */
  readonly paths: PathRoots | null;
}

/**
 * Checks `file` (and its directory) as described above; throws {@linkcode UsageError} for a
 * refusal and returns the warnings to print.
 *
 * @example
 * ```ts
 * import { checkProtected } from "./protect.ts";
 * const file = await Deno.makeTempFile();
 * const warnings = await checkProtected(file, { sameMachine: true, paths: null });
 * console.log(warnings.length); // 1: this user can write it and writes are not restricted
 * ```
 */
export async function checkProtected(file: string, ctx: ProtectContext): Promise<string[]> {
  const real = await Deno.realPath(file);
  const dir = real.slice(0, real.lastIndexOf("/")) || "/";
  const uid = Deno.uid();
  const owners: (number | null)[] = [];
  for (const [what, path] of [["file", real], ["directory", dir]] as const) {
    const info = await Deno.stat(path);
    owners.push(info.uid);
    const mode = info.mode ?? 0;
    const sticky = (mode & 0o1000) !== 0 && what === "directory";
    if ((mode & 0o022) !== 0 && !sticky) {
      throw new UsageError(`The config ${what} ${path} is writable by other users`, {
        hint: `Its policy could be changed by them: chmod go-w ${path}`,
      });
    }
    if (info.uid !== null && info.uid !== 0 && uid !== null && info.uid !== uid) {
      throw new UsageError(`The config ${what} ${path} belongs to another user (uid ${info.uid})`, {
        hint: "Use a config owned by you or by root",
      });
    }
  }
  if (!ctx.sameMachine) return [];
  const write = ctx.paths?.write;
  if (write !== undefined) {
    const root = write.find((r) => underRoot(real, [r]) || underRoot(dir, [r]));
    if (root !== undefined) {
      throw new UsageError(`The config ${real} lies under the write root ${JSON.stringify(root)}`, {
        hint: "The file operations the policy allows could rewrite its own policy: move the " +
          "config out of the write roots",
      });
    }
    return [];
  }
  const mine = owners.includes(uid);
  return mine
    ? [
      `the policy in ${real} can be changed by what it allows: this user can write the file ` +
      `and file writes are not restricted (set policy.paths.write, or make the config and its ` +
      `directory root-owned)`,
    ]
    : [];
}
