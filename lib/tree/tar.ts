/**
 * The local side of tree transfers' tar streams.
 *
 * A pushed stream is made by the local GNU tar when there is one (detected once per process: it
 * reads the files itself, far faster than packing in JavaScript), else by tar-stream in
 * JavaScript. Either way every member is checked as it passes ({@linkcode TarFollower}): names,
 * types, modes, sizes and link targets must be exactly what the plan sends, in order, so nothing
 * unplanned (an entry escaping the root, a file swapped for a symlink meanwhile) reaches the
 * remote; file contents are hashed on the way for the manifest. The stream's end-of-archive is
 * replaced by the control members, the completion marker last, so a stream cut anywhere applies
 * nothing.
 *
 * Received streams (pull) are read with tar-stream, loaded on first use.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import { join } from "node:path";
import { FileError, tail, YonderError } from "../core/errors.ts";
import { type Child, spawn } from "../util/process.ts";
import { fileReadable } from "../core/file_stream.ts";
import { pump } from "../util/output.ts";
import type { Sha256 } from "./_hash.ts";
import type { TarStreamHeader } from "../util/deps.ts";
import {
  BLOCK,
  END_OF_ARCHIVE,
  fileMember,
  isZeroBlock,
  padding,
  parseHeader,
  parsePax,
} from "./_tar_format.ts";

/** Files up to this size are read whole (synchronously) into a JavaScript-made stream. */
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

/** Extra members after the tree: name → content (plain files, names of at most 100 bytes). */
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

/** Who makes a pushed stream: the local GNU tar, or tar-stream in JavaScript. */
export type Packer = "gnu" | "js";

let detected: Promise<Packer> | undefined;
let forced: Packer | undefined;

/**
 * The packer this process uses: `"gnu"` when `tar --version` says GNU tar (its `--null -T -`,
 * `--no-recursion` and `--hard-dereference` are relied on), else `"js"`. Probed once.
 */
export function localPacker(): Promise<Packer> {
  if (forced) return Promise.resolve(forced);
  detected ??= (async (): Promise<Packer> => {
    try {
      const child = spawn("tar", { args: ["--version"], stdout: "piped" });
      let out = "";
      const dec = new TextDecoder();
      await pump(child.stdout, (c) => (out += dec.decode(c, { stream: true })));
      const status = await child.status;
      return status.code === 0 && /GNU tar/.test(out) ? "gnu" : "js";
    } catch {
      return "js"; // No tar here.
    }
  })();
  return detected;
}

/**
 * Forces the packer (`undefined` goes back to detection) and returns the previous setting; for
 * tests of both paths.
 *
 * @example
 * ```ts
 * import { forcePacker } from "./tar.ts";
 * const before = forcePacker("js");
 * forcePacker(before);
 * ```
 */
export function forcePacker(packer: Packer | undefined): Packer | undefined {
  const before = forced;
  forced = packer;
  return before;
}

function stripName(name: string): string {
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  return n.replace(/\/+$/, "");
}

function changed(path: string, what: string): FileError {
  return new FileError(path, `"${path}" changed while it was being sent (${what})`, {
    hint: "Retry the push once the tree stops changing; nothing was applied",
  });
}

/** Where {@linkcode TarFollower.push} is in a chunk, and what it passes on. */
interface Cursor {
  chunk: Uint8Array;
  /** The next byte to read. */
  i: number;
  /** Start of the run of `chunk` being passed on. */
  runStart: number;
  /** The parts passed on so far. */
  out: Uint8Array[];
}

/** A member of a followed stream, as its headers describe it. */
interface Member {
  name: string;
  /** `dir`, `symlink`, `file`, or `type "<flag>"` for anything else. */
  type: string;
  /** Permission bits. */
  mode: number;
  link: string;
  size: number;
}

function memberType(typeflag: string): string {
  return typeflag === "5"
    ? "dir"
    : typeflag === "2"
    ? "symlink"
    : typeflag === "0" || typeflag === "\0" || typeflag === "7"
    ? "file"
    : `type ${JSON.stringify(typeflag)}`;
}

/** Throws unless the member is what the plan sends in its place. */
function checkMember(want: PackItem, m: Member): void {
  if (m.type !== want.type) throw changed(want.path, `now a ${m.type}, planned a ${want.type}`);
  if (m.mode !== want.mode) throw changed(want.path, `mode ${m.mode.toString(8)}`);
  if (m.type === "symlink" && m.link !== (want.target ?? "")) {
    throw changed(want.path, `link target "${m.link}"`);
  }
  if (m.type === "file" && m.size !== want.size) throw changed(want.path, `size ${m.size}`);
  if (m.type !== "file" && m.size !== 0) throw changed(want.path, `unexpected data`);
}

