import { loadYaml } from "../../lib/config/yaml.ts";
import assert from "node:assert/strict";
import { ConfigError } from "../../lib/config/errors.ts";
import {
  type Inventory,
  parseInventory,
  parseInventoryIni,
  parseInventoryYaml,
} from "../../lib/config/inventory.ts";
import { parseTarget } from "../../lib/core/target.ts";

// The YAML library loads at run time (see lib/util/npm.ts).
await loadYaml();

/** Joins lines into a file's text (so a test reads line by line, numbered from 1). */
function text(...lines: string[]): string {
  return lines.join("\n") + "\n";
}

/** The inventory without places, to compare what two formats resolve to. */
function withoutPlaces(inv: Inventory): unknown {
  return {
    hosts: inv.hosts.map(({ line: _line, col: _col, ...host }) => host),
    groups: inv.groups.map(({ line: _line, col: _col, ...group }) => group),
  };
}

/** The hosts' targets by name. */
function targets(inv: Inventory): Record<string, string> {
  return Object.fromEntries(inv.hosts.map((h) => [h.name, h.target]));
}

/** The ConfigError `fn` throws, after checking the house style of each issue's message. */
function configError(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  for (const i of caught.issues) {
    assert.match(i.message, /^[A-Z]/, `message must start with a capital: ${i.message}`);
    assert.doesNotMatch(i.message, /\.$/, `message must not end with a period: ${i.message}`);
    assert.doesNotMatch(i.message, /\n/, `message must be one line: ${i.message}`);
  }
  return caught;
}

/** The lines of the message of the ConfigError `fn` throws (`file:line:col: path: message`). */
function errorLines(fn: () => unknown): string[] {
  return configError(fn).message.split("\n");
}

const INI = text(
  "# Production", //                                   1
  "bastion ansible_host=203.0.113.10", //              2
  "", //                                               3
  "[web]", //                                          4
  "web[01:02] ansible_user=deploy", //                 5
  "web03 ansible_port=2200", //                        6
  "", //                                               7
  "[db]", //                                           8
  "db1 ansible_host=2001:db8::10", //                  9
  "", //                                               10
  "[prod:children]", //                                11
  "web", //                                            12
  "db", //                                             13
  "", //                                               14
  "[prod:vars]", //                                    15
  "ansible_port=2222", //                              16
  "ansible_user = admin", //                           17
  "", //                                               18
  "[web:vars]", //                                     19
  'ansible_ssh_private_key_file="~/.ssh/web key"', //  20
);

const YAML = text(
  "all:", //                                           1
  "  hosts:", //                                       2
  "    bastion:", //                                   3
  "      ansible_host: 203.0.113.10", //               4
  "  children:", //                                    5
  "    web:", //                                       6
  "      hosts:", //                                   7
  "        web[01:02]:", //                            8
  "          ansible_user: deploy", //                 9
  "        web03:", //                                 10
  "          ansible_port: 2200", //                   11
  "      vars:", //                                    12
  "        ansible_ssh_private_key_file: ~/.ssh/web key", // 13
  "    db:", //                                        14
  "      hosts:", //                                   15
  "        db1:", //                                   16
  '          ansible_host: "2001:db8::10"', //         17
  "    prod:", //                                      18
  "      children:", //                                19
  "        web:", //                                   20
  "        db:", //                                    21
  "      vars:", //                                    22
  "        ansible_port: 2222", //                     23
  "        ansible_user: admin", //                    24
);

