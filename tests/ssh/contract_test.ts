import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { runExecContract } from "../_contract.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

liveSshTest("SshEnvironment over the master meets the exec contract", async (t) => {
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  await runExecContract(t, env, (s) => host.remote(s));
});
