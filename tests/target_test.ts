import assert from "node:assert/strict";
import { TargetError } from "../lib/core/errors.ts";
import { formatTarget, parseTarget, sshDestination, type Target } from "../lib/core/target.ts";
import { fc } from "./deps.ts";

/** Asserts that `fn` throws a TargetError about `part` and returns it. */
function assertTargetError(fn: () => unknown, part: TargetError["part"]): TargetError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TargetError, `expected a TargetError, got ${String(caught)}`);
  assert.equal(caught.part, part, `wrong part for: ${caught.message}`);
  return caught;
}

/** Checks the house style of an error message. */
function assertMessageStyle(err: Error): void {
  assert.match(err.message, /^[A-Z]/, `message must start with a capital: ${err.message}`);
  assert.doesNotMatch(err.message, /\.$/, `message must not end with a period: ${err.message}`);
  assert.doesNotMatch(err.message, /\n/, `message must be one line: ${err.message}`);
}

Deno.test("parseTarget() accepts ssh:// URLs", async (t) => {
  const cases: [string, Target][] = [
    ["ssh://h", { host: "h" }],
    ["ssh://build-box", { host: "build-box" }],
    ["SSH://h", { host: "h" }],
    ["sSh://h", { host: "h" }],
    ["ssh://alice@h", { user: "alice", host: "h" }],
    ["ssh://alice@h:2222", { user: "alice", host: "h", port: 2222 }],
    ["ssh://h:22", { host: "h", port: 22 }],
    ["ssh://h:65535", { host: "h", port: 65535 }],
    ["ssh://h:1", { host: "h", port: 1 }],
    ["ssh://h:022", { host: "h", port: 22 }],
    ["ssh://alice@h:2222/srv/app", { user: "alice", host: "h", port: 2222, path: "/srv/app" }],
    ["ssh://h/srv/app", { host: "h", path: "/srv/app" }],
    ["ssh://h/", { host: "h", path: "/" }],
    ["ssh://h//srv", { host: "h", path: "//srv" }],
    ["ssh://h/~/x", { host: "h", path: "~/x" }],
    ["ssh://h/~", { host: "h", path: "~" }],
    ["ssh://h/~bob/x", { host: "h", path: "~bob/x" }],
    ["ssh://h/%7E/x", { host: "h", path: "/~/x" }],
    ["ssh://alice@h:/srv/app", { user: "alice", host: "h", path: "/srv/app" }],
    ["ssh://h:", { host: "h" }],
    ["ssh://h/my%20app/%C3%A9", { host: "h", path: "/my app/é" }],
    ["ssh://h/a?b#c", { host: "h", path: "/a?b#c" }],
    ["ssh://h/a b", { host: "h", path: "/a b" }],
    ["ssh://h/a:b@c", { host: "h", path: "/a:b@c" }],
    ["ssh://al%69ce@h", { user: "alice", host: "h" }],
    ["ssh://alice%40corp.example@h", { user: "alice@corp.example", host: "h" }],
    ["ssh://alice@corp.example@h", { user: "alice@corp.example", host: "h" }],
    ["ssh://j%C3%BCrgen@h", { user: "jürgen", host: "h" }],
    ["ssh://build%2Dbox", { host: "build-box" }],
    ["ssh://10.0.0.1:2222", { host: "10.0.0.1", port: 2222 }],
    ["ssh://[2001:db8::1]:2222/x", { host: "2001:db8::1", port: 2222, path: "/x" }],
    ["ssh://[::1]", { host: "::1" }],
    ["ssh://[::1]:", { host: "::1" }],
    ["ssh://alice@[::1]:22/", { user: "alice", host: "::1", port: 22, path: "/" }],
    ["ssh://[fe80::1%25eth0]:22", { host: "fe80::1%eth0", port: 22 }],
    ["ssh://[fe80::1%eth0]", { host: "fe80::1%eth0" }],
    ["ssh://[::ffff:192.0.2.1]", { host: "::ffff:192.0.2.1" }],
    ["ssh://[build-box]:22", { host: "build-box", port: 22 }],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.deepStrictEqual(parseTarget(input), want);
    });
  }
});