Deno.test("parseInventoryIni() reads groups, :children and :vars, host vars over group vars", () => {
  const inv = parseInventoryIni(INI, "hosts");
  const key = "~/.ssh/web key";
  assert.deepStrictEqual(inv, {
    hosts: [
      { name: "bastion", target: "ssh://203.0.113.10", line: 2, col: 1 },
      { name: "web01", target: "ssh://deploy@web01:2222", identityFile: key, line: 5, col: 1 },
      { name: "web02", target: "ssh://deploy@web02:2222", identityFile: key, line: 5, col: 1 },
      { name: "web03", target: "ssh://admin@web03:2200", identityFile: key, line: 6, col: 1 },
      { name: "db1", target: "ssh://admin@[2001:db8::10]:2222", line: 9, col: 1 },
    ],
    groups: [
      { name: "web", hosts: ["web01", "web02", "web03"], children: [], line: 4, col: 1 },
      { name: "db", hosts: ["db1"], children: [], line: 8, col: 1 },
      { name: "prod", hosts: [], children: ["web", "db"], line: 11, col: 1 },
    ],
  });
  for (const h of inv.hosts) parseTarget(h.target);
  assert.deepStrictEqual(parseTarget(inv.hosts[4]!.target), {
    user: "admin",
    host: "2001:db8::10",
    port: 2222,
  });
});

Deno.test("parseInventoryYaml() reads the equivalent YAML inventory to the same model", () => {
  const yaml = parseInventoryYaml(YAML, "inventory.yaml");
  assert.deepStrictEqual(withoutPlaces(yaml), withoutPlaces(parseInventoryIni(INI, "hosts")));
  // Places are those of the keys.
  assert.deepStrictEqual(
    yaml.hosts.map((h) => [h.name, h.line, h.col]),
    [["bastion", 3, 5], ["web01", 8, 9], ["web02", 8, 9], ["web03", 10, 9], ["db1", 16, 9]],
  );
  assert.deepStrictEqual(
    yaml.groups.map((g) => [g.name, g.line, g.col]),
    [["web", 6, 5], ["db", 14, 5], ["prod", 18, 5]],
  );
});

Deno.test("parseInventoryYaml() merges a group or host named in several places", () => {
  const inv = parseInventoryYaml(
    text(
      "web:",
      "  hosts:",
      "    web1:",
      "      ansible_user: deploy",
      "prod:",
      "  children:",
      "    web:",
      "      hosts:",
      "        web1:",
      "          ansible_port: 2222",
      "        web2:",
      "      vars:",
      "        ansible_host: shared.example.com",
    ),
    "inventory.yml",
  );
  assert.deepStrictEqual(targets(inv), {
    web1: "ssh://deploy@shared.example.com:2222",
    web2: "ssh://shared.example.com",
  });
  assert.deepStrictEqual(withoutPlaces(inv), {
    hosts: [
      { name: "web1", target: "ssh://deploy@shared.example.com:2222" },
      { name: "web2", target: "ssh://shared.example.com" },
    ],
    groups: [
      { name: "web", hosts: ["web1", "web2"], children: [] },
      { name: "prod", hosts: [], children: ["web"] },
    ],
  });
});

Deno.test("parseInventoryIni() expands numeric, alphabetic and stepped host ranges", () => {
  const inv = parseInventoryIni(
    text(
      "[web]",
      "web[08:10].example.com",
      "[db]",
      "db-[a:c]",
      "[node]",
      "node[1:10:3]",
      "[rack]",
      "r[1:2]-n[a:b] ansible_user=ops",
      "x[:1]",
      "y[A:C:2]",
    ),
    "hosts",
  );
  assert.deepStrictEqual(inv.groups.map((g) => [g.name, g.hosts]), [
    ["web", ["web08.example.com", "web09.example.com", "web10.example.com"]],
    ["db", ["db-a", "db-b", "db-c"]],
    ["node", ["node1", "node4", "node7", "node10"]],
    ["rack", ["r1-na", "r1-nb", "r2-na", "r2-nb", "x0", "x1", "yA", "yC"]],
  ]);
  assert.equal(inv.hosts.length, 3 + 3 + 4 + 8);
  assert.equal(targets(inv)["r2-nb"], "ssh://ops@r2-nb");
  assert.deepStrictEqual(inv.hosts.find((h) => h.name === "r2-na"), {
    name: "r2-na",
    target: "ssh://ops@r2-na",
    line: 8,
    col: 1,
  });
});

