/**
 * Host lists for fan-out: `a,b,c`, ranges (`web[1-5]`, `web[01-03]`, `node[1-3,7]`, `rack[a-c]`),
 * and the reverse — folding names back into ranges for a header (`web[1-3,5]`).
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/** Splits `text` at the commas that are not inside brackets. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "[") depth++;
    if (ch === "]") depth = Math.max(0, depth - 1);
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** The words one range part gives: `7`, `1-3`, `01-10`, `a-c`. */
function rangeWords(part: string, whole: string): string[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(part);
  if (m) {
    const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (hi < lo) throw new UsageError(`Host range "${whole}": ${part} runs backwards`);
    if (hi - lo >= 10_000) throw new UsageError(`Host range "${whole}": ${part} is too long`);
    const width = m[1]!.startsWith("0") ? m[1]!.length : 0;
    return Array.from({ length: hi - lo + 1 }, (_, i) => String(lo + i).padStart(width, "0"));
  }
  const l = /^([a-z])-([a-z])$/i.exec(part);
  if (l) {
    const [a, b] = [l[1]!.charCodeAt(0), l[2]!.charCodeAt(0)];
    if (b < a) throw new UsageError(`Host range "${whole}": ${part} runs backwards`);
    return Array.from({ length: b - a + 1 }, (_, i) => String.fromCharCode(a + i));
  }
  throw new UsageError(`Host range "${whole}": "${part}" is not a number or an a-b range`);
}

/** Whether `[inner]` is a range (`1-3,5`, `a-c`), not an IPv6 address (`[::1]`). */
function isRange(inner: string): boolean {
  const part = "(\\d+(-\\d+)?|[a-z]-[a-z])";
  return new RegExp(`^${part}(,${part})*$`, "i").test(inner);
}

/** Expands the ranges of one host pattern (`deploy@web[1-3].example.com`). */
function expandOne(pattern: string): string[] {
  const m = /\[([^\]]*)\]/.exec(pattern);
  if (!m || !isRange(m[1]!)) return [pattern];
  const before = pattern.slice(0, m.index);
  const after = pattern.slice(m.index + m[0].length);
  const words = m[1]!.split(",").flatMap((p) => rangeWords(p, pattern));
  return words.flatMap((w) => expandOne(`${before}${w}${after}`));
}

/**
 * The hosts a list names: comma-separated names and patterns, ranges expanded, duplicates
 * dropped (first kept), empty names refused.
 *
 * @example
 * ```ts
 * import { expandHosts } from "./hosts.ts";
 * console.log(expandHosts("web[1-3],db1")); // ["web1", "web2", "web3", "db1"]
 * ```
 */
export function expandHosts(list: string): string[] {
  const out: string[] = [];
  for (const raw of splitTop(list)) {
    const item = raw.trim();
    if (item === "") throw new UsageError(`Host list "${list}" has an empty name`);
    for (const h of expandOne(item)) if (!out.includes(h)) out.push(h);
  }
  if (out.length > 100_000) throw new UsageError(`Host list "${list}" names too many hosts`);
  return out;
}

/** Whether a `-r` value names several hosts (a list or a range), not one target. */
export function isHostList(value: string): boolean {
  return expandHosts(value).length > 1;
}

/** Folds one group of numbers (their texts, same width when padded) into `1-3,5`. */
function foldNumbers(nums: string[]): string {
  const sorted = [...new Set(nums)].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    // One group is all padded to one width, or all unpadded: 9 and 10 follow each other.
    while (j + 1 < sorted.length && Number(sorted[j + 1]) === Number(sorted[j]) + 1) j++;
    parts.push(j === i ? sorted[i]! : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * Folds host names into ranges: names that differ only in their last number share one
 * `prefix[ranges]suffix`; the rest stay as they are.
 *
 * @example
 * ```ts
 * import { foldHosts } from "./hosts.ts";
 * console.log(foldHosts(["web1", "web2", "web3", "web5", "db"])); // "db,web[1-3,5]"
 * ```
 */
export function foldHosts(names: readonly string[]): string {
  const groups = new Map<string, { prefix: string; suffix: string; nums: string[] }>();
  const plain: string[] = [];
  for (const name of names) {
    const m = /^(.*?)(\d+)(\D*)$/.exec(name);
    if (!m) {
      plain.push(name);
      continue;
    }
    const padded = m[2]!.length > 1 && m[2]!.startsWith("0");
    const key = `${m[1]}\u0000${m[3]}\u0000${padded ? m[2]!.length : 0}`;
    const g = groups.get(key) ?? { prefix: m[1]!, suffix: m[3]!, nums: [] };
    g.nums.push(m[2]!);
    groups.set(key, g);
  }
  const folded = [...groups.values()].map((g) =>
    g.nums.length === 1
      ? `${g.prefix}${g.nums[0]}${g.suffix}`
      : `${g.prefix}[${foldNumbers(g.nums)}]${g.suffix}`
  );
  return [...new Set([...plain, ...folded])].sort().join(",");
}
