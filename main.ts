/**
 * The yonder CLI. Run `deno run -A main.ts --help`.
 *
 * @module
 */

// Straight to the CLI module (not through cli.ts): one module less to load at start.
import { main } from "./lib/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
