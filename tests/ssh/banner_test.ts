import assert from "node:assert/strict";
import { describeBanner, readServerBanner } from "../../lib/ssh/banner.ts";
import { shellFamily } from "../../lib/cli/check.ts";
import { parseTarget } from "../../lib/core/target.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

Deno.test("describeBanner names OpenSSH and Dropbear with their versions", () => {
  assert.equal(
    describeBanner("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
    "OpenSSH 9.2p1 (Debian-2+deb12u3)",
  );
  assert.equal(describeBanner("SSH-2.0-dropbear_2022.83"), "Dropbear 2022.83");
  assert.equal(describeBanner("SSH-2.0-Go"), "Go");
  assert.equal(describeBanner("not a banner"), "not a banner");
});

Deno.test("shellFamily sorts login shells into POSIX, fish and csh", () => {
  for (const s of ["/bin/sh", "/bin/bash", "/bin/dash", "/bin/ash", "/usr/bin/zsh", "/bin/ksh"]) {
    assert.equal(shellFamily(s), "POSIX", s);
  }
  assert.equal(shellFamily("/usr/bin/fish"), "fish");
  assert.equal(shellFamily("/bin/tcsh"), "csh");
  assert.equal(shellFamily("/bin/csh"), "csh");
  assert.equal(shellFamily("/usr/bin/nu"), "unknown");
});

liveSshTest(
  "readServerBanner reads the fixture's OpenSSH banner; a closed port is a reason",
  async () => {
    await using host = await openLiveHost();
    const r = await readServerBanner(parseTarget(host.target), host.connect);
    assert.ok("banner" in r, JSON.stringify(r));
    assert.match(describeBanner(r.banner), /^OpenSSH \d/);
    const closed = await readServerBanner(parseTarget("ssh://nobody@127.0.0.1:1"), {});
    assert.ok("reason" in closed && /127\.0\.0\.1:1/.test(closed.reason), JSON.stringify(closed));
    const jumped = await readServerBanner(parseTarget(host.target), { jump: "bastion.invalid" });
    assert.ok("reason" in jumped && /through/.test(jumped.reason), JSON.stringify(jumped));
  },
);
