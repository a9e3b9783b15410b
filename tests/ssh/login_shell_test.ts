/**
 * Accounts whose login shell is not of the POSIX family (fish, csh/tcsh) cannot run what yonder
 * sends yet: every path says so with a hint naming the shell, and nothing runs. (Running on them
 * is future work; this pins the message.) The native fixture sets the test user's shell, which
 * needs root; the shells come from Debian's fish and tcsh packages, which CI installs.
 */
import assert from "node:assert/strict";
import { YonderError } from "../../lib/core/errors.ts";
import { loginShellHint } from "../../lib/ssh/connect_error.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { startSshd } from "../fixtures/sshd.ts";
import { liveSshTest, TEST_HOST_ENV } from "../_live.ts";

Deno.test("loginShellHint names fish and csh/tcsh from what they print, and nothing else", () => {
  assert.match(
    loginShellHint("fish: Unsupported use of '='. In fish, please use 'set s 1'.") ?? "",
    /login shell looks like fish/,
  );
  assert.match(loginShellHint("s=1: Command not found.\n") ?? "", /csh\/tcsh/);
  assert.match(loginShellHint("Ambiguous output redirect.\nyf: Undefined variable.") ?? "", /tcsh/);
  assert.equal(loginShellHint("bash: line 1: foo: command not found"), null);
  assert.equal(loginShellHint(""), null);
});

/** Why a login-shell test cannot run here, or undefined. */
function cannotRun(shell: string): string | undefined {
  if (Deno.env.get(TEST_HOST_ENV)) return `${TEST_HOST_ENV} is set: its login shell is its own`;
  if (Deno.uid() !== 0) return "setting the test user's login shell needs root";
  try {
    Deno.statSync(shell);
  } catch {
    return `${shell} is not installed (apt-get install ${shell.split("/").at(-1)})`;
  }
  return undefined;
}

const shells: [string, string][] = [["/usr/bin/fish", "fish"], ["/usr/bin/tcsh", "csh/tcsh"]];
for (const [shell, family] of shells) {
  const name = `a ${family} login shell is named in the error, and nothing runs`;
  const reason = cannotRun(shell);
  if (reason !== undefined && Deno.env.get("CI") !== "true") {
    // Outside CI a machine without root or the shell skips it, saying why in the test's name.
    Deno.test({ name: `live_ssh ${name} (skipped: ${reason})`, ignore: true, fn() {} });
    continue;
  }
  liveSshTest(name, async () => {
    if (reason !== undefined) throw new Error(`Cannot run under CI: ${reason}`);
    await using fx = await startSshd({ shell });
    const marker = `/tmp/yonder-login-shell-${crypto.randomUUID()}`;
    for (const session of [false, "stateless"] as const) {
      const env = await SshEnvironment.open(`ssh://${fx.user}@127.0.0.1:${fx.port}`, {
        identityFile: fx.identityFile,
        knownHostsFile: fx.knownHostsFile,
        hostKeyPolicy: "strict",
        session,
      });
      try {
        await assert.rejects(env.exec(["touch", marker]), (e) => {
          assert.ok(e instanceof YonderError, `${e}`);
          assert.match(e.hint ?? "", new RegExp(`looks like ${family.replace("/", "\\/")}`));
          return true;
        });
      } finally {
        await env.close();
      }
      await assert.rejects(Deno.stat(marker), Deno.errors.NotFound, "the command ran");
    }
  });
}
