import assert from "node:assert/strict";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { treeContract } from "./_tree_contract.ts";

liveSshTest("tree push/pull meet the tree contract over SSH", async (t) => {
  await using host = await openLiveHost();
  const r = await host.remote('mktemp -d "$HOME/yonder-tree-XXXXXX"');
  assert.equal(r.code, 0);
  const remote = r.stdout.trim();
  const local = await Deno.makeTempDir({ prefix: "yonder-tree-local-" });
  const cache = await Deno.makeTempDir({ prefix: "yonder-tree-cache-" });
  try {
    await using env = await SshEnvironment.open(host.target, { ...host.connect });
    await treeContract(t, env, remote, local, cache);
  } finally {
    await host.remote(`rm -rf '${remote}'`);
    for (const d of [local, cache]) await Deno.remove(d, { recursive: true });
  }
});
