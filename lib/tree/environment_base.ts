/**
 * What every backend's front is made of, written once: `exec` refuses calls after `close()`,
 * ties each call to the environment's lifetime (closing stops it through its kill path), honours
 * `check`; `spawn` and `$` run through that `exec`; `close` waits for the calls it stopped. A
 * backend supplies how to run one command (`run`) and what else it releases (`release`).
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
import { YonderError } from "../core/errors.ts";
import { checked } from "../core/exec_pipeline.ts";
import { spawnVia } from "../core/spawn.ts";
import { shellTemplate, TemplateCommand } from "../core/template.ts";
import { FileOpsHost } from "./file_ops_host.ts";

/**
 * Base of `SshEnvironment` and `LocalEnvironment`: the exec front, spawn, `$`, close, and (from
 * {@linkcode FileOpsHost}) the file and tree methods.
 *
 * @example
 * ```ts ignore
 * class SerialEnvironment extends EnvironmentBase {
 *   readonly kind = "ssh" as const;
 *   readonly label = "serial:/dev/ttyUSB0";
 *   protected run(command: readonly string[] | string, options: ExecOptions) {
 *     return runOverSerial(command, options);
 *   }
 *   protected async release() {}
 *   protected loadFiles() {
 *     return Promise.resolve(new SerialFiles());
 *   }
 * }
 * ```
 */
export abstract class EnvironmentBase extends FileOpsHost {
  /** Which backend this is. */
  abstract readonly kind: Environment["kind"];
  /** A label for messages. */
  abstract readonly label: string;
  #closed = false;
  #closing = new AbortController();
  #inflight = new Set<Promise<unknown>>();

  /** Runs one command (the signal given already ends with the environment). */
  protected abstract run(
    command: readonly string[] | string,
    options: ExecOptions,
  ): Promise<ExecResult>;

  /** Releases what the backend holds, once the calls have ended. */
  protected abstract release(): Promise<void>;

  /** Runs a command; see {@linkcode Environment.exec}. */
  exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.#closed) {
      return Promise.reject(new YonderError(`Environment "${this.label}" is closed`));
    }
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const p = this.run(command, { ...options, signal }).then((r) =>
      checked(command, r, options.check, this.label)
    );
    this.#inflight.add(p);
    p.finally(() => this.#inflight.delete(p)).catch(() => {});
    return p;
  }

  /** Starts a command, streaming; see {@linkcode Environment.spawn}. */
  spawn(command: readonly string[] | string, options: SpawnOptions = {}): ChildProcess {
    return spawnVia((c, o) => this.exec(c, o), command, options);
  }

  /** A command from a template, every value one quoted word; see {@linkcode Environment.$}. */
  $(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
    return new TemplateCommand(this, shellTemplate(strings, ...values));
  }

  /** Stops the calls still running (through their kill path), then releases the backend. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    await Promise.allSettled([...this.#inflight]);
    await this.release();
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