Deno.test("parseTarget() accepts user@host, host and ssh_config aliases", async (t) => {
  const cases: [string, Target][] = [
    ["h", { host: "h" }],
    ["build-box", { host: "build-box" }],
    ["build_box.internal", { host: "build_box.internal" }],
    ["example.com.", { host: "example.com." }],
    ["10.0.0.1", { host: "10.0.0.1" }],
    ["alice@build-box", { user: "alice", host: "build-box" }],
    ["a.b-c_d+e@h", { user: "a.b-c_d+e", host: "h" }],
    ["alice@corp.example@h", { user: "alice@corp.example", host: "h" }],
    ["CORP\\alice@h", { user: "CORP\\alice", host: "h" }],
    ["HOST$@h", { user: "HOST$", host: "h" }],
    ["jürgen@h", { user: "jürgen", host: "h" }],
    ["пользователь@h", { user: "пользователь", host: "h" }],
    ["用户@h", { user: "用户", host: "h" }],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.deepStrictEqual(parseTarget(input), want);
    });
  }
});

Deno.test("parseTarget() accepts bracketed and bare IPv6 hosts", async (t) => {
  const cases: [string, Target][] = [
    ["[2001:db8::1]:2222", { host: "2001:db8::1", port: 2222 }],
    ["[::1]", { host: "::1" }],
    ["[::1]:", { host: "::1" }],
    ["user@[::1]:22", { user: "user", host: "::1", port: 22 }],
    ["user@[::1]:/srv", { user: "user", host: "::1", path: "/srv" }],
    ["[::1]:~/x", { host: "::1", path: "~/x" }],
    ["[fe80::1%eth0]:22", { host: "fe80::1%eth0", port: 22 }],
    ["[10.0.0.1]:22", { host: "10.0.0.1", port: 22 }],
    ["[build-box]", { host: "build-box" }],
    ["2001:db8::1", { host: "2001:db8::1" }],
    ["::1", { host: "::1" }],
    ["::", { host: "::" }],
    ["fe80::1%eth0", { host: "fe80::1%eth0" }],
    ["::ffff:192.0.2.1", { host: "::ffff:192.0.2.1" }],
    ["1:2:3:4:5:6:7:8", { host: "1:2:3:4:5:6:7:8" }],
    ["alice@2001:db8::1", { user: "alice", host: "2001:db8::1" }],
    // a bare IPv6 address cannot carry a port: the last group is part of the address
    ["2001:db8::1:22", { host: "2001:db8::1:22" }],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.deepStrictEqual(parseTarget(input), want);
    });
  }
});

Deno.test("parseTarget() accepts scp-like host:port and host:path", async (t) => {
  const cases: [string, Target][] = [
    ["user@host:/path", { user: "user", host: "host", path: "/path" }],
    ["host:path", { host: "host", path: "path" }],
    ["host:", { host: "host" }],
    ["user@host:", { user: "user", host: "host" }],
    ["host:2222", { host: "host", port: 2222 }],
    ["alice@host:22", { user: "alice", host: "host", port: 22 }],
    ["10.0.0.1:22", { host: "10.0.0.1", port: 22 }],
    ["host:./2222", { host: "host", path: "./2222" }],
    ["host:22/x", { host: "host", path: "22/x" }],
    ["host:~/x", { host: "host", path: "~/x" }],
    ["host:/srv/my app", { host: "host", path: "/srv/my app" }],
    ["host:/a%20b", { host: "host", path: "/a%20b" }],
    ["host:/a:b", { host: "host", path: "/a:b" }],
    ["host:/a@b", { host: "host", path: "/a@b" }],
    ["user@host:a@b:c", { user: "user", host: "host", path: "a@b:c" }],
    ["host:/line\nbreak", { host: "host", path: "/line\nbreak" }],
    ["host:/[x]", { host: "host", path: "/[x]" }],
    ["host::1", { host: "host", path: ":1" }],
    ["cafe:1:2", { host: "cafe", path: "1:2" }],
    ["user@host://x", { user: "user", host: "host", path: "//x" }],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.deepStrictEqual(parseTarget(input), want);
    });
  }
});

Deno.test("parseTarget() rejects empty targets", async (t) => {
  for (const input of ["", " ", "\t\n", "  \r\n"]) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), "target"));
    });
  }
});

