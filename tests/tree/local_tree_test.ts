import { LocalEnvironment } from "../../lib/local/environment.ts";
import { forcePacker } from "../../lib/tree/tar.ts";
import { treeContract } from "./_tree_contract.ts";

Deno.test("LocalEnvironment push/pull meet the tree contract", async (t) => {
  const remote = await Deno.makeTempDir({ prefix: "yonder-tree-remote-" });
  const local = await Deno.makeTempDir({ prefix: "yonder-tree-local-" });
  const cache = await Deno.makeTempDir({ prefix: "yonder-tree-cache-" });
  try {
    await using env = new LocalEnvironment();
    await treeContract(t, env, remote, local, cache);
  } finally {
    for (const d of [remote, local, cache]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("LocalEnvironment push/pull meet the tree contract without GNU tar (tar-stream)", async (t) => {
  const remote = await Deno.makeTempDir({ prefix: "yonder-tree-remote-" });
  const local = await Deno.makeTempDir({ prefix: "yonder-tree-local-" });
  const cache = await Deno.makeTempDir({ prefix: "yonder-tree-cache-" });
  const before = forcePacker("js");
  try {
    await using env = new LocalEnvironment();
    await treeContract(t, env, remote, local, cache);
  } finally {
    forcePacker(before);
    for (const d of [remote, local, cache]) await Deno.remove(d, { recursive: true });
  }
});
