import { LocalEnvironment } from "../lib/local/environment.ts";
import { runSpawnContract } from "./_spawn_contract.ts";

async function localProbe(script: string) {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: "" };
}

Deno.test("LocalEnvironment meets the spawn contract", async (t) => {
  await using env = new LocalEnvironment();
  await runSpawnContract(t, env, localProbe, { stdin: true });
});
