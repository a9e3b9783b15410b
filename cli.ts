/**
 * The yonder CLI as a library entry: {@linkcode main} runs one command line and resolves to its
 * exit code, with the process's stdio (or the `Io` you pass, for embedding and tests).
 *
 * @example
 * ```ts ignore
 * import { main } from "./cli.ts";
 * Deno.exit(await main(["exec", "-r", "deploy@build.example.com", "--", "uname", "-a"]));
 * ```
 *
 * @module
 */

export { main } from "./lib/cli/main.ts";
export type { Interrupt, Io } from "./lib/cli/_common.ts";
