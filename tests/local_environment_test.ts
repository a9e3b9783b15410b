import { LocalEnvironment } from "../lib/local/environment.ts";
import { runExecContract } from "./_contract.ts";
import { closeEndsEverything, runLifecycleContract } from "./_lifecycle_contract.ts";

async function localProbe(script: string) {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("LocalEnvironment meets the exec contract", async (t) => {
  await using env = new LocalEnvironment();
  await runExecContract(t, env, localProbe);
});

Deno.test("LocalEnvironment meets the call-lifecycle contract", async (t) => {
  await using env = new LocalEnvironment();
  await runLifecycleContract(t, env, localProbe, { stdin: true });
});

Deno.test("LocalEnvironment.close() ends a running call and its background job", async () => {
  await closeEndsEverything(new LocalEnvironment(), localProbe);
});
