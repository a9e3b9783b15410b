/**
 * `--ask-pass`: on a terminal, ssh asks for a key's passphrase once (through yonder's helper, on
 * the terminal), and a kept connection is reused without asking; without a terminal nothing asks
 * and the error says how to load the key.
 */
import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { onPty, startCli } from "./_run.ts";

const dec = new TextDecoder();
const PASSPHRASE = "correct horse battery staple";

liveSshTest(
  "--ask-pass asks once on a terminal; a kept connection does not ask again",
  async () => {
    await using host = await openLiveHost();
    if (!host.fixture) return; // An external host: no key of ours to add.
    const dir = await Deno.makeTempDir({ prefix: "yonder-askpass-" });
    const runtime = await Deno.makeTempDir({ prefix: "yonder-askpass-run-" });
    await Deno.chmod(runtime, 0o700);
    const env = { XDG_RUNTIME_DIR: runtime, SSH_AUTH_SOCK: "" };
    const key = `${dir}/locked_ed25519`;
    const authorized = `${host.fixture.identityFile.replace(/\/[^/]+$/, "")}/authorized_keys`;
    const before = await Deno.readTextFile(authorized);
    try {
      const gen = await new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "yonder-locked", "-f", key],
      }).output();
      assert.equal(gen.code, 0);
      await Deno.writeTextFile(authorized, before + await Deno.readTextFile(`${key}.pub`));
      const flags = [
        "-r",
        host.target,
        "-i",
        key,
        "--known-hosts",
        host.fixture.knownHostsFile,
        "--strict-host-key",
      ];
      // No terminal: nothing asks, the error is fast and says how to load the key.
      const started = performance.now();
      const batch = await startCli(["exec", "--ask-pass", ...flags, "--", "true"], { env })
        .output();
      assert.equal(batch.code, 255);
      assert.match(dec.decode(batch.stderr), /ssh-agent \(ssh-add KEY/);
      assert.ok(performance.now() - started < 15_000);
      // On a terminal: asked once, for the passphrase, then the command runs.
      const first = await onPty(
        ["exec", "--ask-pass", "--persist=60", ...flags, "--", "echo", "in"],
        env,
        { prompt: /Enter passphrase for key/, answer: `${PASSPHRASE}\n` },
      );
      assert.equal(first.code, 0, first.screen);
      assert.match(first.screen, /Enter passphrase for key/);
      assert.match(first.screen, /\bin\r?\n/);
      assert.ok(!first.screen.includes(PASSPHRASE), "the passphrase was echoed");
      // The kept connection: no question this time (nothing is typed).
      const second = await onPty(
        ["exec", "--ask-pass", "--persist=60", ...flags, "--", "echo", "again"],
        env,
        // Were it asked again (the connection not reused), empty answers end it quickly.
        { prompt: /passphrase/, answer: "\n\n\n" },
      );
      assert.equal(second.code, 0, second.screen);
      assert.doesNotMatch(second.screen, /passphrase/);
      assert.match(second.screen, /again/);
      // No helper is left beside the masters.
      const left = await new Deno.Command("sh", {
        args: ["-c", `find '${runtime}' -name '*.askpass' | wc -l`],
        stdout: "piped",
      }).output();
      assert.equal(dec.decode(left.stdout).trim(), "0");
    } finally {
      await startCli(["stop", "--all"], { env }).output();
      await Deno.writeTextFile(authorized, before);
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(runtime, { recursive: true });
    }
  },
);
