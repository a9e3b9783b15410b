/**
 * become (sudo -n / doas -n) against the native sshd fixture: the fixture's account gets a
 * NOPASSWD rule for root and a password rule for `nobody` in a sudoers file of this test's own
 * (the machine's root writes it, and removes it after).
 */
import assert from "node:assert/strict";
import { BecomeError } from "../../lib/ssh/become.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { type LiveHost, liveSshTest, openLiveHost, TEST_HOST_ENV } from "../_live.ts";
import { startSshd } from "../fixtures/sshd.ts";
import { connFlags, hostEntry, MAIN, runCli } from "../cli/_run.ts";

const dec = new TextDecoder();

/** Why sudo rules cannot be set up here, or undefined when they can. */
async function noSudo(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root: cannot write a sudoers rule for the test account";
  const which = await new Deno.Command("sh", { args: ["-c", "command -v sudo visudo"] }).output();
  return which.code === 0 ? undefined : "sudo is not installed (apt install sudo)";
}

/** True (the reason printed) when sudo rules cannot be set up here; under CI that fails. */
async function skipWithoutSudo(): Promise<boolean> {
  const why = await noSudo();
  if (why === undefined) return false;
  if (Deno.env.get("CI") === "true") throw new Error(`become tests cannot run: ${why}`);
  // deno-lint-ignore no-console
  console.error(`become test skipped: ${why}`);
  return true;
}

/** Gives the fixture's account its sudo rules; returns the remover. */
async function sudoRules(host: LiveHost): Promise<() => Promise<void>> {
  const user = host.target.replace(/^ssh:\/\/([^@]+)@.*$/, "$1");
  const file = `/etc/sudoers.d/yonder-test-${Deno.pid}`;
  await Deno.writeTextFile(
    file,
    `${user} ALL=(root) NOPASSWD: ALL\n${user} ALL=(nobody) ALL\n`,
    { mode: 0o440 },
  );
  const check = await new Deno.Command("visudo", { args: ["-cf", file] }).output();
  assert.equal(check.code, 0, dec.decode(check.stderr));
  return () => Deno.remove(file).catch(() => {});
}