Deno.test("parseInventoryIni() reads a port after the host name; ansible_port overrides it", () => {
  const inv = parseInventoryIni(
    text("web1:2222", "web[2:3]:2200 ansible_user=ops", "web4:2222 ansible_port=22"),
    "hosts",
  );
  assert.deepStrictEqual(targets(inv), {
    web1: "ssh://web1:2222",
    web2: "ssh://ops@web2:2200",
    web3: "ssh://ops@web3:2200",
    web4: "ssh://web4:22",
  });
});

Deno.test("parseInventoryYaml() expands ranges and ports in host keys", () => {
  const inv = parseInventoryYaml(
    text(
      "all:",
      "  children:",
      "    web:",
      "      hosts:",
      "        web[01:02]:",
      "        db-[a:b]:2200:",
      "          ansible_user: ops",
    ),
    "inventory.yaml",
  );
  assert.deepStrictEqual(targets(inv), {
    web01: "ssh://web01",
    web02: "ssh://web02",
    "db-a": "ssh://ops@db-a:2200",
    "db-b": "ssh://ops@db-b:2200",
  });
});

Deno.test("parseInventoryIni() puts an IPv6 ansible_host in brackets", () => {
  const inv = parseInventoryIni(
    text(
      "v6 ansible_host=2001:db8::1 ansible_port=2222 ansible_user=ops",
      "loopback ansible_host=::1",
      "link ansible_host=fe80::1%eth0",
      "2001:db8::2",
    ),
    "hosts",
  );
  assert.deepStrictEqual(targets(inv), {
    v6: "ssh://ops@[2001:db8::1]:2222",
    loopback: "ssh://[::1]",
    link: "ssh://[fe80::1%25eth0]",
    "2001:db8::2": "ssh://[2001:db8::2]",
  });
  assert.deepStrictEqual(parseTarget(targets(inv)["link"]!), { host: "fe80::1%eth0" });
  assert.deepStrictEqual(parseTarget(targets(inv)["v6"]!), {
    user: "ops",
    host: "2001:db8::1",
    port: 2222,
  });
});

Deno.test("parseInventoryYaml() puts an IPv6 ansible_host in brackets", () => {
  const inv = parseInventoryYaml(
    text(
      "all:",
      "  hosts:",
      "    v6:",
      '      ansible_host: "2001:db8::1"',
      "      ansible_port: 2222",
    ),
    "inventory.yaml",
  );
  assert.deepStrictEqual(targets(inv), { v6: "ssh://[2001:db8::1]:2222" });
});

Deno.test("parseInventoryIni() reads the legacy ansible_ssh_* names", () => {
  const inv = parseInventoryIni(
    text(
      "[old]",
      "old1 ansible_ssh_host=10.0.0.1 ansible_ssh_port=2222 ansible_ssh_user=root",
      "old2 ansible_ssh_private_key_file=/keys/old2",
      "new1 ansible_private_key_file=/keys/new1",
      // Within one level the current name wins, whatever the order.
      "both ansible_host=new.example.com ansible_ssh_host=old.example.com",
      "both2 ansible_ssh_user=legacy ansible_user=current",
      "keys ansible_private_key_file=/keys/current ansible_ssh_private_key_file=/keys/legacy",
      "[old:vars]",
      "ansible_user=groupuser",
      "ansible_port=22",
      "[deep:children]",
      "old",
      "[deep:vars]",
      "ansible_ssh_port=2200",
    ),
    "hosts",
  );
  assert.deepStrictEqual(withoutPlaces(inv), {
    hosts: [
      { name: "old1", target: "ssh://root@10.0.0.1:2222" },
      { name: "old2", target: "ssh://groupuser@old2:22", identityFile: "/keys/old2" },
      { name: "new1", target: "ssh://groupuser@new1:22", identityFile: "/keys/new1" },
      { name: "both", target: "ssh://groupuser@new.example.com:22" },
      { name: "both2", target: "ssh://current@both2:22" },
      { name: "keys", target: "ssh://groupuser@keys:22", identityFile: "/keys/current" },
    ],
    groups: [
      { name: "old", hosts: ["old1", "old2", "new1", "both", "both2", "keys"], children: [] },
      { name: "deep", hosts: [], children: ["old"] },
    ],
  });
});

