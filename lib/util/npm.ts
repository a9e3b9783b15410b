/**
 * Loading an npm package at run time, by a specifier the module graph does not see. Deno reads
 * the registry metadata of every npm package it finds in a program's graph when the program
 * starts, dynamic imports included (zod's alone is 370 KB): the packages only some commands need
 * (YAML, the config schema, the audit digest) are loaded through here instead, so a plain
 * `yonder exec` does not pay for them. `deno compile` embeds the lockfile's packages all the same.
 *
 * @module
 */

/**
 * Imports `specifier` (a full `npm:` specifier) when called.
 *
 * @example
 * ```ts
 * import { importNpm } from "./npm.ts";
 * const { parse } = await importNpm<{ parse(text: string): unknown }>("npm:yaml@^2.8.1");
 * console.log(parse("a: 1"));
 * ```
 */
export function importNpm<T>(specifier: string): Promise<T> {
  // A variable, not a literal: the module graph (and its npm resolution at start-up) skips it.
  const spec = specifier;
  return import(spec) as Promise<T>;
}