liveSshTest("become: sudo -n runs calls, kills and file operations as root", async () => {
  if (await skipWithoutSudo()) return;
  await using host = await openLiveHost();
  const removeRules = await sudoRules(host);
  const secret = `/tmp/yonder-root-only-${crypto.randomUUID()}`;
  const conf = `/etc/yonder-test-${crypto.randomUUID()}.conf`;
  try {
    await Deno.writeTextFile(secret, "for root\n", { mode: 0o600 });
    await Deno.writeTextFile(conf, "old\n", { mode: 0o640 });
    await Deno.chown(conf, 1, 1); // daemon:daemon, as a service's config would be
    for (const session of ["stateless", false] as const) {
      await using env = await SshEnvironment.open(host.target, {
        ...host.connect,
        session,
        become: { method: "sudo" },
      });
      const id = await env.exec(["id", "-u"]);
      assert.deepEqual([id.code, dec.decode(id.stdout)], [0, "0\n"], `${session}`);
      // With sessions, the calls run in a session shell of root's (the fast path): a bash.
      const parent = await env.exec("ps -o user=,comm= -p $PPID");
      assert.equal(
        dec.decode(parent.stdout).trim().replace(/\s+/g, " "),
        session === false ? "root sh" : "root bash",
      );
      assert.equal(
        dec.decode((await env.exec(["id", "-u"], { become: null })).stdout),
        `${(await host.remote("id -u")).stdout}`,
      );
      // A timeout stops the root command and what it started.
      const mark = 5000 + Math.floor(Math.random() * 4000);
      const t = await env.exec(["sh", "-c", `sleep ${mark} & sleep ${mark + 1}`], {
        timeoutMs: 800,
      });
      assert.equal(t.timedOut, true);
      const left = await host.remote(
        `sleep 0.5; ps -eo args= | grep -E '^sleep (${mark}|${mark + 1})$' || true`,
      );
      assert.equal(left.stdout, "", `left running: ${left.stdout}`);
      // A file only root may read; one under /etc rewritten in place of the old, owner and mode
      // kept.
      assert.equal(dec.decode(await env.readFile(secret)), "for root\n");
      await env.writeFile(conf, `new ${session}\n`);
      const st = await Deno.stat(conf);
      assert.deepEqual([st.uid, st.gid, (st.mode ?? 0) & 0o777], [1, 1, 0o640]);
      assert.equal(await Deno.readTextFile(conf), `new ${session}\n`);
      // A rule that needs a password: a typed error, never a hang.
      const started = performance.now();
      const e = await env.exec(["id"], { become: { method: "sudo", user: "nobody" } }).catch((
        e,
      ) => e);
      assert.ok(e instanceof BecomeError, String(e));
      assert.equal(e.kind, "password_required");
      assert.ok(performance.now() - started < 5000);
      // No doas on this host.
      const d = await env.exec(["id"], { become: { method: "doas" } }).catch((e) => e);
      assert.ok(d instanceof BecomeError, String(d));
      assert.equal(d.kind, "missing");
    }
    // A stateful session (root's) refuses a call as anyone else; its own calls run as root.
    {
      await using env = await SshEnvironment.open(host.target, {
        ...host.connect,
        session: "stateful",
        become: { method: "sudo" },
      });
      assert.equal(dec.decode((await env.exec("cd /tmp; id -u")).stdout), "0\n");
      assert.equal(dec.decode((await env.exec("pwd")).stdout), "/tmp\n");
      await assert.rejects(env.exec(["id"], { become: null }), /stateful session cannot run/);
    }
    // The CLI: --become prints root's id; a password rule exits 2 with the kind.
    const cli = await runCli(["exec", ...connFlags(host), "--become", "--", "id", "-u"]);
    assert.deepEqual([cli.code, cli.stdout], [0, "0\n"], cli.stderr);
    const pw = await runCli(["exec", ...connFlags(host), "--become=nobody", "--", "id", "-u"]);
    assert.equal(pw.code, 2);
    assert.match(
      pw.stderr,
      /^yonder: become: Cannot become "nobody" with sudo: a password is required/m,
    );
  } finally {
    await removeRules();
    await Deno.remove(secret).catch(() => {});
    await Deno.remove(conf).catch(() => {});
  }
});

Deno.test("becomeFailure() tells password_required, not_allowed, missing and other refusals", async () => {
  const { becomeFailure } = await import("../../lib/ssh/become.ts");
  const sudo = { method: "sudo" as const };
  assert.equal(becomeFailure(sudo, "sudo: a password is required\n")?.kind, "password_required");
  assert.equal(
    becomeFailure(sudo, "Sorry, user deploy is not allowed to execute '/bin/sh' as root\nsudo: x\n")
      ?.kind,
    "not_allowed",
  );
  assert.equal(becomeFailure(sudo, "sh: 1: exec: sudo: not found\n")?.kind, "missing");
  assert.equal(
    becomeFailure({ method: "doas" }, "doas: Authorization required\n")?.kind,
    "password_required",
  );
  assert.equal(becomeFailure(sudo, "sudo: unable to resolve host x\n")?.kind, "failed");
  assert.equal(becomeFailure(sudo, "Connection closed\n"), null);
});

Deno.test("the first hop hands over to the other user's shell, which makes its own group", async () => {
  const { hopPreambleText } = await import("../../lib/posix/first_hop.ts");
  const lines = hopPreambleText("echo hi", "n", { method: "sudo", user: "www-data" }).split("\n");
  assert.equal(lines[1], `exec sudo -n -H -u www-data -- /bin/sh -c 'IFS= read -r y && eval "$y"'`);
  assert.equal(lines[2], lines[0], "the group line again, in the new shell");
  assert.equal(lines[3], "echo hi");
  assert.throws(() => hopPreambleText("x", "n", { method: "sudo", user: "a b" }));
  assert.match(
    hopPreambleText("x", "n", { method: "doas" }).split("\n")[1]!,
    /^exec doas -n -u root \/bin\/sh -c /,
  );
});