Deno.test("parseInventoryYaml() reads the legacy ansible_ssh_* names", () => {
  const inv = parseInventoryYaml(
    text(
      "all:",
      "  vars:",
      "    ansible_ssh_user: root",
      "  hosts:",
      "    old1:",
      "      ansible_ssh_host: 10.0.0.1",
      "      ansible_ssh_port: 2222",
      "      ansible_private_key_file: /keys/old1",
    ),
    "inventory.yaml",
  );
  assert.deepStrictEqual(withoutPlaces(inv), {
    hosts: [{ name: "old1", target: "ssh://root@10.0.0.1:2222", identityFile: "/keys/old1" }],
    groups: [],
  });
});

Deno.test("parseInventoryIni() applies all < shallower group < deeper group < host", () => {
  const inv = parseInventoryIni(
    text(
      // The child's vars come first in the file: depth decides, not file order.
      "[web:vars]",
      "ansible_user=webuser",
      "[all:vars]",
      "ansible_user=alluser",
      "ansible_port=2000",
      "ansible_host=everywhere.example.com",
      "[prod:vars]",
      "ansible_user=produser",
      "ansible_port=2001",
      "[prod:children]",
      "web",
      "[web]",
      "web1",
      "web2 ansible_user=hostuser",
      "[prod]",
      "app1",
      // Equal depth: "b" sorts after "a", so it wins; the host's vars win over both.
      "[a]",
      "ab1",
      "ab2 ansible_port=2999",
      "[b]",
      "ab1",
      "ab2",
      "[b:vars]",
      "ansible_port=2002",
      "[a:vars]",
      "ansible_port=2003",
      "[ungrouped]",
      "loner",
      "[ungrouped:vars]",
      "ansible_host=lonely.example.com",
      "[all]",
      "allonly ansible_user=",
    ),
    "hosts",
  );
  assert.deepStrictEqual(targets(inv), {
    web1: "ssh://webuser@everywhere.example.com:2001",
    web2: "ssh://hostuser@everywhere.example.com:2001",
    app1: "ssh://produser@everywhere.example.com:2001",
    ab1: "ssh://alluser@everywhere.example.com:2002",
    ab2: "ssh://alluser@everywhere.example.com:2999",
    loner: "ssh://alluser@lonely.example.com:2000",
    // Only in "all", so in "ungrouped" too; an empty value unsets the user.
    allonly: "ssh://lonely.example.com:2000",
  });
  assert.deepStrictEqual(inv.groups.map((g) => g.name), ["prod", "web", "a", "b"]);
});

Deno.test("parseInventoryYaml() applies the same precedence, and null unsets a value", () => {
  const inv = parseInventoryYaml(
    text(
      "all:",
      "  vars:",
      "    ansible_user: alluser",
      "  children:",
      "    prod:",
      "      vars:",
      "        ansible_user: produser",
      "        ansible_port: 2001",
      "      children:",
      "        web:",
      "          vars:",
      "            ansible_user: webuser",
      "          hosts:",
      "            web1:",
      "            web2:",
      "              ansible_user: null",
      "              ansible_port: '2200'",
    ),
    "inventory.yaml",
  );
  assert.deepStrictEqual(targets(inv), {
    web1: "ssh://webuser@web1:2001",
    web2: "ssh://web2:2200",
  });
});

