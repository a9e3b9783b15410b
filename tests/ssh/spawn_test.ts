import { SshEnvironment, type SshEnvironmentOptions } from "../../lib/ssh/environment.ts";
import { runSpawnContract } from "../_spawn_contract.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

const paths: [string, SshEnvironmentOptions["session"]][] = [
  ["the master (a channel per call)", false],
  ["stateless sessions", "stateless"],
  ["a stateful session", "stateful"],
];

for (const [name, session] of paths) {
  liveSshTest(`SshEnvironment over ${name} meets the spawn contract`, async (t) => {
    await using host = await openLiveHost();
    const debug: string[] = [];
    await using env = await SshEnvironment.open(host.target, {
      ...host.connect,
      session,
      logger: (l) => debug.push(l),
    });
    // A stateful session takes no stdin: spawn with stdin is refused there (a UsageError).
    await runSpawnContract(t, env, (s) => host.remote(s), { stdin: session !== "stateful" });
    if (session && !debug.some((l) => l.startsWith("session started"))) {
      throw new Error(`no session was used:\n${debug.join("\n")}`);
    }
  });
}
