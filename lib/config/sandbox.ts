/**
 * {@linkcode withSandbox}: every command of an environment runs inside a bubblewrap sandbox on
 * its host, or not at all. The host is probed once (is `bwrap` there, can it make its
 * namespaces?); a host that cannot is a {@linkcode SandboxError} before anything runs, never a
 * silent unsandboxed run. yonder's own file operations stay outside the sandbox but may write only
 * under its write paths.
 *
 * @module
 */

import type { Environment, ExecOptions } from "../core/environment.ts";
import { UsageError } from "../core/errors.ts";
import { type Hooks, withHooks } from "../core/hooks.ts";
import { bwrapPrefix, type Sandbox, SANDBOX_PROBE, sandboxFailure } from "../posix/sandbox.ts";
import { guard, pathResolver } from "./guard.ts";
import { underRoot } from "../util/path.ts";

export type { Sandbox } from "../posix/sandbox.ts";

/**
 * The host cannot run sandboxed commands; nothing ran. `kind`: `missing` (no bwrap), `userns`
 * (user namespaces are off), `failed` (bwrap refused for another reason), `config` (the sandbox
 * itself is invalid). The CLI exits 2.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, SandboxError, withSandbox } from "../../mod.ts";
 * const env = withSandbox(new LocalEnvironment(), { kind: "bwrap", write: ["/tmp/work"] });
 * try {
 *   await env.exec(["make"]);
 * } catch (e) {
 *   if (e instanceof SandboxError) console.error(e.kind, e.message, e.hint);
 * }
 * ```
 */
export class SandboxError extends UsageError {
  /** Always `"SandboxError"`. */
  override readonly name = "SandboxError";
  /** Why. */
  readonly kind: "missing" | "userns" | "failed" | "config";

  /** Creates the error. */
  constructor(kind: SandboxError["kind"], message: string, hint: string) {
    super(message, { hint });
    this.kind = kind;
  }
}

function checkSandbox(sandbox: Sandbox): void {
  for (const p of [...sandbox.write, ...(sandbox.read ?? [])]) {
    if (!p.startsWith("/") || p.includes("\0")) {
      throw new SandboxError(
        "config",
        `Sandbox path ${JSON.stringify(p)} is not absolute`,
        "Give the sandbox's write and read paths as absolute paths on the host",
      );
    }
  }
}

/** The hooks that put `sandbox` around every exec and spawn of `env`. */
function sandboxHooks(env: Environment, sandbox: Sandbox): Hooks {
  checkSandbox(sandbox);
  const prefix = bwrapPrefix(sandbox);
  const visible = sandbox.read === undefined ? null : [...sandbox.read, ...sandbox.write];
  let probe: Promise<void> | null = null;
  /** Probes the host once; a failed probe is tried again on the next call. */
  const ready = (signal: AbortSignal | undefined) => {
    probe ??= (async () => {
      const r = await env.exec(["sh", "-c", SANDBOX_PROBE, "sh", ...prefix.slice(0, -1)], {
        timeoutMs: 30_000,
        ...(signal ? { signal } : {}),
      });
      const failure = sandboxFailure(r.code, new TextDecoder().decode(r.stderr));
      if (failure) {
        throw new SandboxError(
          failure.kind,
          `Cannot sandbox on ${env.label}: ${failure.reason}`,
          failure.hint,
        );
      }
    })();
    return probe.catch((e) => {
      probe = null;
      throw e;
    });
  };
  return {
    async before(op) {
      if (op.name !== "exec" && op.name !== "spawn") return;
      const opts = (op.args[1] ?? {}) as ExecOptions;
      const cwd = opts.cwd;
      if (visible && cwd !== undefined && cwd.startsWith("/") && !underRoot(cwd, visible)) {
        throw new SandboxError(
          "config",
          `The working directory ${JSON.stringify(cwd)} is outside the sandbox's paths`,
          "Run in a directory under the sandbox's read or write paths",
        );
      }
      await ready(opts.signal);
    },
    rewrite(command) {
      return [...prefix, ...(typeof command === "string" ? ["sh", "-c", command] : command)];
    },
  };
}

/**
 * Runs every command of `env` (exec, spawn, `$`, session calls alike) inside `sandbox` on its
 * host: `bwrap` with a read-only root, the write paths bound read-write, a private `/tmp`, no
 * network unless `network: true`, its own pid namespace, `--die-with-parent` and a new session.
 * File operations run outside it but may write only under its write paths.
 *
 * @example
 * ```ts
 * import { LocalEnvironment, withSandbox } from "../../mod.ts";
 * await using env = withSandbox(new LocalEnvironment(), { kind: "bwrap", write: ["/tmp"] });
 * const r = await env.exec(["sh", "-c", "touch /etc/x"]);
 * console.log(r.code); // 1: Read-only file system
 * ```
 */
export function withSandbox(env: Environment, sandbox: Sandbox): Environment {
  return guard(withHooks(env, sandboxHooks(env, sandbox)), {
    paths: { write: [...sandbox.write] },
    resolvePath: pathResolver(env),
  });
}
