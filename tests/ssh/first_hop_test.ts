import assert from "node:assert/strict";
import { allowsDirectLine, FIRST_HOP, hopPreambleText } from "../../lib/posix/first_hop.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

Deno.test("the first hop is one single-quoted word no login shell reads differently", () => {
  assert.doesNotMatch(FIRST_HOP, /[\\!\n\r]/);
  assert.equal(FIRST_HOP.split("'").length - 1, 2, "exactly one pair of single quotes");
  assert.match(FIRST_HOP, /^exec \/bin\/sh -c '[^']+'$/);
});

Deno.test("a one-line script is line 2; a script with a newline comes with a loader and terminator", () => {
  const one = hopPreambleText("echo one", "ab".repeat(16)).split("\n");
  assert.deepEqual(one.slice(1), ["echo one", ""]);
  const two = hopPreambleText("echo 'a\nb'", "ab".repeat(16)).split("\n");
  assert.match(two[1]!, /^yn=/);
  assert.deepEqual(two.slice(2), ["echo 'a", "b'", `:yonder-end-${"ab".repeat(16)}`, ""]);
});

Deno.test("allowsDirectLine: only a POSIX login shell the server made a group leader", () => {
  assert.equal(allowsDirectLine("1:/bin/bash"), true);
  assert.equal(allowsDirectLine("1:/bin/dash"), true);
  assert.equal(allowsDirectLine("1:/bin/sh"), true);
  assert.equal(allowsDirectLine("1:/bin/ash"), true);
  assert.equal(allowsDirectLine("0:/bin/bash"), false, "Dropbear: the hop makes the group");
  assert.equal(allowsDirectLine("1:/usr/bin/fish"), false);
  assert.equal(allowsDirectLine("1:/usr/bin/tcsh"), false);
  assert.equal(allowsDirectLine("1:/usr/bin/zsh"), false);
  assert.equal(allowsDirectLine("1:"), false);
  assert.equal(allowsDirectLine(""), false);
});

liveSshTest(
  "after one call shows a bash login shell, calls skip the first hop (env values never do)",
  async () => {
    await using host = await openLiveHost();
    await using env = await SshEnvironment.open(host.target, { ...host.connect, session: false });
    const parent = async (opts = {}) => {
      const r = await env.exec(["sh", "-c", "ps -o args= -p $PPID"], opts);
      return new TextDecoder().decode(r.stdout).trim();
    };
    assert.match(await parent(), /^\/bin\/sh -c IFS= read -r y && eval "\$y"$/, "the first call");
    if (host.kind === "native") assert.match(await parent(), /^bash -c exec 3>&2 /, "a later call");
    assert.match(await parent({ env: { YONDER_T: "secret" } }), /^\/bin\/sh -c IFS= read -r y/);
  },
);
