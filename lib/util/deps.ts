/**
 * Third-party dependencies, with full specifiers (JSR is unreachable, and `deno run <url>` ignores
 * the remote deno.json, so bare names would break URL runs).
 *
 * @module
 */

/**
 * tar-stream: a streaming tar generator and parser (pax headers for long and non-ASCII names).
 *
 * @example
 * ```ts
 * import { tarStream } from "./deps.ts";
 * const pack = tarStream.pack();
 * pack.entry({ name: "a.txt", size: 2 }, new TextEncoder().encode("hi"), (err) => {
 *   if (err) console.error(err);
 * });
 * pack.finalize();
 * ```
 */
// deno-lint-ignore no-import-prefix -- a bare name would break `deno run <url>` (see above).
import tarStreamModule from "npm:tar-stream@^3.1.7";

/** The header fields yonder reads and writes. */
export interface TarStreamHeader {
  /** Path inside the archive. */
  name: string;
  /** Entry type: "file", "directory", "symlink", … */
  type?: string;
  /** Permission bits. */
  mode?: number;
  /** Size of a file's body. */
  size?: number;
  /** Modification time. */
  mtime?: Date;
  /** Target of a symlink. */
  linkname?: string;
}

/** The body writer of one entry. */
export interface TarStreamSink {
  /** Writes a chunk; false means: wait for "drain". */
  write(chunk: Uint8Array): boolean;
  /** Ends the body. */
  end(): void;
  /** Runs `fn` once on `event`. */
  once(event: "drain", fn: (...args: unknown[]) => void): void;
}

/** The part of tar-stream's packer yonder uses; it is also an async iterable of chunks. */
export interface TarStreamPack {
  /** Adds an entry with its whole content (or none). */
  entry(header: TarStreamHeader, content: Uint8Array, cb: (err?: Error | null) => void): void;
  /** Adds an entry without content (a directory, a symlink). */
  entry(header: TarStreamHeader, cb: (err?: Error | null) => void): TarStreamSink;
  /** Ends the archive. */
  finalize(): void;
  /** Stops with an error. */
  destroy(err?: unknown): void;
}

/** The part of tar-stream's extractor yonder uses; it iterates entries (header + body). */
export interface TarStreamExtract {
  /** Feeds bytes; false means: wait for "drain". */
  write(chunk: Uint8Array): boolean;
  /** Ends the input. */
  end(): void;
  /** Stops. */
  destroy(err?: Error): void;
  /** True once stopped. */
  readonly destroyed: boolean;
  /** Listens for "drain" or "close". */
  on(event: "drain" | "close", fn: () => void): void;
  /** Stops listening. */
  off(event: "drain" | "close", fn: () => void): void;
}

/** tar-stream's two entry points, typed by the surface above (no types package needed). */
export const tarStream = tarStreamModule as unknown as {
  pack(): TarStreamPack;
  extract(): TarStreamExtract;
};