/**
 * Follows a tar stream member by member: each member must be the next expected item (same path,
 * type, mode, size, link target); file data is hashed. {@linkcode push} hands back the bytes that
 * belong to members, without the end-of-archive blocks (and the zero padding after them).
 */
export class TarFollower {
  #items: readonly PackItem[];
  #next = 0;
  #phase: "header" | "meta" | "data" | "pad" | "end" = "header";
  #hdr = new Uint8Array(BLOCK);
  #fill = 0;
  #left = 0;
  #meta: Uint8Array = new Uint8Array(0);
  #metaAt = 0;
  #metaKind = "";
  #longName: string | null = null;
  #longLink: string | null = null;
  #pax: Map<string, string> | null = null;
  #hash: Hash | null = null;
  #hashPath = "";
  #sha256: Sha256;
  /** sha256 (hex) of every file member, by path. */
  readonly hashes: Map<string, string> = new Map();

  /** Follows a stream that must hold exactly `items`, in order, hashing with `sha256`. */
  constructor(items: readonly PackItem[], sha256: Sha256) {
    this.#items = items;
    this.#sha256 = sha256;
  }

  /** How many expected members were seen so far. */
  get members(): number {
    return this.#next;
  }

  /** Feeds the next chunk; returns the parts of it to pass on. Throws on anything unplanned. */
  push(chunk: Uint8Array): Uint8Array[] {
    const c: Cursor = { chunk, i: 0, runStart: 0, out: [] };
    while (c.i < chunk.length) {
      switch (this.#phase) {
        case "end":
          this.#trailer(c);
          break;
        case "header":
          if (!this.#headerBlock(c)) return c.out;
          break;
        case "meta": {
          const part = this.#take(c);
          this.#meta.set(part, this.#metaAt);
          this.#metaAt += part.length;
          if (this.#left === 0) this.#endMeta();
          break;
        }
        case "data": {
          const part = this.#take(c);
          this.#hash?.update(part);
          if (this.#left === 0) this.#endData();
          break;
        }
        case "pad":
          this.#take(c);
          if (this.#left === 0) this.#phase = "header";
          break;
      }
    }
    if (chunk.length > c.runStart) c.out.push(chunk.subarray(c.runStart));
    return c.out;
  }

  /** After the end-of-archive block: only zeros may follow, and none is passed on. */
  #trailer(c: Cursor): void {
    for (let k = c.i; k < c.chunk.length; k++) {
      if (c.chunk[k] !== 0) throw new YonderError("Unexpected data after the end of the tar");
    }
    c.i = c.chunk.length;
    c.runStart = c.i;
  }

  /** Takes up to `#left` bytes of the member being read. */
  #take(c: Cursor): Uint8Array {
    const n = Math.min(this.#left, c.chunk.length - c.i);
    const part = c.chunk.subarray(c.i, c.i + n);
    this.#left -= n;
    c.i += n;
    return part;
  }

  /**
   * Collects a header block and acts on it once whole; false when the chunk ended inside it (the
   * caller returns what is passed on so far).
   */
  #headerBlock(c: Cursor): boolean {
    const { chunk, out } = c;
    const began = this.#fill === 0 ? c.i : -1;
    const n = Math.min(BLOCK - this.#fill, chunk.length - c.i);
    this.#hdr.set(chunk.subarray(c.i, c.i + n), this.#fill);
    this.#fill += n;
    c.i += n;
    if (this.#fill < BLOCK) {
      // Incomplete: hold it back (it may be the end-of-archive block).
      if (began >= 0) {
        if (began > c.runStart) out.push(chunk.subarray(c.runStart, began));
      } else if (c.i > c.runStart) out.push(chunk.subarray(c.runStart, c.i - n));
      return false;
    }
    this.#fill = 0;
    if (isZeroBlock(this.#hdr)) {
      const end = began >= 0 ? began : c.runStart;
      if (end > c.runStart) out.push(chunk.subarray(c.runStart, end));
      c.runStart = c.i;
      this.#phase = "end";
      this.#finishMembers();
      return true;
    }
    if (began < 0) {
      // The header started in an earlier chunk: pass on the whole block now.
      out.push(this.#hdr.slice());
      c.runStart = c.i;
    }
    this.#header(parseHeader(this.#hdr));
    return true;
  }

  /** Checks that the stream held every expected member (call at its end). */
  finish(): void {
    if (this.#phase !== "end" && !(this.#phase === "header" && this.#fill === 0)) {
      throw new YonderError("The tar stream ended inside a member");
    }
    this.#finishMembers();
  }

  #finishMembers(): void {
    const missing = this.#items[this.#next];
    if (missing) throw changed(missing.path, "it is missing from the tar stream");
  }

  #header(h: ReturnType<typeof parseHeader>): void {
    if ("LKxg".includes(h.typeflag)) {
      this.#startMeta(h);
      return;
    }
    const member = this.#memberOf(h);
    const want = this.#items[this.#next];
    if (!want) throw new YonderError(`Unplanned tar member "${member.name}"`);
    if (member.name !== want.path) {
      throw changed(want.path, `the tar stream has "${member.name}" in its place`);
    }
    this.#next++;
    checkMember(want, member);
    if (member.type !== "file") {
      this.#phase = "header";
      return;
    }
    this.#hash = this.#sha256();
    this.#hashPath = want.path;
    this.#left = member.size;
    this.#phase = "data";
    if (member.size === 0) this.#endData();
  }

  /** A pax or GNU long-name/long-link header: its data is read as metadata. */
  #startMeta(h: ReturnType<typeof parseHeader>): void {
    if (h.size > 16 * 1024 * 1024) throw new YonderError("Oversized tar extension header");
    this.#meta = new Uint8Array(h.size);
    this.#metaAt = 0;
    this.#metaKind = h.typeflag;
    this.#left = h.size;
    this.#phase = "meta";
    if (h.size === 0) this.#endMeta();
  }

  /** A member as its header and the metadata before it describe it (which this consumes). */
  #memberOf(h: ReturnType<typeof parseHeader>): Member {
    const pax = this.#pax;
    const name = stripName(pax?.get("path") ?? this.#longName ?? h.name);
    const link = pax?.get("linkpath") ?? this.#longLink ?? h.linkname;
    const size = pax?.has("size") ? Number(pax.get("size")) : h.size;
    this.#pax = null;
    this.#longName = null;
    this.#longLink = null;
    return { name, type: memberType(h.typeflag), mode: h.mode & 0o7777, link, size };
  }

  #endMeta(): void {
    const data = this.#meta;
    if (this.#metaKind === "x") this.#pax = parsePax(data);
    else if (this.#metaKind === "L" || this.#metaKind === "K") {
      const nul = data.indexOf(0);
      const value = new TextDecoder().decode(nul < 0 ? data : data.subarray(0, nul));
      if (this.#metaKind === "L") this.#longName = value;
      else this.#longLink = value;
    }
    this.#left = padding(data.length);
    this.#phase = this.#left > 0 ? "pad" : "header";
  }

  #endData(): void {
    this.hashes.set(this.#hashPath, this.#hash!.digest("hex"));
    this.#hash = null;
    this.#left = padding(this.#hashPathSize());
    this.#phase = this.#left > 0 ? "pad" : "header";
  }

  #hashPathSize(): number {
    return this.#items[this.#next - 1]!.size;
  }
}

/** A pushed stream and what became known while it was read. */
export interface PackedTree {
  /** The tar stream: the tree's members, the control members, the end-of-archive. */
  stream: ReadableStream<Uint8Array>;
  /** sha256 of every file sent, by path (complete once the stream has been read to its end). */
  hashes: ReadonlyMap<string, string>;
  /** Why the stream failed, once it did (else undefined). */
  failure(): unknown;
}

/**
 * A tar stream of `items` (paths relative to `root`, as `./path`), checked member by member, then
 * `control` members. `onProgress` gets the bytes produced and the files done.
 */
export function packTree(
  root: string,
  items: readonly PackItem[],
  control: ControlMembers,
  packer: Packer,
  sha256: Sha256,
  onProgress?: (bytes: number, files: number) => void,
): PackedTree {
  const follower = new TarFollower(items, sha256);
  let failure: unknown;
  let source:
    | { reader: ReadableStreamDefaultReader<Uint8Array>; done: () => Promise<void> }
    | null = null;
  let stop: () => void = () => {};
  let bytes = 0;
  const fail = (e: unknown) => {
    failure ??= e;
    stop();
    return e;
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (items.length > 0 && !source) {
          const made = packer === "gnu" ? gnuTar(root, items) : await jsTar(root, items);
          source = made;
          stop = made.stop;
        }
        // A pull must enqueue something (or close): a chunk may hold only a part of a header,
        // or only the end-of-archive, so read on until there is something to pass on.
        while (source) {
          const next = await source.reader.read();
          if (next.done) break;
          const pieces = follower.push(next.value);
          bytes += next.value.length;
          onProgress?.(bytes, follower.members);
          if (pieces.length === 0) continue;
          for (const piece of pieces) controller.enqueue(piece);
          return;
        }
        await source?.done();
        follower.finish();
        const now = Date.now() / 1000;
        for (const [name, content] of control) controller.enqueue(fileMember(name, content, now));
        controller.enqueue(END_OF_ARCHIVE);
        controller.close();
      } catch (e) {
        throw fail(e);
      }
    },
    cancel() {
      // The reader went away (the remote ended early): its own status tells why.
      stop();
    },
  }, { highWaterMark: 0 });
  return { stream, hashes: follower.hashes, failure: () => failure };
}

