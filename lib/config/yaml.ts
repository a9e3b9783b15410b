/**
 * The one module that parses YAML (with `npm:yaml`; `@std/yaml` can take its place where JSR is
 * reachable, as long as it gives node positions). It turns text into plain values plus a way to
 * find the place (`line:col`) of any key path, for error messages.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- a bare name would break `deno run <url>` (see util/deps.ts).
import type * as YamlLib from "npm:yaml@^2.8.1";
import { importNpm } from "../util/npm.ts";
import { ConfigError, type ConfigIssue, fileIssue } from "./errors.ts";

let yaml: typeof YamlLib | null = null;

/**
 * Loads the YAML library (once, at run time: see `util/npm.ts`); {@linkcode parseYaml} needs it.
 *
 * @example
 * ```ts
 * import { loadYaml, parseYaml } from "./yaml.ts";
 * await loadYaml();
 * console.log(parseYaml("a: 1\n", "x.yaml").value); // { a: 1 }
 * ```
 */
export async function loadYaml(): Promise<void> {
  yaml ??= await importNpm<typeof YamlLib>("npm:yaml@^2.8.1");
}

/** A key path: map keys and sequence indexes, outermost first. */
export type KeyPath = readonly (string | number)[];

/** Parsed YAML: the value, and where each key path is in the text. */
export interface YamlSource {
  /** The file name used in messages. */
  readonly file: string;
  /** The document as plain values (maps as objects, `null` for an empty document). */
  readonly value: unknown;
  /**
   * The place of `path`: of the key itself when `key` is true (for an unknown key), else of its
   * value. Falls back to the nearest enclosing node that exists.
   */
  locate(path: KeyPath, key?: boolean): { line: number; col: number };
}

/** Formats a key path as `hosts.web1.args[2]` (keys that are not plain words are quoted). */
export function formatPath(path: KeyPath): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) out += out === "" ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/**
 * Parses `text` as one YAML document. Syntax errors, duplicate keys, aliases and tags that make
 * other than plain data are a {@linkcode ConfigError} with `file:line:col`.
 *
 * @example
 * ```ts
 * import { loadYaml, parseYaml } from "./yaml.ts";
 * await loadYaml();
 * const src = parseYaml("hosts:\n  web1: deploy@web1\n", "yonder.yaml");
 * console.log(src.value); // { hosts: { web1: "deploy@web1" } }
 * console.log(src.locate(["hosts", "web1"])); // { line: 2, col: 9 }
 * ```
 */
export function parseYaml(text: string, file: string): YamlSource {
  if (!yaml) throw new Error("parseYaml() before loadYaml()");
  const { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } = yaml;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    // YAML 1.2 core schema: `no` and `on` stay strings, as a user of a config means them.
    schema: "core",
    merge: false,
  });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => ({
      file,
      ...pos(e.pos[0]),
      path: "",
      message: `YAML: ${e.message.split("\n")[0]}`,
    }));
    throw new ConfigError(issues);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError([fileIssue(file, `YAML: ${e instanceof Error ? e.message : String(e)}`)]);
  }
  type Range = readonly [number, number, number];
  const rangeOf = (n: unknown): Range | undefined =>
    (n as { range?: Range | null } | null | undefined)?.range ?? undefined;
  const locate = (path: KeyPath, key = false) => {
    let node: unknown = doc.contents;
    let at = rangeOf(node);
    for (let i = 0; i < path.length; i++) {
      const step = path[i]!;
      if (isMap(node)) {
        const pair = node.items.find((p) =>
          isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(step)
        );
        if (!pair) break;
        if (i === path.length - 1 && key) {
          at = rangeOf(pair.key) ?? at;
          break;
        }
        node = pair.value;
        // A key with no value (`web1:`) has no value node: point at the key.
        at = rangeOf(node) ?? rangeOf(pair.key) ?? at;
      } else if (isSeq(node) && typeof step === "number") {
        const item = node.items[step];
        if (item === undefined) break;
        node = item;
        at = rangeOf(item) ?? at;
      } else break;
    }
    return at ? pos(at[0]) : { line: 1, col: 1 };
  };
  return { file, value, locate };
}
