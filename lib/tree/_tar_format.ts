/**
 * The parts of the tar format that pushed streams need: reading member headers (ustar, pax `x`,
 * GNU `L`/`K` long names, base-256 sizes) and writing small plain files (the control members).
 *
 * @module
 */

import { YonderError } from "../core/errors.ts";

/** Size of a tar block. */
export const BLOCK = 512;

/** Two zero blocks: the end of an archive. */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(2 * BLOCK);

/** A member header as stored, before long names and pax records are applied. */
export interface RawHeader {
  /** `name` (with the ustar `prefix` when there is one). */
  name: string;
  /** Permission bits and type bits as stored. */
  mode: number;
  /** Size of the member's data in bytes. */
  size: number;
  /** The type flag character (`"0"` file, `"5"` directory, `"2"` symlink, …). */
  typeflag: string;
  /** `linkname` (symlink or hard link target). */
  linkname: string;
}

const dec = new TextDecoder();

function text(block: Uint8Array, at: number, len: number): string {
  const field = block.subarray(at, at + len);
  const nul = field.indexOf(0);
  return dec.decode(nul < 0 ? field : field.subarray(0, nul));
}

/** A numeric field: octal digits (space or NUL terminated), or GNU base-256 when bit 7 is set. */
export function numberField(block: Uint8Array, at: number, len: number): number {
  const field = block.subarray(at, at + len);
  if ((field[0]! & 0x80) !== 0) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const s = dec.decode(field).replace(/[\0 ]+$/, "").trim();
  return s === "" ? 0 : parseInt(s, 8);
}

/** True when every byte of `block` is zero. */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses one header block; throws when its checksum is wrong. */
export function parseHeader(block: Uint8Array): RawHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  const stored = numberField(block, 148, 8);
  if (stored !== sum) throw new YonderError(`bad tar header checksum (${stored} != ${sum})`);
  let name = text(block, 0, 100);
  // ustar ("ustar\0" + "00") has a name prefix; GNU's "ustar  \0" uses that space otherwise.
  if (text(block, 257, 6) === "ustar" && block[262] === 0 && block[263] === 0x30) {
    const prefix = text(block, 345, 155);
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: numberField(block, 100, 8),
    size: numberField(block, 124, 12),
    typeflag: String.fromCharCode(block[156]!),
    linkname: text(block, 157, 100),
  };
}

/** Parses pax extended header records (`<len> <key>=<value>\n`). */
export function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(dec.decode(data.subarray(at, space)));
    if (!Number.isInteger(len) || len <= 0 || at + len > data.length) break;
    const record = dec.decode(data.subarray(space + 1, at + len - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/** Bytes of padding after `size` bytes of member data. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

const enc = new TextEncoder();

function putOctal(block: Uint8Array, at: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, "0");
  block.set(enc.encode(s), at);
  block[at + len - 1] = 0;
}

/**
 * A plain-file member (ustar header, data, padding) named `name` (at most 100 bytes), mode
 * 0600, holding `content`.
 */
export function fileMember(name: string, content: Uint8Array, mtimeSec: number): Uint8Array {
  const nameBytes = enc.encode(name);
  if (nameBytes.length > 100) throw new YonderError(`tar member name too long: ${name}`);
  const out = new Uint8Array(BLOCK + content.length + padding(content.length));
  const h = out.subarray(0, BLOCK);
  h.set(nameBytes, 0);
  putOctal(h, 100, 8, 0o600);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  putOctal(h, 124, 12, content.length);
  putOctal(h, 136, 12, Math.max(0, Math.floor(mtimeSec)));
  h[156] = 0x30; // "0": a regular file
  h.set(enc.encode("ustar\u000000"), 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.set(enc.encode(sum.toString(8).padStart(6, "0")), 148);
  h[154] = 0;
  h[155] = 0x20;
  out.set(content, BLOCK);
  return out;
}
