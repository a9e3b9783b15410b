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
 * pack.entry({ name: "a.txt", size: 2 }, "hi");
 * pack.finalize();
 * ```
 */
// @ts-types="npm:@types/tar-stream@^3.1.3"
export { default as tarStream } from "npm:tar-stream@^3.1.7";