Deno.test("parseInventoryIni() returns every group but all and ungrouped, each host once", () => {
  const inv = parseInventoryIni(
    text(
      "first",
      "[all:vars]",
      "ansible_user=ops",
      "[empty]",
      "[web]",
      "web1",
      "web1 ansible_port=2222",
      "shared",
      "[db]",
      "shared",
      "[all]",
      "web1",
      "[ungrouped]",
      "second",
      "[bare:children]",
    ),
    "hosts",
  );
  assert.deepStrictEqual(withoutPlaces(inv), {
    hosts: [
      { name: "first", target: "ssh://ops@first" },
      { name: "web1", target: "ssh://ops@web1:2222" },
      { name: "shared", target: "ssh://ops@shared" },
      { name: "second", target: "ssh://ops@second" },
    ],
    groups: [
      { name: "empty", hosts: [], children: [] },
      { name: "web", hosts: ["web1", "shared"], children: [] },
      { name: "db", hosts: ["shared"], children: [] },
      { name: "bare", hosts: [], children: [] },
    ],
  });
});

Deno.test("parseInventoryIni() reads comments, quotes, spaces around = and CRLF", () => {
  const inv = parseInventoryIni(
    [
      "; a comment",
      "  # an indented comment",
      "[web]  # trailing comment",
      `web1 ansible_user='deploy' ansible_ssh_private_key_file="/keys/my \\"web\\" key"  # note`,
      "web2 ansible_ssh_private_key_file=/keys/a\\ b",
      "[web:vars]",
      "ansible_port = 2222   # the web port",
      "ansible_host = 'shared.example.com'",
      '\tansible_private_key_file\t=\t"/keys/x # y"',
    ].join("\r\n"),
    "hosts",
  );
  assert.deepStrictEqual(withoutPlaces(inv), {
    hosts: [
      {
        name: "web1",
        target: "ssh://deploy@shared.example.com:2222",
        identityFile: '/keys/my "web" key',
      },
      { name: "web2", target: "ssh://shared.example.com:2222", identityFile: "/keys/a b" },
    ],
    groups: [{ name: "web", hosts: ["web1", "web2"], children: [] }],
  });
});

Deno.test("parseInventoryIni() names line:col and path of a bad port", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryIni(
        text(
          "web1 ansible_port=0",
          "web2:99999",
          "web3 ansible_ssh_port=22x",
          "[web:vars]",
          "ansible_port = 70000",
          "[web]",
        ),
        "inv.ini",
      )
    ),
    [
      'inv.ini:1:19: [ungrouped].web1.ansible_port: Invalid port "0": must be 1-65535',
      'inv.ini:2:6: [ungrouped].web2:99999: Invalid port "99999" in host "web2:99999": must be 1-65535',
      'inv.ini:3:23: [ungrouped].web3.ansible_ssh_port: Invalid port "22x": must be 1-65535',
      'inv.ini:5:16: [web:vars].ansible_port: Invalid port "70000": must be 1-65535',
    ],
  );
});

Deno.test("parseInventoryIni() reports a :children entry naming an undefined group", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryIni(
        text("[web]", "web1", "[prod:children]", "web", "  app", "[lonely:vars]", "a=1"),
        "inv.ini",
      )
    ),
    [
      'inv.ini:5:3: [prod:children].app: Child group "app" is not defined: ' +
      'add a "[app]" or "[app:children]" section',
      'inv.ini:6:1: [lonely:vars]: Group "lonely" is not defined: ' +
      'add a "[lonely]" or "[lonely:children]" section',
    ],
  );
});

Deno.test("parseInventoryIni() reports a cycle in children", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryIni(
        text(
          "[a:children]",
          "b",
          "[b:children]",
          "c",
          "[c:children]",
          "a",
          "[self:children]",
          "self",
          "[web:children]",
          "all",
        ),
        "inv.ini",
      )
    ),
    [
      'inv.ini:6:1: [c:children].a: Cycle in group children: "a" → "b" → "c" → "a"',
      'inv.ini:8:1: [self:children].self: Cycle in group children: "self" → "self"',
      'inv.ini:10:1: [web:children].all: Group "all" cannot be a child of "web": ' +
      'every group is in "all"',
    ],
  );
});

