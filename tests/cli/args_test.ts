import assert from "node:assert/strict";
import { parseFlags } from "../../lib/cli/_args.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { main } from "../../lib/cli/main.ts";
import { fakeIo } from "./_io.ts";

const SPEC = {
  remote: { type: "string", short: "r" },
  env: { type: "string", short: "e", multiple: true },
  verbose: { type: "boolean", short: "v", multiple: true },
  json: { type: "boolean" },
  all: { type: "boolean", short: "a" },
} as const;

Deno.test("parseFlags: long, short, attached and = forms", () => {
  const { values, positionals } = parseFlags(
    ["--remote", "h1", "-e", "A=1", "-eB=2", "--env=C=3", "x", "--json", "-", "y"],
    SPEC,
  );
  assert.deepEqual(values, { remote: "h1", env: ["A=1", "B=2", "C=3"], json: true });
  assert.deepEqual(positionals, ["x", "-", "y"]);
  assert.deepEqual(parseFlags(["-rhost"], SPEC).values.remote, "host");
  assert.deepEqual(parseFlags(["--remote="], SPEC).values.remote, "");
});

Deno.test("parseFlags: boolean groups and repeats count", () => {
  assert.deepEqual(parseFlags(["-vv"], SPEC).values.verbose, [true, true]);
  assert.deepEqual(parseFlags(["-va", "-v"], SPEC).values, { verbose: [true, true], all: true });
  // A string flag inside a group takes the rest of the group, or the next argument.
  assert.deepEqual(parseFlags(["-vrhost"], SPEC).values, { verbose: [true], remote: "host" });
  assert.deepEqual(parseFlags(["-vr", "host"], SPEC).values, { verbose: [true], remote: "host" });
});

Deno.test("parseFlags: -- ends the flags", () => {
  const { values, positionals } = parseFlags(["-a", "--", "-v", "--json"], SPEC);
  assert.deepEqual(values, { all: true });
  assert.deepEqual(positionals, ["-v", "--json"]);
});

Deno.test("parseFlags: every bad input is a UsageError naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--frob"], /Unknown option "--frob"/],
    [["-x"], /Unknown option "-x"/],
    [["-vx"], /Unknown option "-x"/],
    [["--remote"], /"-r, --remote" needs a value/],
    [["-r"], /"-r, --remote" needs a value/],
    [["--remote", "--json"], /needs a value, not the option "--json"/],
    [["--json=yes"], /"--json" takes no value/],
    [["--constructor"], /Unknown option "--constructor"/],
    [["--__proto__"], /Unknown option/],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseFlags(args, SPEC),
      (e) => e instanceof UsageError && message.test(e.message),
      args.join(" "),
    );
  }
  assert.throws(() => parseFlags(["x"], SPEC, false), /Unexpected argument "x"/);
});

Deno.test("parseFlags: one letter for two flags is refused", () => {
  assert.throws(
    () =>
      parseFlags([], {
        port: { type: "string", short: "p" },
        mkdirs: { type: "boolean", short: "p" },
      }),
    /-p is given to both --port and --mkdirs/,
  );
});

Deno.test("every command's flags give each short letter to one flag", async () => {
  // --help parses the command's whole flag set, which throws on a letter given twice.
  for (const cmd of ["exec", "check", "cat", "put", "get", "ls", "push", "pull"]) {
    const io = fakeIo();
    assert.equal(await main([cmd, "--help"], io), 0, `${cmd} --help: ${io.err()}`);
    assert.match(io.out(), new RegExp(`Usage: yonder ${cmd}`));
  }
});

Deno.test("parseFlags: a value that starts with - is given with =", () => {
  assert.deepEqual(parseFlags(["--remote=-odd"], SPEC).values.remote, "-odd");
});
