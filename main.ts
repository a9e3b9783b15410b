/**
 * The yonder CLI. Run `deno run -A main.ts --help`.
 *
 * @module
 */

import { main } from "./cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
