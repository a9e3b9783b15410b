/**
 * `--ask-pass`: on a terminal, ssh asks for a key's passphrase once (through yonder's helper, on
 * the terminal), and a kept connection is reused without asking; without a terminal nothing asks
 * and the error says how to load the key.
 */
import assert from "node:assert/strict";
import { liveSshTest, openLiveHost, TEST_HOST_ENV } from "../_live.ts";
import { startSshd } from "../fixtures/sshd.ts";
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

liveSshTest(
  "--ask-pass confirms an unknown host key and answers a password login, once per connection",
  async () => {
    if (Deno.env.get(TEST_HOST_ENV)) return; // An external host: no account of ours to set.
    if (Deno.uid() !== 0) {
      // sshd checks a password against /etc/shadow only as root; chpasswd needs root too.
      if (Deno.env.get("CI") === "true") throw new Error("password login test needs root");
      // deno-lint-ignore no-console
      console.error("password login test skipped: not root (sshd cannot check passwords)");
      return;
    }
    await using fixture = await startSshd({
      extraConfig: ["PasswordAuthentication yes", "PubkeyAuthentication no"],
    });
    const password = `pw-${crypto.randomUUID()}`;
    const set = await new Deno.Command("chpasswd", { stdin: "piped" }).spawn();
    const w = set.stdin.getWriter();
    await w.write(new TextEncoder().encode(`${fixture.user}:${password}\n`));
    await w.close();
    assert.equal((await set.status).code, 0);
    const runtime = await Deno.makeTempDir({ prefix: "yonder-askpass-run-" });
    await Deno.chmod(runtime, 0o700);
    const known = `${runtime}/known_hosts`;
    await Deno.writeTextFile(known, "");
    const env = { XDG_RUNTIME_DIR: runtime, SSH_AUTH_SOCK: "" };
    const flags = ["-r", fixture.target, "--known-hosts", known, "-o", "StrictHostKeyChecking=ask"];
    try {
      // Asked to trust the host key (answer typed with echo on), then for the password.
      const first = await onPty(
        ["exec", "--ask-pass", "--persist=60", ...flags, "--", "echo", "logged-in"],
        env,
        [
          { prompt: /continue connecting \(yes\/no/, answer: "yes\n" },
          { prompt: /password:/, answer: `${password}\n` },
        ],
      );
      assert.equal(first.code, 0, first.screen);
      // The yes/no answer is shown as typed (a password is not).
      assert.match(first.screen, /continue connecting \(yes\/no\/\[fingerprint\]\)\? +yes\r?\n/);
      assert.match(first.screen, /'s password:/);
      assert.match(first.screen, /\blogged-in\r?\n/);
      assert.ok(!first.screen.includes(password), "the password was echoed");
      assert.match(await Deno.readTextFile(known), /ssh-ed25519 /);
      // The kept connection asks nothing (empty answers would end a second login quickly).
      const second = await onPty(
        ["exec", "--ask-pass", "--persist=60", ...flags, "--", "echo", "again"],
        env,
        { prompt: /password:|continue connecting/, answer: "\n\n\n" },
      );
      assert.equal(second.code, 0, second.screen);
      assert.doesNotMatch(second.screen, /password:|continue connecting/);
      assert.match(second.screen, /again/);
      // A wrong password, on a connection of its own (no --persist): one try, then exit 255.
      const wrong = await onPty(
        ["exec", "--ask-pass", ...flags, "-o", "NumberOfPasswordPrompts=1", "--", "true"],
        env,
        { prompt: /password:/, answer: "not it\n" },
      );
      assert.equal(wrong.code, 255, wrong.screen);
      assert.match(wrong.screen, /'s password:[\s\S]*Permission denied \(password\)/);
    } finally {
      await startCli(["stop", "--all"], { env }).output();
      await new Deno.Command("usermod", { args: ["-p", "*", fixture.user] }).output();
      await Deno.remove(runtime, { recursive: true });
    }
  },
);
