/**
 * {@linkcode withSandbox}: every command of an environment runs inside a bubblewrap sandbox on
 * its host, or not at all. The host is probed once (is `bwrap` there, can it make its
 * namespaces?); a host that cannot is a {@linkcode SandboxError} before anything runs, never a
 * silent unsandboxed run. yonder's own file operations stay outside the sandbox but may write only
 * under its write paths.
 *
 * @module
 */

import type {
  ChildProcess,
  Environment,
  ExecOptions,
  ExecResult,
  ShellCommand,
  ShellValue,
  SpawnOptions,
} from "../core/environment.ts";
import { UsageError } from "../core/errors.ts";
import type * as F from "../core/files.ts";
import { spawnVia } from "../core/spawn.ts";
import { shellTemplate, TemplateCommand } from "../core/template.ts";
import type { PullOptions, PullResult, PushOptions, TreeResult } from "../core/tree_types.ts";
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

class SandboxedEnvironment implements Environment {
  readonly #inner: Environment;
  readonly #sandbox: Sandbox;
  readonly #prefix: readonly string[];
  #probe: Promise<void> | null = null;

  constructor(inner: Environment, sandbox: Sandbox) {
    checkSandbox(sandbox);
    this.#inner = inner;
    this.#sandbox = sandbox;
    this.#prefix = bwrapPrefix(sandbox);
  }

  get kind(): Environment["kind"] {
    return this.#inner.kind;
  }

  get label(): string {
    return this.#inner.label;
  }

  /** Probes the host once; a failed probe is tried again on the next call. */
  #ready(signal: AbortSignal | undefined): Promise<void> {
    this.#probe ??= (async () => {
      const argv = this.#prefix.slice(0, -1);
      const r = await this.#inner.exec(["sh", "-c", SANDBOX_PROBE, "sh", ...argv], {
        timeoutMs: 30_000,
        ...(signal ? { signal } : {}),
      });
      const failure = sandboxFailure(r.code, new TextDecoder().decode(r.stderr));
      if (failure) {
        throw new SandboxError(
          failure.kind,
          `Cannot sandbox on ${this.label}: ${failure.reason}`,
          failure.hint,
        );
      }
    })();
    return this.#probe.catch((e) => {
      this.#probe = null;
      throw e;
    });
  }

  async exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecResult> {
    const cwd = options.cwd;
    const visible = this.#sandbox.read === undefined
      ? null
      : [...this.#sandbox.read, ...this.#sandbox.write];
    if (visible && cwd !== undefined && cwd.startsWith("/") && !underRoot(cwd, visible)) {
      throw new SandboxError(
        "config",
        `The working directory ${JSON.stringify(cwd)} is outside the sandbox's paths`,
        "Run in a directory under the sandbox's read or write paths",
      );
    }
    await this.#ready(options.signal);
    const inner = typeof command === "string" ? ["sh", "-c", command] : [...command];
    return await this.#inner.exec([...this.#prefix, ...inner], options);
  }

  spawn(command: readonly string[] | string, options: SpawnOptions = {}): ChildProcess {
    return spawnVia((c, o) => this.exec(c, o), command, options);
  }

  $(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
    return new TemplateCommand(this, shellTemplate(strings, ...values));
  }

  readFile(path: string, options?: F.ReadFileOptions): Promise<Uint8Array> {
    return this.#inner.readFile(path, options);
  }

  readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options?: F.DownloadOptions,
  ): Promise<number> {
    return this.#inner.readFileStream(path, sink, options);
  }

  writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options?: F.WriteFileOptions,
  ): Promise<void> {
    return this.#inner.writeFile(path, data, options);
  }

  upload(localPath: string, path: string, options?: F.WriteFileOptions): Promise<number> {
    return this.#inner.upload(localPath, path, options);
  }

  download(path: string, localPath: string, options?: F.DownloadOptions): Promise<number> {
    return this.#inner.download(path, localPath, options);
  }

  stat(path: string, options?: F.StatOptions): Promise<F.FileInfo> {
    return this.#inner.stat(path, options);
  }

  list(path: string, options?: F.ListOptions): Promise<F.FileInfo[]> {
    return this.#inner.list(path, options);
  }

  remove(path: string, options?: F.RemoveOptions): Promise<void> {
    return this.#inner.remove(path, options);
  }

  mkdir(path: string, options?: F.MkdirOptions): Promise<void> {
    return this.#inner.mkdir(path, options);
  }

  push(localDir: string, remoteDir: string, options?: PushOptions): Promise<TreeResult> {
    return this.#inner.push(localDir, remoteDir, options);
  }

  pull(remoteDir: string, localDir: string, options?: PullOptions): Promise<PullResult> {
    return this.#inner.pull(remoteDir, localDir, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
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
  return guard(new SandboxedEnvironment(env, sandbox), {
    paths: { write: [...sandbox.write] },
    resolvePath: pathResolver(env),
  });
}
