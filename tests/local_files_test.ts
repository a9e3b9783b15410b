import { LocalEnvironment } from "../lib/local/environment.ts";
import { fileContract } from "./_files_contract.ts";

Deno.test("LocalEnvironment meets the file contract", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "yonder-files-" });
  const local = await Deno.makeTempDir({ prefix: "yonder-files-local-" });
  try {
    await using env = new LocalEnvironment();
    await fileContract(t, env, root, local);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(local, { recursive: true });
  }
});
