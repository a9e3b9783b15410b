/**
 * The fence an operator puts around an environment before handing it to an agent or a script:
 * an argv-level policy for commands, path roots for file operations, approval for what needs
 * it, and an audit line per decision and per outcome — all at the one choke point
 * ({@linkcode withHooks}) every operation passes.
 *
 * @module
 */

import { auditEvent, auditHooks, type AuditOptions } from "../core/audit.ts";
import type { Environment } from "../core/environment.ts";
import { FileError } from "../core/errors.ts";
import { type Hooks, type Operation, withHooks } from "../core/hooks.ts";
import {
  type PathRoots,
  type Policy,
  type PolicyHookOptions,
  policyHooks,
  type Verdict,
} from "../core/policy.ts";
import { normalizeAbsolute, RESOLVE_PATH_SCRIPT } from "../posix/resolve_path.ts";

/** Options of {@linkcode guard}. */
export interface GuardOptions {
  /** The argv-level policy for exec and spawn (unset: commands are not restricted). */
  policy?: Policy;
  /** Roots for file operations, push and pull (unset: not restricted). */
  paths?: PathRoots;
  /** Asked for an `approve` verdict: true or an approver's name runs the command. */
  approve?: PolicyHookOptions["approve"];
  /** Write an audit line per decision and per outcome to this log. */
  audit?: AuditOptions;
  /**
   * Resolves a path as the environment uses it (default: on the environment itself — `realpath`
   * over its own exec for a remote, the file system for a local one).
   */
  resolvePath?: (path: string) => Promise<string>;
}

/** Resolves `path` on this machine: the part that exists through the file system, the rest lexically. */
async function resolveLocal(path: string): Promise<string> {
  const home = Deno.env.get("HOME") ?? "/";
  let p = path === "~" ? home : path.startsWith("~/") ? `${home}/${path.slice(2)}` : path;
  if (!p.startsWith("/")) p = `${Deno.cwd()}/${p}`;
  let rest = "";
  for (;;) {
    try {
      return normalizeAbsolute((await Deno.realPath(p)) + rest);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) || p === "/") throw e;
      // A dangling symlink is not "missing": a write would go to its target.
      if (await Deno.lstat(p).then(() => true, () => false)) throw e;
      const at = p.lastIndexOf("/");
      rest = p.slice(at) + rest;
      p = at <= 0 ? "/" : p.slice(0, at);
    }
  }
}

/** A resolver that runs {@linkcode RESOLVE_PATH_SCRIPT} through `env`'s own exec. */
function remoteResolver(env: Environment): (path: string) => Promise<string> {
  return async (path) => {
    const r = await env.exec(["sh", "-c", RESOLVE_PATH_SCRIPT, "sh", path], { timeoutMs: 30_000 });
    const out = new TextDecoder().decode(r.stdout);
    if (r.code !== 0 || !out.startsWith("/") || !out.endsWith("\n")) {
      throw new FileError(path, "Cannot resolve this path to check it against the path roots", {
        where: env.label,
        hint: r.code === 4
          ? "The host has neither realpath nor readlink -f"
          : "A dangling symlink or a directory that cannot be entered is in the way",
      });
    }
    return normalizeAbsolute(out.slice(0, -1));
  };
}

/**
 * Resolves paths as `env` uses them: on this machine for a local environment, on the host (through
 * `env`'s own exec) for a remote one; `..` and symlinks resolved, a missing tail appended.
 *
 * @example
 * ```ts
 * import { pathResolver } from "./guard.ts";
 * import { LocalEnvironment } from "../local/environment.ts";
 * const resolve = pathResolver(new LocalEnvironment());
 * console.log(await resolve("/tmp/../tmp/new-file")); // "/tmp/new-file"
 * ```
 */
export function pathResolver(env: Environment): (path: string) => Promise<string> {
  return env.kind === "local" ? resolveLocal : remoteResolver(env);
}

/**
 * Wraps `env` in the fence `options` describe. Refusals throw
 * {@linkcode PolicyRefused} (the CLI exits 77) before anything runs; with `audit`, every
 * operation (and every refusal and approval) leaves one line.
 *
 * @example
 * ```ts
 * import { guard, LocalEnvironment } from "../../mod.ts";
 * const log = await Deno.makeTempFile();
 * await using env = guard(new LocalEnvironment(), {
 *   policy: {
 *     rules: [
 *       { id: "ls", decision: "allow", program: "ls", more: true },
 *       { id: "git-status", decision: "allow", program: "git", args: ["status"] },
 *     ],
 *   },
 *   paths: { read: ["/srv"], write: ["/srv/app/tmp"] },
 *   audit: { path: log },
 * });
 * await env.exec(["ls", "-l"]); // runs
 * await env.exec(["rm", "-rf", "/"]).catch((e: Error) => console.error(e.message)); // refused: …
 * ```
 */
export function guard(env: Environment, options: GuardOptions): Environment {
  const notes = new WeakMap<Operation, Record<string, unknown>>();
  const audit = options.audit;
  const resolvePath = options.resolvePath ??
    pathResolver(env);
  const onDecision = async (op: Operation, v: Verdict, approver: string | null) => {
    notes.set(op, { decision: v.decision, rule: v.rule, approver });
    if (approver !== null && audit) await auditEvent(audit, op, "approved", notes.get(op));
  };
  const fence = options.policy || options.paths
    ? policyHooks(options.policy ?? { mode: "denylist", rules: [] }, {
      ...(options.paths ? { paths: options.paths, resolvePath } : {}),
      ...(options.approve ? { approve: options.approve } : {}),
      onDecision,
    })
    : {};
  const log: Hooks = audit ? auditHooks({ ...audit, annotate: (op) => notes.get(op) }) : {};
  return withHooks(env, {
    async before(op) {
      await fence.before?.(op);
      await log.before?.(op);
    },
    async after(op, outcome) {
      await log.after?.(op, outcome);
    },
    async close() {
      await log.close?.();
    },
  });
}
