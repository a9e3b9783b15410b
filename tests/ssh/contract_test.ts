import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { runExecContract } from "../_contract.ts";
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