/** The tree part of the stream from the local GNU tar (names from a NUL-separated list). */
function gnuTar(
  root: string,
  items: readonly PackItem[],
): {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  done: () => Promise<void>;
  stop: () => void;
} {
  let child: Child;
  try {
    child = spawn("tar", {
      args: [
        "-c",
        "-f",
        "-",
        "-b",
        "128",
        "--format=gnu",
        "--hard-dereference",
        "--no-recursion",
        "-C",
        root,
        "--null",
        "-T",
        "-",
      ],
      env: { LC_ALL: "C" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
  } catch (e) {
    throw new YonderError(`Cannot run the local tar: ${e instanceof Error ? e.message : e}`);
  }
  const list = new TextEncoder().encode(items.map((it) => `./${it.path}\0`).join(""));
  const writer = child.stdin!.getWriter();
  const writing = writer.write(list).then(() => writer.close()).catch(() => {});
  let err = "";
  const dec = new TextDecoder();
  const errors = pump(child.stderr, (c) => (err += dec.decode(c, { stream: true })));
  const reader = child.stdout!.getReader();
  let stopped = false;
  return {
    reader,
    async done() {
      const [status] = await Promise.all([child.status, errors, writing]);
      if (status.code !== 0) {
        throw new YonderError(`The local tar failed (exit ${status.code}): ${tail(err, 3)}`, {
          hint: "A file may have changed or gone while being read; retry the push",
        });
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      child.kill("SIGKILL");
      reader.cancel().catch(() => {});
      Promise.all([child.status, errors, writing]).catch(() => {});
    },
  };
}

/** The tree part of the stream made with tar-stream (when there is no GNU tar here). */
async function jsTar(
  root: string,
  items: readonly PackItem[],
): Promise<
  { reader: ReadableStreamDefaultReader<Uint8Array>; done: () => Promise<void>; stop: () => void }
> {
  const { tarStream } = await import("../util/deps.ts");
  const pack = tarStream.pack();
  const entry = (header: TarStreamHeader, content?: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (content) pack.entry(header, content, cb);
      else pack.entry(header, cb);
    });
  const produce = async () => {
    for (const it of items) {
      const header = {
        name: `./${it.path}`,
        mode: it.mode,
        mtime: new Date(Math.floor(it.mtimeMs / 1000) * 1000),
      };
      if (it.type === "dir") {
        await entry({ ...header, type: "directory" });
      } else if (it.type === "symlink") {
        await entry({ ...header, type: "symlink", linkname: it.target ?? "" });
      } else if (it.size <= SMALL_FILE) {
        const content = Deno.readFileSync(join(root, it.path));
        if (content.length !== it.size) throw changed(it.path, `size ${content.length}`);
        await entry({ ...header, type: "file", size: it.size }, content);
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
        if (written !== it.size) throw changed(it.path, `size ${written}`);
        sink.end();
        await done;
      }
    }
    pack.finalize();
  };
  let produceError: unknown;
  const producing = produce().catch((e) => {
    produceError = e;
    pack.destroy(e);
  });
  const iterator = (pack as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (e) {
        throw produceError ?? e;
      }
      if (next.done) {
        controller.close();
        return;
      }
      const v = next.value;
      controller.enqueue(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    },
    async cancel() {
      pack.destroy();
      await iterator.return?.();
    },
  });
  const reader = stream.getReader();
  return {
    reader,
    async done() {
      await producing;
      if (produceError) throw produceError;
    },
    stop() {
      pack.destroy();
      reader.cancel().catch(() => {});
    },
  };
}

/**
 * Reads the tar file at `path` entry by entry; `onEntry` gets each header and body (it must read
 * the body or leave it: what it leaves is skipped).
 */
export async function readTar(
  path: string,
  onEntry: (header: TarHeader, body: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const { tarStream } = await import("../util/deps.ts");
  const extract = tarStream.extract();
  const file = await Deno.open(path, { read: true });
  const feeding = (async () => {
    try {
      for await (const chunk of file.readable) {
        if (extract.destroyed) break;
        if (!extract.write(chunk)) {
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
      extract.destroy(e instanceof Error ? e : new YonderError(String(e)));
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
