/** Exclude patterns of tree transfers, and the names yonder itself leaves while it works. */

import { matchesGlob } from "node:path";

/** yonder's own transient names: temp files of atomic writes and push staging directories. */
export function isTransient(name: string): boolean {
  return name.startsWith(".yonder-stage-") || name.includes(".yonder-tmp-") ||
    name.startsWith(".yonder-tmp-");
}

/**
 * A predicate telling whether a relative path is excluded: a pattern with a `/` matches the path
 * (or one of its ancestors), one without matches any single component. yonder's transient names
 * are always excluded.
 *
 * @example
 * ```ts
 * import { excluder } from "./_exclude.ts";
 * const ex = excluder(["node_modules", "build/*.o"]);
 * console.assert(ex("a/node_modules/x.js") && ex("build/m.o") && !ex("src/m.o"));
 * ```
 */
export function excluder(patterns: readonly string[] = []): (rel: string) => boolean {
  const anchored = patterns.filter((p) => p.includes("/")).map((p) => p.replace(/^\/+|\/+$/g, ""));
  const names = patterns.filter((p) => !p.includes("/"));
  return (rel) => {
    const parts = rel.split("/");
    for (const part of parts) {
      if (isTransient(part)) return true;
      for (const p of names) if (matchesGlob(part, p)) return true;
    }
    if (anchored.length === 0) return false;
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      for (const p of anchored) if (matchesGlob(prefix, p)) return true;
    }
    return false;
  };
}