Deno.test("parseInventoryIni() reports a malformed section header", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryIni(
        text("[web", "skipped ansible_port=0", "  [web] extra", "[]", "[a b]", "[web:host]", "x"),
        "inv.ini",
      )
    ),
    [
      'inv.ini:1:1: Malformed section header "[web": ' +
      'expected "[group]", "[group:vars]" or "[group:children]"',
      'inv.ini:3:3: Malformed section header "[web] extra": ' +
      'expected "[group]", "[group:vars]" or "[group:children]"',
      'inv.ini:4:1: Malformed section header "[]": ' +
      'expected "[group]", "[group:vars]" or "[group:children]"',
      'inv.ini:5:1: Malformed section header "[a b]": ' +
      'expected "[group]", "[group:vars]" or "[group:children]"',
      'inv.ini:6:1: [web:host]: Unknown section type "host" in "[web:host]": ' +
      'expected "vars" or "children"',
    ],
  );
});

Deno.test("parseInventoryIni() reports a malformed key=value", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryIni(
        text(
          "ansible_port=22",
          "web1 ansible_port",
          "web2 ok=1 =x 9a=1",
          "[web:vars]",
          "  ansible_port 22",
          "=1",
          "[web:children]",
          "a b",
          "[web]",
        ),
        "inv.ini",
      )
    ),
    [
      'inv.ini:1:1: [ungrouped].ansible_port=22: Expected a host name, got "ansible_port=22": ' +
      'put variables after a host name or in a "[group:vars]" section',
      'inv.ini:2:6: [ungrouped].web1: Malformed host variable "ansible_port": expected "key=value"',
      'inv.ini:3:11: [ungrouped].web2: Malformed host variable "=x": expected "key=value"',
      'inv.ini:3:14: [ungrouped].web2: Malformed host variable "9a=1": expected "key=value"',
      'inv.ini:5:3: [web:vars]: Malformed variable "ansible_port 22": expected "key=value"',
      'inv.ini:6:1: [web:vars]: Malformed variable "=1": expected "key=value"',
      'inv.ini:8:1: [web:children]: Malformed child group "a b": ' +
      "expected one group name on the line",
    ],
  );
});

Deno.test("parseInventoryIni() reports an unterminated quote", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryIni(
        text(
          'web1 ansible_user="deploy',
          "web2 ansible_user='deploy",
          "[all:vars]",
          'ansible_user = "ops',
          "ansible_host='a' b",
        ),
        "inv.ini",
      )
    ),
    [
      "inv.ini:1:19: [ungrouped]: Unterminated double quote: add the closing double quote",
      "inv.ini:2:19: [ungrouped]: Unterminated single quote: add the closing single quote",
      "inv.ini:4:16: [all:vars].ansible_user: Unterminated double quote: " +
      "add the closing double quote",
      'inv.ini:5:18: [all:vars].ansible_host: Unexpected text "b" after a quoted value',
    ],
  );
});

Deno.test("parseInventoryIni() reports a bad range", () => {
  const lines = errorLines(() =>
    parseInventoryIni(
      text(
        "web[1:3",
        "web]1[",
        "web[3:1]",
        "web[1:2:0]",
        "web[01:100]",
        "web[a:3]",
        "web[1]",
        "web[c:a]",
        "web[0:99999]",
        "x-[1:200]-[1:200]",
        "ok[1:2][3",
      ),
      "inv.ini",
    )
  );
  assert.deepStrictEqual(lines, [
    'inv.ini:1:4: [ungrouped].web[1:3: Unclosed "[" in host pattern "web[1:3"',
    'inv.ini:2:4: [ungrouped].web]1[: Unbalanced "]" in host pattern "web]1["',
    'inv.ini:3:4: [ungrouped].web[3:1]: Invalid range "[3:1]": begin must not be greater than end',
    'inv.ini:4:4: [ungrouped].web[1:2:0]: Invalid range "[1:2:0]": ' +
    "the step must be a whole number from 1",
    'inv.ini:5:4: [ungrouped].web[01:100]: Invalid range "[01:100]": ' +
    "with leading zeros, begin and end must have as many digits",
    'inv.ini:6:4: [ungrouped].web[a:3]: Invalid range "[a:3]": ' +
    "begin and end must both be numbers or both single letters",
    'inv.ini:7:4: [ungrouped].web[1]: Invalid range "[1]": ' +
    'expected "[begin:end]" or "[begin:end:step]"',
    'inv.ini:8:4: [ungrouped].web[c:a]: Invalid range "[c:a]": begin must not come after end',
    'inv.ini:9:4: [ungrouped].web[0:99999]: Invalid range "[0:99999]": ' +
    "expands to more than 10000 names",
    'inv.ini:10:3: [ungrouped].x-[1:200]-[1:200]: Host pattern "x-[1:200]-[1:200]" ' +
    "expands to more than 10000 names",
    'inv.ini:11:8: [ungrouped].ok[1:2][3: Unclosed "[" in host pattern "ok[1:2][3"',
  ]);
});