liveSshTest("become with a password: sudo -S gets it on stdin only, once asked", async () => {
  if (await skipWithoutSudo()) return;
  await using host = await openLiveHost();
  const user = host.target.replace(/^ssh:\/\/([^@]+)@.*$/, "$1");
  const password = `pw-${crypto.randomUUID()}`;
  const removeRules = await sudoRules(host);
  const rules = `/etc/sudoers.d/yonder-test-pw-${Deno.pid}`;
  const dir = await Deno.makeTempDir({ prefix: "yonder-become-pw-" });
  // The fixture locks the account's password when it starts: set it after.
  const setPassword = (line: string) =>
    new Deno.Command("sh", { args: ["-c", `printf '%s\\n' '${line}' | chpasswd`] }).output();
  try {
    await Deno.writeTextFile(rules, `${user} ALL=(daemon) ALL\n`, { mode: 0o440 });
    assert.equal((await setPassword(`${user}:${password}`)).code, 0);
    await using env = await SshEnvironment.open(host.target, { ...host.connect, session: false });
    const daemon = { method: "sudo" as const, user: "daemon", password };
    // Right: runs as daemon; the command's stdin arrives whole (the password is not in it).
    const r = await env.exec(["sh", "-c", "id -u; cat"], {
      become: daemon,
      stdin: "first bytes\n",
    });
    assert.deepEqual([r.code, dec.decode(r.stdout)], [0, "1\nfirst bytes\n"]);
    assert.ok(!dec.decode(r.stderr).includes("yonder-become"), "sudo's prompt leaked");
    // While a call runs, the password is nowhere in the remote process list.
    const running = env.exec(["sleep", "2"], { become: daemon });
    for (let i = 0; i < 8; i++) {
      const ps = await host.remote("ps -eo args=");
      assert.ok(!ps.stdout.includes(password), "the password is in the process list");
      await new Promise((res) => setTimeout(res, 150));
    }
    assert.equal((await running).code, 0);
    // Wrong: refused within 5 s; none: refused at once.
    let started = performance.now();
    const wrong = await env.exec(["id"], { become: { ...daemon, password: "not-it" } }).catch((e) =>
      e
    );
    assert.ok(wrong instanceof BecomeError, String(wrong));
    assert.equal(wrong.kind, "wrong_password");
    assert.ok(performance.now() - started < 5000);
    started = performance.now();
    const none = await env.exec(["id"], { become: { method: "sudo", user: "daemon" } }).catch((
      e,
    ) => e);
    assert.equal(none?.kind, "password_required");
    // A timeout kills the daemon-owned command through the same sudo (password and all).
    const t = await env.exec(["sleep", "4242"], { become: daemon, timeoutMs: 800 });
    assert.equal(t.timedOut, true);
    const left = await host.remote("sleep 0.5; ps -eo args= | grep -E '^sleep 4242$' || true");
    assert.equal(left.stdout, "");
    // The CLI, from $YONDER_BECOME_PASSWORD, with -vv and an audit log: the password shows in
    // neither.
    const config = `${dir}/yonder.yaml`;
    await Deno.writeTextFile(
      config,
      [
        "hosts:",
        ...hostEntry(host, "box", ["become: {method: sudo, user: daemon}"]),
        `audit: {path: ${JSON.stringify(`${dir}/audit.jsonl`)}, args: full}`,
        "",
      ].join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        MAIN,
        "exec",
        "-vv",
        "--config",
        config,
        "-r",
        "box",
        "--",
        "id",
        "-u",
      ],
      env: { YONDER_BECOME_PASSWORD: password, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const text = dec.decode(out.stdout) + dec.decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.equal(dec.decode(out.stdout), "1\n");
    assert.ok(!text.includes(password), "the password is in yonder's output");
    assert.ok(!(await Deno.readTextFile(`${dir}/audit.jsonl`)).includes(password));
  } finally {
    await new Deno.Command("usermod", { args: ["-p", "*", user] }).output().catch(() => {});
    await Deno.remove(rules).catch(() => {});
    await removeRules();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("BecomeGate answers a sudo that ignores -p (sudo-rs) once, and fails the second time", async () => {
  const { BecomeGate } = await import("../../lib/ssh/become_gate.ts");
  const sent: string[] = [];
  const gate = new BecomeGate({ method: "sudo", password: "s3" }, "n1", (b) => {
    sent.push(dec.decode(b));
    return Promise.resolve();
  });
  const e = new TextEncoder();
  assert.equal(gate.push(e.encode("[sudo: authenticate] Password: ")), null);
  assert.deepEqual(sent, ["s3\n"]);
  const after = gate.push(e.encode("\n\x1eYn1:become\nafter"));
  assert.equal(dec.decode(after ?? new Uint8Array()), "after");
  await gate.open;
  const wrong = new BecomeGate({ method: "sudo", password: "x" }, "n2", () => Promise.resolve());
  wrong.push(e.encode("[sudo: authenticate] Password: "));
  wrong.push(
    e.encode("\nsudo: Authentication failed, try again.\n[sudo: authenticate] Password: "),
  );
  await assert.rejects(wrong.open, /password was refused/);
});

/**
 * A stand-in for sudo-rs, first on the login user's PATH: it ignores `-p`, asks with its own
 * words, says what sudo-rs says under `-n`, and on the right password hands over to the real sudo
 * (whose NOPASSWD rule for root then lets it through).
 */
function fakeSudoRs(password: string): string {
  return `#!/bin/sh
n=; u=root
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=1 ;; -S|-H) ;; -p) shift ;; -u) shift; u=$1 ;; --) shift; break ;; -*) ;; *) break ;;
  esac
  shift
done
if [ -n "$n" ]; then echo 'sudo: interactive authentication is required' >&2; exit 1; fi
tries=0
while :; do
  printf '[sudo: authenticate] Password: ' >&2
  IFS= read -r pw || exit 1
  [ "$pw" = '${password}' ] && break
  tries=$((tries + 1))
  [ $tries -ge 3 ] && { echo 'sudo: 3 incorrect authentication attempts' >&2; exit 1; }
  echo 'sudo: Authentication failed, try again.' >&2
done
exec /usr/bin/sudo -n -u "$u" -- "$@"
`;
}

liveSshTest("become with a password through a sudo-rs-like sudo that ignores -p", async () => {
  if (await skipWithoutSudo()) return;
  if (Deno.env.get(TEST_HOST_ENV)) return; // An external host: its PATH is not ours to set.
  const password = `pw-${crypto.randomUUID()}`;
  const bin = await Deno.makeTempDir({ prefix: "yonder-sudo-rs-" });
  await Deno.chmod(bin, 0o755);
  await Deno.writeTextFile(`${bin}/sudo`, fakeSudoRs(password), { mode: 0o755 });
  await Deno.chmod(`${bin}/sudo`, 0o755);
  await using fixture = await startSshd({
    extraConfig: [`SetEnv PATH=${bin}:/usr/local/bin:/usr/bin:/bin`],
  });
  const removeRules = await sudoRules({ target: fixture.target } as LiveHost);
  try {
    for (const session of ["stateless", false] as const) {
      await using env = await SshEnvironment.open(fixture.target, {
        ...fixture.connect,
        session,
      });
      // The stand-in is the sudo the login shell finds.
      assert.equal(dec.decode((await env.exec("command -v sudo")).stdout), `${bin}/sudo\n`);
      const root = { method: "sudo" as const, password };
      const r = await env.exec(["sh", "-c", "id -u; cat"], { become: root, stdin: "stdin\n" });
      assert.deepEqual([r.code, dec.decode(r.stdout)], [0, "0\nstdin\n"], dec.decode(r.stderr));
      assert.ok(!dec.decode(r.stderr).includes("authenticate"), "sudo's prompt leaked");
      const started = performance.now();
      const wrong = await env.exec(["id"], { become: { ...root, password: "nope" } })
        .catch((e) => e);
      assert.ok(wrong instanceof BecomeError, String(wrong));
      assert.equal(wrong.kind, "wrong_password");
      assert.ok(performance.now() - started < 5000);
      const none = await env.exec(["id"], { become: { method: "sudo" } }).catch((e) => e);
      assert.ok(none instanceof BecomeError, String(none));
      assert.equal(none.kind, "password_required", none.message);
    }
  } finally {
    await removeRules();
    await Deno.remove(bin, { recursive: true });
  }
});
