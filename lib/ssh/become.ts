/**
 * What sudo or doas said when it would not run a call as another user, as a typed
 * {@linkcode BecomeError}: nothing ran, and the hint says what to change.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import type { BecomeHop } from "../posix/first_hop.ts";

/**
 * sudo or doas did not run the command as the other user; nothing ran. `kind`:
 * `password_required` (the rule needs a password and none was given), `wrong_password`,
 * `timeout` (sudo neither asked nor let the command through in time), `not_allowed` (no
 * rule lets the login user run it), `missing` (no sudo or doas on the host), `failed` (another
 * refusal; the message has its words). The CLI exits 2.
 *
 * @example
 * ```ts
 * import { BecomeError, SshEnvironment } from "../../mod.ts";
 * await using env = await SshEnvironment.open("deploy@build-box", { become: { method: "sudo" } });
 * try {
 *   await env.exec(["id", "-u"]);
 * } catch (e) {
 *   if (e instanceof BecomeError) console.error(e.kind, e.hint);
 * }
 * ```
 */
export class BecomeError extends UsageError {
  /** Always `"BecomeError"`. */
  override readonly name = "BecomeError";
  /** Why. */
  readonly kind:
    | "password_required"
    | "wrong_password"
    | "not_allowed"
    | "missing"
    | "timeout"
    | "failed";

  /** Creates the error. */
  constructor(kind: BecomeError["kind"], message: string, hint: string) {
    super(message, { hint });
    this.kind = kind;
  }
}

/**
 * The error for a call whose wrapper never ran under `b`, from the last of ssh's stderr; null
 * when the words are not sudo's or doas's (the caller then reports what it would otherwise).
 */
export function becomeFailure(b: BecomeHop, stderrTail: string): BecomeError | null {
  const tool = b.method;
  const who = b.user ?? "root";
  const words = stderrTail.trim().split("\n").filter((l) => l.includes(tool)).slice(-2).join("; ");
  if (
    new RegExp(`${tool}: (not found|command not found)|${tool}: No such file`, "i").test(stderrTail)
  ) {
    return new BecomeError(
      "missing",
      `Cannot become "${who}": ${tool} is not installed on the host`,
      `Install ${tool} there, or use the other method (become.method)`,
    );
  }
  if (
    /password is required|interactive authentication is required|Authorization required|doas: Authentication failed|no password was provided/i
      .test(stderrTail)
  ) {
    return new BecomeError(
      "password_required",
      `Cannot become "${who}" with ${tool}: a password is required (${words})`,
      tool === "sudo"
        ? `yonder never types a password: allow the command without one (a NOPASSWD rule in sudoers)`
        : `yonder never types a password: allow the command without one (nopass in doas.conf)`,
    );
  }
  if (
    /not allowed to|not in the sudoers|may not run|Operation not permitted|not permitted/i.test(
      stderrTail,
    )
  ) {
    return new BecomeError(
      "not_allowed",
      `Cannot become "${who}" with ${tool}: the login user may not (${words})`,
      `Add a rule for the login user to ${tool === "sudo" ? "sudoers" : "doas.conf"}`,
    );
  }
  if (words === "") return null;
  return new BecomeError(
    "failed",
    `Cannot become "${who}" with ${tool}: ${words}`,
    `Run the command with ${tool} on the host to see why`,
  );
}