Deno.test("parseTarget() rejects a missing host or user", async (t) => {
  const cases: [string, TargetError["part"]][] = [
    ["user@", "host"],
    ["ssh://", "host"],
    ["ssh://user@:22", "host"],
    ["ssh://user@", "host"],
    ["ssh://:22", "host"],
    [":22", "host"],
    [":/path", "host"],
    ["[]", "host"],
    ["[]:22", "host"],
    ["@host", "user"],
    ["@", "user"],
    ["ssh://@h", "user"],
  ];
  for (const [input, part] of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), part));
    });
  }
});

Deno.test("parseTarget() rejects bad ports", async (t) => {
  const cases = [
    "h:0",
    "h:70000",
    "h:65536",
    "h:99999999999999999999",
    "h:+22",
    "h:-22",
    "ssh://h:0",
    "ssh://h:70000",
    "ssh://h:abc",
    "ssh://h:+22",
    "ssh://h:-22",
    "ssh://h:22 ",
    "ssh://h:2e3",
    "ssh://h:0x16",
    "ssh://h:٢٢",
    "ssh://h:22:33",
    "ssh://[::1]:abc",
    "ssh://[::1]:0",
    "[::1]:abc",
    "[::1]:0",
    "[::1]:70000",
    "[::1]:-1",
    "user@[::1]:+22",
  ];
  for (const input of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), "port"));
    });
  }
  await t.step("message names the port and the target", () => {
    const err = assertTargetError(() => parseTarget("h:70000"), "port");
    assert.equal(err.message, 'Invalid port "70000" in target "h:70000": must be 1-65535');
    assert.equal(err.input, "h:70000");
    assert.ok(err.hint);
  });
});

Deno.test("parseTarget() rejects unknown schemes", async (t) => {
  for (const input of ["http://x", "sftp://x", "https://h/p", "scp://u@h", "ssh+git://h", "x://"]) {
    await t.step(JSON.stringify(input), () => {
      const err = assertTargetError(() => parseTarget(input), "scheme");
      assertMessageStyle(err);
      assert.ok(err.hint);
    });
  }
});

Deno.test("parseTarget() refuses an ssh URL with a slash missing", async (t) => {
  for (const input of ["ssh:/host", "ssh:host", "SSH:/u@h:22/p"]) {
    await t.step(JSON.stringify(input), () => {
      const err = assertTargetError(() => parseTarget(input), "scheme");
      assertMessageStyle(err);
      assert.match(err.hint ?? "", /ssh:\/\//);
    });
  }
  // A host named "ssh" with a port stays what it was.
  assert.deepEqual(parseTarget("ssh:2222"), { host: "ssh", port: 2222 });
});

Deno.test("parseTarget() rejects whitespace and control characters in host and user", async (t) => {
  const cases: [string, TargetError["part"]][] = [
    ["bad host", "host"],
    [" host", "host"],
    ["host ", "host"],
    ["host\n", "host"],
    ["user@host\n", "host"],
    ["host\t:22", "host"],
    ["ho\x00st", "host"],
    ["ho\x1bst", "host"],
    ["ho\x7fst", "host"],
    ["ho\x85st", "host"],
    ["ho\x9fst", "host"],
    ["ho\u00a0st", "host"],
    ["ho\u2028st", "host"],
    ["ssh://ho%20st", "host"],
    ["ssh://ho%0Ast", "host"],
    ["ssh://u@ho st:22", "host"],
    ["[::1 ]", "host"],
    ["us er@host", "user"],
    [" user@host", "user"],
    ["user\n@host", "user"],
    ["us\x00er@host", "user"],
    ["us\x7fer@host", "user"],
    ["us\x9fer@host", "user"],
    ["us\u3000er@host", "user"],
    ["ssh://us%20er@h", "user"],
    ["ssh://us%09er@h", "user"],
    ["ssh://us\ter@h", "user"],
  ];
  for (const [input, part] of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), part));
    });
  }
});

Deno.test("parseTarget() rejects a host or user that ssh would read as an option", async (t) => {
  const cases: [string, TargetError["part"]][] = [
    ["-oProxyCommand=touch /tmp/x", "host"],
    ["-h", "host"],
    ["user@-h", "host"],
    ["-h:22", "host"],
    ["ssh://-h", "host"],
    ["ssh://%2Dh", "host"],
    ["[-h]:22", "host"],
    ["-u@h", "user"],
    ["ssh://-u@h", "user"],
  ];
  for (const [input, part] of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), part));
    });
  }
});

