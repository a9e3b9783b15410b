/**
 * The file and tree methods every environment has, written once: each one loads the backend's
 * file module on first use (the code is not needed to run commands, and every module costs
 * start-up time) and hands the call on.
 */

import type * as F from "../core/files.ts";
import type { Environment } from "../core/environment.ts";
import type { PullOptions, PullResult, PushOptions, TreeResult } from "../core/tree_types.ts";

/**
 * Base of `SshEnvironment` and `LocalEnvironment`: file and tree methods that delegate. Through it
 * both environments are also {@linkcode F.FileOps} and `TreeOps`.
 *
 * @example
 * ```ts
 * import { type FileOpsHost, LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * const host: FileOpsHost = env; // the file and tree half of an environment
 * await host.mkdir("/tmp/yonder-demo", { recursive: true });
 * await host.writeFile("/tmp/yonder-demo/hello.txt", "hello\n");
 * console.log((await host.list("/tmp/yonder-demo")).map((e) => e.name)); // ["hello.txt"]
 * ```
 */
export abstract class FileOpsHost implements F.FileOps {
  #files: Promise<F.FileOps> | undefined;

  /** Loads the backend's file operations (called once, on first use). */
  protected abstract loadFiles(): Promise<F.FileOps>;

  #ops(): Promise<F.FileOps> {
    return this.#files ??= this.loadFiles();
  }

  /** Reads a whole file; see {@linkcode F.FileOps.readFile}. */
  async readFile(path: string, options?: F.ReadFileOptions): Promise<Uint8Array> {
    return (await this.#ops()).readFile(path, options);
  }

  /** Streams a file; see {@linkcode F.FileOps.readFileStream}. */
  async readFileStream(
    path: string,
    sink: (chunk: Uint8Array) => void,
    options?: F.DownloadOptions,
  ): Promise<number> {
    return (await this.#ops()).readFileStream(path, sink, options);
  }

  /** Writes a file atomically; see {@linkcode F.FileOps.writeFile}. */
  async writeFile(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array>,
    options?: F.WriteFileOptions,
  ): Promise<void> {
    return (await this.#ops()).writeFile(path, data, options);
  }

  /** Copies a local file to `path`; see {@linkcode F.FileOps.upload}. */
  async upload(localPath: string, path: string, options?: F.WriteFileOptions): Promise<number> {
    return (await this.#ops()).upload(localPath, path, options);
  }

  /** Copies `path` to a local file; see {@linkcode F.FileOps.download}. */
  async download(path: string, localPath: string, options?: F.DownloadOptions): Promise<number> {
    return (await this.#ops()).download(path, localPath, options);
  }

  /** Describes a path; see {@linkcode F.FileOps.stat}. */
  async stat(path: string, options?: F.StatOptions): Promise<F.FileInfo> {
    return (await this.#ops()).stat(path, options);
  }

  /** Lists a directory; see {@linkcode F.FileOps.list}. */
  async list(path: string, options?: F.ListOptions): Promise<F.FileInfo[]> {
    return (await this.#ops()).list(path, options);
  }

  /** Removes a path; see {@linkcode F.FileOps.remove}. */
  async remove(path: string, options?: F.RemoveOptions): Promise<void> {
    return (await this.#ops()).remove(path, options);
  }

  /** Creates a directory; see {@linkcode F.FileOps.mkdir}. */
  async mkdir(path: string, options?: F.MkdirOptions): Promise<void> {
    return (await this.#ops()).mkdir(path, options);
  }

  /** Sends a local tree, only what changed; see {@linkcode PushOptions}. */
  async push(localDir: string, remoteDir: string, options?: PushOptions): Promise<TreeResult> {
    options?.signal?.throwIfAborted();
    const { push } = await import("./push.ts");
    // Both subclasses are Environments; the tree code needs their exec and file methods.
    return push(this as unknown as Environment, localDir, remoteDir, options);
  }

  /** Brings a tree back (sync-back with `onlyChanged`); see {@linkcode PullOptions}. */
  async pull(remoteDir: string, localDir: string, options?: PullOptions): Promise<PullResult> {
    options?.signal?.throwIfAborted();
    const { pull } = await import("./pull.ts");
    return pull(this as unknown as Environment, remoteDir, localDir, options);
  }
}
