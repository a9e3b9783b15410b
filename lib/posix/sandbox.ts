/**
 * What a sandboxed command runs as on the far side: bubblewrap (`bwrap`) around it, with a
 * read-only root (or only the system directories and the listed read paths), the listed write
 * paths bound read-write, a private `/tmp`, no network unless asked, its own pid namespace (so the
 * whole tree dies with `bwrap`), `--die-with-parent` and a new session.
 *
 * @module
 */

/** A bubblewrap sandbox. */
export interface Sandbox {
  /** The only kind so far. */
  readonly kind: "bwrap";
  /** Absolute paths bound read-write (a missing one is skipped: nothing can be written there). */
  readonly write: readonly string[];
  /**
   * Absolute paths bound read-only. Unset: the whole root is visible, read-only. Set: only the
   * system directories (`/usr`, `/bin`, `/sbin`, `/lib*`, `/etc`) and these.
   */
  readonly read?: readonly string[];
  /** Keep the host's network (default false: `--unshare-net`). */
  readonly network?: boolean;
  /** `/tmp`: a fresh tmpfs per call (`private`, default) or the host's, read-only (`shared`). */
  readonly tmp?: "private" | "shared";
  /** The bwrap program (default `bwrap` from PATH). */
  readonly program?: string;
}

const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];

/**
 * The argv prefix that runs a command inside `sandbox` (the command follows it).
 *
 * @example
 * ```ts
 * import { bwrapPrefix } from "./sandbox.ts";
 * const argv = [...bwrapPrefix({ kind: "bwrap", write: ["/srv/app"] }), "make", "test"];
 * console.log(argv.join(" ")); // bwrap --die-with-parent --new-session … -- make test
 * ```
 */
export function bwrapPrefix(sandbox: Sandbox): string[] {
  const argv = [sandbox.program ?? "bwrap", "--die-with-parent", "--new-session", "--unshare-pid"];
  if (!sandbox.network) argv.push("--unshare-net");
  if (sandbox.read === undefined) argv.push("--ro-bind", "/", "/");
  else {
    for (const d of SYSTEM_DIRS) argv.push("--ro-bind-try", d, d);
    for (const r of sandbox.read) argv.push("--ro-bind-try", r, r);
  }
  argv.push("--dev", "/dev", "--proc", "/proc");
  if ((sandbox.tmp ?? "private") === "private") argv.push("--tmpfs", "/tmp");
  for (const w of sandbox.write) argv.push("--bind-try", w, w);
  argv.push("--");
  return argv;
}

/**
 * The probe run once per environment before the first sandboxed call (`sh -c PROBE sh BWRAP
 * ARGS…`): exits 10 when the program is missing, 11 (with bwrap's own words on stderr) when it
 * cannot make the sandbox, 0 when it can.
 */
export const SANDBOX_PROBE: string = `command -v "$1" >/dev/null 2>&1 || exit 10; ` +
  `o=$("$@" true 2>&1) || { printf '%s\n' "$o" | head -c 2000 >&2; exit 11; }`;

/** Why a sandbox cannot be made, from the probe's status and bwrap's words. */
export function sandboxFailure(
  code: number,
  stderr: string,
): { kind: "missing" | "userns" | "failed"; reason: string; hint: string } | null {
  if (code === 0) return null;
  if (code === 10) {
    return {
      kind: "missing",
      reason: "bubblewrap (bwrap) is not installed on the host",
      hint: "Install it there (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install " +
        "bubblewrap), or name its path in the sandbox's program",
    };
  }
  const words = stderr.trim().split("\n").slice(-3).join("; ");
  if (/namespace|uid map|Operation not permitted|Permission denied/i.test(stderr)) {
    return {
      kind: "userns",
      reason: `bwrap cannot create its namespaces there: ${words}`,
      hint: "Unprivileged user namespaces are off on the host: enable them " +
        "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; on Ubuntu " +
        "24.04+ allow bwrap in AppArmor or set kernel.apparmor_restrict_unprivileged_userns=0)",
    };
  }
  return {
    kind: "failed",
    reason: `bwrap cannot make the sandbox: ${words || `status ${code}`}`,
    hint: "Run the command bwrap printed on the host to see why",
  };
}
