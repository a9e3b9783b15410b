/**
 * The yonder CLI. Run `deno run -A main.ts --help`.
 *
 * @module
 */

import { main } from "./lib/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