Deno.test("parseInventoryIni() reports a host whose target yonder rejects, at the variable", () => {
  const lines = errorLines(() =>
    parseInventoryIni(
      text(
        'spaced ansible_host="a b"',
        "bad_name!",
        "[web]",
        "web1",
        "web2",
        "[web:vars]",
        "ansible_user=a;b",
      ),
      "inv.ini",
    )
  );
  assert.equal(lines.length, 4);
  assert.match(
    lines[0]!,
    /^inv\.ini:1:21: \[ungrouped\]\.spaced\.ansible_host: Host "spaced": Invalid host "a b"/,
  );
  assert.match(
    lines[1]!,
    /^inv\.ini:2:1: \[ungrouped\]\.bad_name!: Host "bad_name!": Invalid character "!"/,
  );
  assert.match(lines[2]!, /^inv\.ini:7:14: \[web:vars\]\.ansible_user: Host "web1": .*";"/);
  assert.match(lines[3]!, /^inv\.ini:7:14: \[web:vars\]\.ansible_user: Host "web2": .*";"/);
});

Deno.test("parseInventoryIni() collects every issue in one ConfigError, in file order", () => {
  const e = configError(() =>
    parseInventoryIni(
      text("[web", "[db:children]", "nope", "[db]", "db1 ansible_port=0"),
      "inv.ini",
    )
  );
  assert.deepStrictEqual(e.issues.map((i) => [i.line, i.col, i.path]), [
    [1, 1, ""],
    [3, 1, "[db:children].nope"],
    [5, 18, "[db].db1.ansible_port"],
  ]);
  assert.equal(e.issues[0]!.file, "inv.ini");
});

Deno.test("parseInventoryYaml() reports nodes of the wrong type with their path", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryYaml(
        text(
          "all:",
          "  hosts: [web1, web2]",
          "  children:",
          "    web:",
          "      hosts:",
          "        web1: deploy@web1",
          "      vars: [a]",
          "      host:",
          "    db: just text",
          "    app:",
          "      children: [web]",
          "    ops:",
          "      hosts:",
          "        ops1:",
          "          ansible_user: [a]",
          "          ansible_port: true",
        ),
        "inv.yaml",
      )
    ),
    [
      "inv.yaml:2:10: all.hosts: Expected a map of host names, got a list",
      'inv.yaml:6:15: all.children.web.hosts.web1: Expected a map of variables, got a string ("deploy@web1")',
      "inv.yaml:7:13: all.children.web.vars: Expected a map of variables, got a list",
      'inv.yaml:8:7: all.children.web.host: Unknown key "host" in group "web": ' +
      'expected "hosts", "vars" or "children"',
      'inv.yaml:9:9: all.children.db: Expected a map with "hosts", "vars" or "children", ' +
      'got a string ("just text")',
      "inv.yaml:11:17: all.children.app.children: Expected a map of group names, got a list",
      'inv.yaml:15:25: all.children.ops.hosts.ops1.ansible_user: Expected a string for "ansible_user", ' +
      "got a list",
      "inv.yaml:16:25: all.children.ops.hosts.ops1.ansible_port: Expected a port from 1 to 65535, " +
      'got a boolean ("true")',
    ],
  );
  assert.deepStrictEqual(
    errorLines(() => parseInventoryYaml("- web1\n- web2\n", "list.yaml")),
    ['list.yaml:1:1: Expected a map of groups (such as "all"), got a list'],
  );
});

