/**
 * yonder works for an account whatever its login shell: the native fixture gives the test user
 * each shell in turn (dash, zsh, fish, tcsh; bash is every other test's) and the portability
 * checks run over the master and over sessions. Setting the login shell needs root; the shells
 * come from Debian's packages, which CI installs.
 */
import assert from "node:assert/strict";
import { loginShellHint } from "../../lib/ssh/connect_error.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { startSshd } from "../fixtures/sshd.ts";
import { liveSshTest, TEST_HOST_ENV } from "../_live.ts";
import { runPortability } from "../_portability.ts";

Deno.test("loginShellHint names an account that refuses commands or has no /bin/sh", () => {
  assert.match(loginShellHint("This account is currently not available.\n") ?? "", /nologin/);
  assert.match(loginShellHint("sh: 1: exec: /bin/sh: not found\n") ?? "", /no usable \/bin\/sh/);
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

/** Runs `sh -c script` here: the native fixture's server is this machine. */
async function localProbe(script: string) {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const shells = ["/bin/dash", "/usr/bin/zsh", "/usr/bin/fish", "/usr/bin/tcsh"];
for (const shell of shells) {
  const name = `OpenSSH with the login shell ${shell}: the portability checks hold`;
  const reason = cannotRun(shell);
  if (reason !== undefined && Deno.env.get("CI") !== "true") {
    // Outside CI a machine without root or the shell skips it, saying why in the test's name.
    Deno.test({ name: `live_ssh ${name} (skipped: ${reason})`, ignore: true, fn() {} });
    continue;
  }
  liveSshTest(name, async (t) => {
    if (reason !== undefined) throw new Error(`Cannot run under CI: ${reason}`);
    await using fx = await startSshd({ shell });
    assert.equal((await localProbe(`getent passwd ${fx.user} | cut -d: -f7`)).stdout.trim(), shell);
    for (const session of [false, "stateless"] as const) {
      await t.step(session === false ? "over the master" : "over sessions", async (t) => {
        await using env = await SshEnvironment.open(fx.target, { ...fx.connect, session });
        await runPortability(t, env, localProbe);
      });
    }
  });
}