Deno.test("parseTarget() rejects bad characters in the host", async (t) => {
  const cases = [
    "a;b",
    "a$b",
    "a`b`",
    "a'b",
    'a"b',
    "a*b",
    "a?b",
    "a\\b",
    "a/b",
    "a,b",
    "a%b",
    "a=b",
    "user@a|b",
    "ssh://a$b",
    "ssh://a?b",
    "ssh://a%2Fb",
    "ssh://h%zz",
    "bücher.example",
    "ssh://b%C3%BCcher.example",
    "[::1",
    "[::1:22",
    "::1]",
    "host]",
    "ho[st",
    "[[::1]]",
    "[::1]x",
    "[::1]22",
    "ssh://[::1",
    "ssh://[::1]x",
    "ssh://2001:db8::1",
    "[not:an:address]",
    "[fe80::1%]",
    "[fe80::1%a b]",
    "[fe80::1%eth$0]",
    "[12345::1]",
  ];
  for (const input of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), "host"));
    });
  }
});

Deno.test("parseTarget() rejects bad characters in the user", async (t) => {
  const cases = [
    "a;b@h",
    "a|b@h",
    "a'b@h",
    'a"b@h',
    "a`b@h",
    "a(b)@h",
    "a{b}@h",
    "a&b@h",
    "a<b>@h",
    "u\\@h",
    "ssh://a%3Ab@h",
    "ssh://a%2Fb@h",
    "ssh://a%zzb@h",
    "ssh://%E2%80%8Bu@h",
    "\u202eu@h",
    "😀@h",
  ];
  for (const input of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), "user"));
    });
  }
});

Deno.test("parseTarget() rejects bad paths", async (t) => {
  const cases = [
    "h:/a\x00b",
    "h:a\x00",
    "ssh://h/a%00b",
    "ssh://h/a%zz",
    "ssh://h/%C3",
    "h:/\uD800",
    "[::1]:/a\x00",
  ];
  for (const input of cases) {
    await t.step(JSON.stringify(input), () => {
      assertMessageStyle(assertTargetError(() => parseTarget(input), "path"));
    });
  }
});

Deno.test("formatTarget() writes the canonical form", async (t) => {
  const cases: [Target, string][] = [
    [{ host: "h" }, "ssh://h"],
    [{ user: "alice", host: "h", port: 2222, path: "/srv/app" }, "ssh://alice@h:2222/srv/app"],
    [{ host: "2001:db8::1", port: 2222, path: "/x" }, "ssh://[2001:db8::1]:2222/x"],
    [{ host: "fe80::1%eth0" }, "ssh://[fe80::1%25eth0]"],
    [{ host: "h", path: "/my app/100%" }, "ssh://h/my%20app/100%25"],
    [{ host: "h", path: "~/x" }, "ssh://h/~/x"],
    [{ host: "h", path: "/~/x" }, "ssh://h/%7E/x"],
    [{ host: "h", path: "/" }, "ssh://h/"],
    [{ host: "h", path: "/a?b#c" }, "ssh://h/a%3Fb%23c"],
    [{ user: "alice@corp", host: "h" }, "ssh://alice%40corp@h"],
    [{ user: "jürgen", host: "h" }, "ssh://j%C3%BCrgen@h"],
    [{ host: "h", path: "app" }, "h:app"],
    [{ user: "u", host: "h", path: "a b" }, "u@h:a b"],
  ];
  for (const [target, want] of cases) {
    await t.step(JSON.stringify(target), () => {
      assert.equal(formatTarget(target), want);
      assert.deepStrictEqual(parseTarget(want), target);
    });
  }
});

Deno.test("formatTarget() rejects targets it cannot write", async (t) => {
  const cases: [Target, TargetError["part"]][] = [
    [{ host: "" }, "host"],
    [{ host: "-oProxyCommand=x" }, "host"],
    [{ host: "a b" }, "host"],
    [{ host: "h", user: "" }, "user"],
    [{ host: "h", user: "-l" }, "user"],
    [{ host: "h", port: 0 }, "port"],
    [{ host: "h", port: 22.5 }, "port"],
    [{ host: "h", port: 70000 }, "port"],
    [{ host: "h", port: NaN }, "port"],
    [{ host: "h", path: "" }, "path"],
    [{ host: "h", path: "/a\x00" }, "path"],
    [{ host: "h", path: "/\uDC00" }, "path"],
    [{ host: "h", port: 22, path: "app" }, "path"],
    [{ host: "::1", path: "app" }, "path"],
    [{ host: "h", path: "22" }, "path"],
    [{ host: "h", path: "-1" }, "path"],
    [{ host: "cafe", path: ":1" }, "path"],
  ];
  for (const [target, part] of cases) {
    await t.step(JSON.stringify(target), () => {
      assertMessageStyle(assertTargetError(() => formatTarget(target), part));
    });
  }
});

