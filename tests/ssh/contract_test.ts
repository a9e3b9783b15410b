import { SshEnvironment, type SshEnvironmentOptions } from "../../lib/ssh/environment.ts";
import { runExecContract } from "../_contract.ts";
import { closeEndsEverything, runLifecycleContract } from "../_lifecycle_contract.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

liveSshTest("SshEnvironment over the master meets the exec contract", async (t) => {
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, { ...host.connect, session: false });
  await runExecContract(t, env, (s) => host.remote(s));
});

liveSshTest("SshEnvironment over sessions meets the exec contract", async (t) => {
  await using host = await openLiveHost();
  const debug: string[] = [];
  await using env = await SshEnvironment.open(host.target, {
    ...host.connect,
    logger: (l) => debug.push(l),
  });
  await runExecContract(t, env, (s) => host.remote(s));
  if (!debug.some((l) => l.startsWith("session started"))) {
    throw new Error(`no session was used:\n${debug.join("\n")}`);
  }
  if (debug.some((l) => l.includes("sessions unavailable"))) {
    throw new Error(`a call fell back to the master path:\n${debug.join("\n")}`);
  }
});

liveSshTest("SshEnvironment over a stateful session meets the exec contract", async (t) => {
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, {
    ...host.connect,
    session: "stateful",
  });
  await runExecContract(t, env, (s) => host.remote(s), { stdin: false });
});

const paths: [string, SshEnvironmentOptions["session"]][] = [
  ["the master (a channel per call)", false],
  ["stateless sessions", "stateless"],
  ["a stateful session", "stateful"],
];

for (const [name, session] of paths) {
  liveSshTest(`SshEnvironment over ${name} meets the call-lifecycle contract`, async (t) => {
    await using host = await openLiveHost();
    await using env = await SshEnvironment.open(host.target, { ...host.connect, session });
    await runLifecycleContract(t, env, (s) => host.remote(s), { stdin: session !== "stateful" });
  });

  liveSshTest(
    `SshEnvironment over ${name}: close() ends a call and its background job`,
    async () => {
      await using host = await openLiveHost();
      const env = await SshEnvironment.open(host.target, { ...host.connect, session });
      await closeEndsEverything(env, (s) => host.remote(s));
    },
  );
}
