import assert from "node:assert/strict";
import { main } from "../../lib/cli/main.ts";
import { VERSION } from "../../lib/core/version.ts";
import { fakeIo } from "./_io.ts";

Deno.test("main() prints help and version", async (t) => {
  await t.step("no command: help on stdout, exit 2", async () => {
    const io = fakeIo();
    assert.equal(await main([], io), 2);
    assert.match(io.out(), /Usage: yonder <command>/);
  });
  await t.step("--help", async () => {
    const io = fakeIo();
    assert.equal(await main(["--help"], io), 0);
    assert.match(io.out(), /exec +run a command/);
  });
  await t.step("--version", async () => {
    const io = fakeIo();
    assert.equal(await main(["--version"], io), 0);
    assert.equal(io.out(), `yonder ${VERSION}\n`);
  });
  for (const cmd of ["exec", "check", "cat", "put", "get", "ls", "push", "pull"]) {
    await t.step(`${cmd} --help`, async () => {
      const io = fakeIo();
      assert.equal(await main([cmd, "--help"], io), 0);
      assert.match(io.out(), new RegExp(`Usage: yonder ${cmd}`));
      assert.match(io.out(), /--remote TARGET/);
    });
  }
});

Deno.test("main() reports usage errors on stderr with exit 2", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["unknown command", ["frobnicate"], /yonder: usage: unknown command "frobnicate"/],
    ["exec without a command", ["exec"], /yonder: usage: No command given/],
    ["unknown flag", ["exec", "--frob", "--", "true"], /yonder: usage: .*frob/],
    ["bad timeout", ["exec", "--timeout", "soon", "--", "true"], /Invalid --timeout "soon"/],
    ["bad env", ["exec", "-e", "NOEQUALS", "--", "true"], /Invalid --env "NOEQUALS"/],
    ["bad env name", ["exec", "-e", "A-B=1", "--", "true"], /Invalid environment variable name/],
    ["bad port in target", ["exec", "-r", "ssh://h:70000", "--", "true"], /Invalid port "70000"/],
    ["bad scheme", ["exec", "-r", "http://h", "--", "true"], /scheme/i],
    ["bad -p", ["exec", "-r", "h", "-p", "0", "--", "true"], /Invalid --port "0"/],
  ];
  for (const [name, argv, re] of cases) {
    await t.step(name, async () => {
      const io = fakeIo();
      assert.equal(await main(argv, io), 2, io.err());
      assert.match(io.err(), re);
      assert.equal(io.out(), "");
    });
  }
});

Deno.test("main() exec refuses a secret-looking -e and names the flag that allows it", async () => {
  const io = fakeIo();
  assert.equal(await main(["exec", "-e", "API_TOKEN=x", "--", "true"], io), 2);
  assert.match(io.err(), /Refusing to send "API_TOKEN"/);
  assert.match(io.err(), /hint: Pass --allow-env API_TOKEN/);
  const ok = fakeIo();
  const code = await main(
    [
      "exec",
      "-e",
      "API_TOKEN=x",
      "--allow-env",
      "API_TOKEN",
      "--",
      "sh",
      "-c",
      'printf "%s" "$API_TOKEN"',
    ],
    ok,
  );
  assert.equal(code, 0);
  assert.equal(ok.out(), "x");
});

Deno.test("main() exec runs locally without a target and returns the command's code", async () => {
  const io = fakeIo();
  assert.equal(await main(["exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7"], io), 7);
  assert.equal(io.out(), "out\n");
  assert.equal(io.err(), "err\n");
});

Deno.test("main() exec --shell joins the words into one sh script", async () => {
  const io = fakeIo();
  assert.equal(await main(["exec", "--shell", "--", "echo", "$((1+2))", "|", "tr 3 x"], io), 0);
  assert.equal(io.out(), "x\n");
});

Deno.test("main() exec --json prints one object; non-UTF-8 goes base64", async () => {
  const io = fakeIo();
  const code = await main([
    "exec",
    "--json",
    "--",
    "sh",
    "-c",
    "printf 'a\\377b'; echo e >&2; exit 3",
  ], io);
  assert.equal(code, 3);
  const lines = io.out().trim().split("\n");
  assert.equal(lines.length, 1);
  const j = JSON.parse(lines[0]!);
  assert.equal(j.target, "local");
  assert.equal(j.code, 3);
  assert.equal(j.signal, null);
  assert.equal(j.timed_out, false);
  assert.equal(typeof j.duration_ms, "number");
  assert.equal(j.stdout_base64, btoa("a\xffb"));
  assert.equal(j.stdout, undefined);
  assert.equal(j.stderr, "e\n");
  assert.equal(j.truncated, false);
});

Deno.test("main() exec --timeout stops the command with 124", async () => {
  const io = fakeIo();
  const started = performance.now();
  assert.equal(await main(["exec", "--timeout", "0.5", "--", "sleep", "30"], io), 124);
  assert.ok(performance.now() - started < 3000);
  assert.match(io.err(), /yonder: timeout: command stopped after 0.5 s/);
});

Deno.test("main() exec --stdin forwards stdin; without it the command reads nothing", async () => {
  const withStdin = fakeIo({}, new TextEncoder().encode("piped in"));
  assert.equal(await main(["exec", "--stdin", "--", "cat"], withStdin), 0);
  assert.equal(withStdin.out(), "piped in");
  const without = fakeIo({}, new TextEncoder().encode("piped in"));
  assert.equal(await main(["exec", "--", "cat"], without), 0);
  assert.equal(without.out(), "");
});

Deno.test("main() exec on a missing --cwd is a usage error (2), not the command's 1", async () => {
  const io = fakeIo();
  assert.equal(await main(["exec", "--cwd", "/no/such/dir", "--", "true"], io), 2);
  assert.match(io.err(), /^yonder: cwd: Working directory "\/no\/such\/dir" does not exist/);
});

Deno.test("main() check without a target probes this machine", async () => {
  const io = fakeIo();
  assert.equal(await main(["check", "--json"], io), 0, io.err());
  const j = JSON.parse(io.out());
  assert.equal(j.target, "local");
  assert.equal(j.ok, true);
  assert.match(j.probes[0].detail, /^local: /);
});

Deno.test("main() names a missing local file as local", async () => {
  const io = fakeIo();
  assert.equal(await main(["put", "/no/such/local-file", "somewhere"], io), 1);
  assert.match(io.err(), /^yonder: \/no\/such\/local-file: not found \(local\)$/m);
});

Deno.test("main() checks connection flags first: put -p a b names the bad port", async () => {
  const io = fakeIo();
  assert.equal(await main(["put", "-p", "a", "b"], io), 2);
  assert.match(io.err(), /^yonder: usage: Invalid --port "a"/);
});