Deno.test("sshDestination() gives user@host or host, IPv6 without brackets", async (t) => {
  const cases: [string, string][] = [
    ["h", "h"],
    ["alice@h:2222", "alice@h"],
    ["ssh://alice@[2001:db8::1]:2222/x", "alice@2001:db8::1"],
    ["[::1]:22", "::1"],
    ["fe80::1%eth0", "fe80::1%eth0"],
    ["alice@corp.example@h", "alice@corp.example@h"],
    ["build-box:/srv", "build-box"],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.equal(sshDestination(parseTarget(input)), want);
    });
  }
  await t.step("rejects a hand-built host that starts with -", () => {
    assertTargetError(() => sshDestination({ host: "-oProxyCommand=x" }), "host");
  });
  await t.step("rejects a hand-built user with a newline", () => {
    assertTargetError(() => sshDestination({ host: "h", user: "a\nb" }), "user");
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const hostnameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".split("");

/** Hostnames and ssh_config aliases: [A-Za-z0-9._-]+, not starting with "-". */
const hostnameArb = fc.string({ unit: fc.constantFrom(...hostnameChars), minLength: 1 })
  .filter((h) => !h.startsWith("-"));

const zoneArb = fc.string({ unit: fc.constantFrom(...hostnameChars), minLength: 1 });

/** Any valid host. */
const hostArb = fc.oneof(
  hostnameArb,
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.ipV6(), zoneArb).map(([a, z]) => `${a}%${z}`),
);

const userChars = [
  ...hostnameChars,
  ..."!#$%*+,=?@[\\]^~".split(""),
  "é",
  "ß",
  "ж",
  "中",
  "\u0301",
  "٣",
  "𝒜",
];

/** Valid users: allowed characters, not starting with "-", not ending with "\". */
const userArb = fc.string({ unit: fc.constantFrom(...userChars), minLength: 1 })
  .filter((u) => !u.startsWith("-") && !u.endsWith("\\"));

/** Any well-formed text without NUL, biased towards characters that matter to targets. */
const pathTextArb = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.constantFrom(..."/~:@%[]?#. -_a1\n\\".split("")) }),
).filter((p) => !p.includes("\0"));

const absolutePathArb = fc.oneof(
  pathTextArb.map((p) => `/${p}`),
  pathTextArb.map((p) => `~${p}`),
);

/** Relative paths the scp-like form can carry (not a port, not part of an IPv6 address). */
const relativePathArb = pathTextArb.filter((p) =>
  p !== "" && !p.startsWith("/") && !p.startsWith("~") && !/^[+-]?[0-9]+$/.test(p) &&
  /[^0-9A-Fa-f:.]/.test(p.split("%")[0] ?? "")
);

/** Builds a target with only the keys that are defined. */
function makeTarget(host: string, user?: string, port?: number, path?: string): Target {
  const t: Target = { host };
  if (user !== undefined) t.user = user;
  if (port !== undefined) t.port = port;
  if (path !== undefined) t.path = path;
  return t;
}

const targetArb: fc.Arbitrary<Target> = fc.oneof(
  fc.tuple(
    hostArb,
    fc.option(userArb, { nil: undefined }),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    fc.option(absolutePathArb, { nil: undefined }),
  ).map(([h, u, port, p]) => makeTarget(h, u, port, p)),
  fc.tuple(hostnameArb, fc.option(userArb, { nil: undefined }), relativePathArb)
    .map(([h, u, p]) => makeTarget(h, u, undefined, p)),
);

/** Arbitrary strings: full Unicode, lone surrogates, and target-shaped noise. */
const anyStringArb = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
  fc.string({
    unit: fc.constantFrom(
      ..."@:/[]%-~ \t\n\x00\x7f\x85abcf019.".split(""),
      "ssh://",
      "SSH://",
      "http://",
      "::1",
      "%25",
      "%00",
      "%C3%A9",
      "é",
    ),
  }),
);

const CONTROL_OR_SPACE = /[\s\p{Cc}]/u;

