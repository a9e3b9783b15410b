/** `--sandbox` and a config's `sandbox:` from the CLI, against a live sshd. */
import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { connFlags, hostEntry, runCli } from "./_run.ts";

liveSshTest(
  "CLI --sandbox: read-only everywhere; a config's sandbox adds its write paths",
  async () => {
    await using host = await openLiveHost();
    const home = (await host.remote('printf %s "$HOME"')).stdout;
    const root = `${home}/yonder-sandbox-cli-${crypto.randomUUID()}`;
    const dir = await Deno.makeTempDir({ prefix: "yonder-sandbox-cli-" });
    await host.remote(`mkdir -p '${root}/in'`);
    try {
      const plain = await runCli([
        "exec",
        ...connFlags(host),
        "--sandbox",
        "--",
        "touch",
        `${root}/in/a`,
      ]);
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /Read-only file system/);
      const config = `${dir}/yonder.yaml`;
      await Deno.writeTextFile(
        config,
        [
          "hosts:",
          ...hostEntry(host, "box", [
            `sandbox: {kind: bwrap, write: [${JSON.stringify(`${root}/in`)}]}`,
          ]),
          "",
        ].join("\n"),
      );
      const inside = await runCli([
        "exec",
        "--config",
        config,
        "-r",
        "box",
        "--",
        "touch",
        `${root}/in/b`,
      ]);
      assert.equal(inside.code, 0, inside.stderr);
      const outside = await runCli([
        "exec",
        "--config",
        config,
        "-r",
        "box",
        "--",
        "touch",
        `${root}/c`,
      ]);
      assert.notEqual(outside.code, 0);
      // put (yonder's own write) is held to the same write paths.
      await Deno.writeTextFile(`${dir}/f`, "x");
      const put = await runCli(["put", "--config", config, "-r", "box", `${dir}/f`, `${root}/d`]);
      assert.equal(put.code, 77, put.stderr);
      assert.equal(
        (await host.remote(`ls '${root}' '${root}/in'`)).stdout,
        `${root}:\nin\n\n${root}/in:\nb\n`,
      );
    } finally {
      await host.remote(`rm -rf '${root}'`);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