Deno.test("parseInventoryYaml() names line:col and the dotted path of a bad port, range or cycle", () => {
  assert.deepStrictEqual(
    errorLines(() =>
      parseInventoryYaml(
        text(
          "all:",
          "  children:",
          "    web:",
          "      hosts:",
          "        web1:",
          "          ansible_port: 70000",
          "        web[3:1]:",
          "        10.0.0.1:0:",
          "      vars:",
          "        ansible_ssh_port: '0'",
          "    a:",
          "      children:",
          "        b:",
          "          children:",
          "            a:",
          "            all:",
        ),
        "inv.yaml",
      )
    ),
    [
      'inv.yaml:6:25: all.children.web.hosts.web1.ansible_port: Invalid port "70000": must be 1-65535',
      'inv.yaml:7:9: all.children.web.hosts["web[3:1]"]: Invalid range "[3:1]": ' +
      "begin must not be greater than end",
      'inv.yaml:8:9: all.children.web.hosts["10.0.0.1:0"]: Invalid port "0" in host "10.0.0.1:0": ' +
      "must be 1-65535",
      'inv.yaml:10:27: all.children.web.vars.ansible_ssh_port: Invalid port "0": must be 1-65535',
      'inv.yaml:15:13: all.children.a.children.b.children.a: Cycle in group children: "a" → "b" → "a"',
      'inv.yaml:16:13: all.children.a.children.b.children.all: Group "all" cannot be a child of "b": ' +
      'every group is in "all"',
    ],
  );
});

Deno.test("parseInventoryYaml() reports a host whose target yonder rejects, at the variable", () => {
  const lines = errorLines(() =>
    parseInventoryYaml(
      text("web:", "  hosts:", "    web1:", "      ansible_host: -oProxyCommand=x"),
      "inv.yaml",
    )
  );
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^inv\.yaml:4:21: web\.hosts\.web1\.ansible_host: Host "web1": Invalid host "-oProxyCommand=x"/,
  );
});

Deno.test("parseInventoryYaml() passes on YAML syntax errors with their place", () => {
  const e = configError(() => parseInventoryYaml("all:\n  hosts: [a\n", "inv.yaml"));
  assert.equal(e.issues.length > 0, true);
  assert.equal(e.issues[0]!.file, "inv.yaml");
  assert.match(e.issues[0]!.message, /^YAML: /);
});

Deno.test("parseInventoryYaml() reads an empty file as an empty inventory", () => {
  assert.deepStrictEqual(parseInventoryYaml("# nothing yet\n", "inv.yaml"), {
    hosts: [],
    groups: [],
  });
  assert.deepStrictEqual(parseInventoryIni("", "hosts"), { hosts: [], groups: [] });
});

Deno.test("parseInventory() picks the format by extension, name or content", () => {
  const ini = "[web]\nweb1 ansible_port=2222\n";
  const yaml = "web:\n  hosts:\n    web1:\n      ansible_port: 2222\n";
  const model = withoutPlaces(parseInventoryIni(ini, "x"));
  for (const file of ["hosts", "inventory/hosts", "prod.ini", "prod", "C:\\inv\\PROD.INI"]) {
    assert.deepStrictEqual(withoutPlaces(parseInventory(ini, file)), model, file);
  }
  for (const file of ["inventory.yaml", "inventory/prod.yml", "PROD.YAML"]) {
    assert.deepStrictEqual(withoutPlaces(parseInventory(yaml, file)), model, file);
  }
  // Any other name: sniffed.
  assert.deepStrictEqual(withoutPlaces(parseInventory(ini, "prod.txt")), model);
  assert.deepStrictEqual(withoutPlaces(parseInventory(yaml, "prod.txt")), model);
  // The name wins over the content.
  configError(() => parseInventory(ini, "prod.yaml"));
});