Deno.test("parseTarget() reads back what formatTarget() writes", () => {
  fc.assert(
    fc.property(targetArb, (t) => {
      const text = formatTarget(t);
      assert.deepStrictEqual(parseTarget(text), t, `formatted as ${JSON.stringify(text)}`);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("parseTarget() throws only TargetError and never returns an unsafe host", () => {
  fc.assert(
    fc.property(anyStringArb, (s) => {
      let t: Target;
      try {
        t = parseTarget(s);
      } catch (err) {
        assert.ok(err instanceof TargetError, `not a TargetError: ${String(err)}`);
        assert.equal(err.input, s);
        assertMessageStyle(err);
        return;
      }
      assert.ok(t.host !== "");
      assert.doesNotMatch(t.host, CONTROL_OR_SPACE);
      assert.ok(!t.host.startsWith("-"));
      if (t.user !== undefined) {
        assert.doesNotMatch(t.user, CONTROL_OR_SPACE);
        assert.ok(!t.user.startsWith("-"));
      }
      if (t.port !== undefined) assert.ok(Number.isInteger(t.port) && t.port >= 1);
      // Whatever parses also formats, and reads back the same.
      assert.deepStrictEqual(parseTarget(formatTarget(t)), t);
      const dest = sshDestination(t);
      assert.ok(!dest.startsWith("-"));
      assert.doesNotMatch(dest, CONTROL_OR_SPACE);
    }),
    { numRuns: 5000 },
  );
});

const badCharArb = fc.constantFrom(
  " ",
  "\t",
  "\n",
  "\r",
  "\x00",
  "\x01",
  "\x1b",
  "\x7f",
  "\x85",
  "\x9f",
  "\u00a0",
  "\u2028",
  "\u3000",
  "\ufeff",
);

/** Inserts `c` into `s` before code point `at` (taken modulo the length + 1). */
function inject(s: string, c: string, at: number): string {
  const chars = [...s];
  chars.splice(at % (chars.length + 1), 0, c);
  return chars.join("");
}

Deno.test("parseTarget() rejects a user or host with an injected space or control character", async (t) => {
  await t.step("in the host", () => {
    fc.assert(
      fc.property(
        fc.option(userArb, { nil: undefined }),
        hostnameArb,
        badCharArb,
        fc.nat(),
        fc.constantFrom("plain", "url", "bracket"),
        (user, host, c, at, form) => {
          const bad = inject(host, c, at);
          const u = user === undefined ? "" : `${user}@`;
          const text = form === "url"
            ? `ssh://${user === undefined ? "" : `${encodeURIComponent(user)}@`}${
              encodeURIComponent(bad)
            }:22/x`
            : form === "bracket"
            ? `${u}[${bad}]:22`
            : `${u}${bad}:/x`;
          assertTargetError(() => parseTarget(text), "host");
        },
      ),
    );
  });
  await t.step("in an IPv6 host", () => {
    fc.assert(
      fc.property(fc.ipV6(), badCharArb, fc.nat(), (host, c, at) => {
        assertTargetError(() => parseTarget(`[${inject(host, c, at)}]:22`), "host");
        assertTargetError(() => parseTarget(`ssh://[${inject(host, c, at)}]`), "host");
      }),
    );
  });
  await t.step("in the user", () => {
    fc.assert(
      fc.property(
        userArb,
        hostArb,
        badCharArb,
        fc.nat(),
        fc.boolean(),
        (user, host, c, at, url) => {
          const bad = inject(user, c, at);
          const h = host.includes(":") ? `[${host.replace("%", "%25")}]` : host;
          const text = url ? `ssh://${encodeURIComponent(bad)}@${h}` : `${bad}@${h}`;
          assertTargetError(() => parseTarget(text), "user");
        },
      ),
    );
  });
  await t.step("in a hand-built target given to sshDestination() and formatTarget()", () => {
    fc.assert(
      fc.property(
        userArb,
        hostnameArb,
        badCharArb,
        fc.nat(),
        fc.boolean(),
        (u, h, c, at, inUser) => {
          const t = inUser
            ? { user: inject(u, c, at), host: h }
            : { user: u, host: inject(h, c, at) };
          const part = inUser ? "user" : "host";
          assertTargetError(() => sshDestination(t), part);
          assertTargetError(() => formatTarget(t), part);
        },
      ),
    );
  });
});
