/**
 * The local side of tree transfers' tar streams, in JavaScript (tar-stream), so no local tar
 * binary is needed and every entry of a received stream is checked before anything is written.
 *
 * @module
 */

import { join } from "node:path";
import { tarStream } from "../deps.ts";
import { fileReadable } from "../_file_stream.ts";

/** Files up to this size are read whole (synchronously) into the stream. */
const SMALL_FILE = 1024 * 1024;

/** What goes into a pushed tar stream. */
export interface PackItem {
  /** Path relative to the root. */
  path: string;
  /** What it is. */
  type: "file" | "dir" | "symlink";
  /** Permission bits. */
  mode: number;
  /** Modification time in ms. */
  mtimeMs: number;
  /** Size (files). */
  size: number;
  /** Link target (symlinks). */
  target?: string | undefined;
}

/** Extra members after the tree: name → content. */
export type ControlMembers = [name: string, content: Uint8Array][];

/** Entry header of a received stream (the fields yonder uses). */
export interface TarHeader {
  /** Member name. */
  name: string;
  /** Member type. */
  type: string | null | undefined;
  /** Permission bits. */
  mode?: number | undefined;
  /** Size in bytes. */
  size?: number | undefined;
  /** Modification time. */
  mtime?: Date | undefined;
  /** Link target. */
  linkname?: string | null | undefined;
}

/**
 * A tar stream of `items` under `t/`, then `control` members. File contents are read from
 * `root` as the stream is consumed; `onProgress` gets the bytes produced and files done.
 */
export function packTree(
  root: string,
  items: readonly PackItem[],
  control: ControlMembers,
  onProgress?: (bytes: number, files: number) => void,
): ReadableStream<Uint8Array> {
  const pack = tarStream.pack();
  let files = 0;
  let bytes = 0;
  const produce = async () => {
    for (const it of items) {
      const header = {
        name: `t/${it.path}`,
        mode: it.mode,
        mtime: new Date(Math.floor(it.mtimeMs / 1000) * 1000),
      };
      if (it.type === "dir") {
        await entry(pack, { ...header, type: "directory" });
      } else if (it.type === "symlink") {
        await entry(pack, { ...header, type: "symlink", linkname: it.target ?? "" });
      } else if (it.size <= SMALL_FILE) {
        const content = Deno.readFileSync(join(root, it.path));
        if (content.length !== it.size) {
          throw new Error(`"${it.path}" changed size while being read: retry the push`);
        }
        await entry(pack, { ...header, type: "file", size: it.size }, content);
      } else {
        const file = await Deno.open(join(root, it.path), { read: true });
        const body = fileReadable(file, it.size);
        let written = 0;
        let resolveDone!: () => void;
        let rejectDone!: (e: unknown) => void;
        const done = new Promise<void>((res, rej) => {
          resolveDone = res;
          rejectDone = rej;
        });
        const sink = pack.entry({ ...header, type: "file", size: it.size }, (err) => {
          if (err) rejectDone(err);
          else resolveDone();
        });
        for await (const chunk of body) {
          written += chunk.length;
          if (!sink.write(chunk)) await new Promise((r) => sink.once("drain", r));
        }
        if (written !== it.size) {
          throw new Error(`"${it.path}" changed size while being read: retry the push`);
        }
        sink.end();
        await done;
      }
      files++;
    }
    for (const [name, content] of control) {
      await entry(pack, { name, type: "file", mode: 0o600, mtime: new Date() }, content);
    }
    pack.finalize();
  };
  produce().catch((e) => pack.destroy(e));
  const iterator = (pack as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done) {
        controller.close();
        return;
      }
      bytes += value.length;
      onProgress?.(bytes, files);
      controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      pack.destroy();
      await iterator.return?.();
    },
  });
}

function entry(
  pack: ReturnType<typeof tarStream.pack>,
  header: Parameters<ReturnType<typeof tarStream.pack>["entry"]>[0],
  content?: Uint8Array,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content) pack.entry(header, content as unknown as Parameters<typeof pack.entry>[1], cb);
    else pack.entry(header, cb);
  });
}

/**
 * Reads the tar file at `path` entry by entry; `onEntry` gets each header and body (it must read
 * the body or leave it: what it leaves is skipped).
 */
export async function readTar(
  path: string,
  onEntry: (header: TarHeader, body: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const extract = tarStream.extract();
  const file = await Deno.open(path, { read: true });
  const feeding = (async () => {
    try {
      for await (const chunk of file.readable) {
        if (extract.destroyed) break;
        if (!extract.write(chunk as never)) {
          await new Promise<void>((r) => {
            const done = () => {
              extract.off("drain", done);
              extract.off("close", done);
              r();
            };
            extract.on("drain", done);
            extract.on("close", done);
          });
        }
      }
      if (!extract.destroyed) extract.end();
    } catch (e) {
      extract.destroy(e as Error);
    }
  })();
  try {
    for await (
      const e of extract as unknown as AsyncIterable<
        AsyncIterable<Uint8Array> & { header: TarHeader }
      >
    ) {
      await onEntry(e.header, e);
      for await (const _ of e) { /* skip what was left */ }
    }
  } finally {
    extract.destroy();
    await feeding;
  }
}
