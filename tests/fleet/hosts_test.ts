/** Host lists and ranges for fan-out, folding them back, and how a fan-out's ends add up. */
import assert from "node:assert/strict";
import { expandHosts, foldHosts } from "../../lib/fleet/hosts.ts";
import { gatherResults, Tally } from "../../lib/cli/fleet.ts";
import { SshConnectError } from "../../lib/core/errors.ts";
import { PolicyRefused } from "../../lib/core/policy.ts";

Deno.test("expandHosts: lists, numeric and letter ranges, padding, several brackets, IPv6 kept", () => {
  assert.deepEqual(expandHosts("web[1-3],db1"), ["web1", "web2", "web3", "db1"]);
  assert.deepEqual(expandHosts("web[01-03]"), ["web01", "web02", "web03"]);
  assert.deepEqual(expandHosts("node[1-2,7]"), ["node1", "node2", "node7"]);
  assert.deepEqual(expandHosts("r[a-b]n[1-2]"), ["ran1", "ran2", "rbn1", "rbn2"]);
  assert.deepEqual(expandHosts("deploy@web[1-2].example.com:2222"), [
    "deploy@web1.example.com:2222",
    "deploy@web2.example.com:2222",
  ]);
  assert.deepEqual(expandHosts("[::1]:22"), ["[::1]:22"]);
  assert.deepEqual(expandHosts("ssh://u@[2001:db8::1]:22/srv"), ["ssh://u@[2001:db8::1]:22/srv"]);
  assert.deepEqual(expandHosts("a, b ,a"), ["a", "b"]);
  assert.throws(() => expandHosts("a,,b"), /empty name/);
  assert.throws(() => expandHosts("web[3-1]"), /runs backwards/);
  assert.throws(() => expandHosts("web[1-99999]"), /too long/);
});

Deno.test("foldHosts: shared prefix and suffix fold into ranges; padding kept apart", () => {
  assert.equal(foldHosts(["web1", "web2", "web3", "web5", "db"]), "db,web[1-3,5]");
  assert.equal(foldHosts(["web01", "web02", "web03"]), "web[01-03]");
  assert.equal(foldHosts(["n1.x", "n2.x", "n3.y"]), "n3.y,n[1-2].x");
  assert.equal(foldHosts(["web10", "web9", "web11"]), "web[9-11]");
  assert.equal(foldHosts(["solo"]), "solo");
  assert.equal(foldHosts(["a7"]), "a7");
});

Deno.test("Tally: the exit status is the worst host's; 255 only when nothing else failed", () => {
  const r = (code: number, timedOut = false) => ({
    code,
    signal: null,
    stdout: new Uint8Array(),
    stderr: new Uint8Array(),
    timedOut,
    truncated: false,
    durationMs: 1,
  });
  const t = new Tally();
  t.result("a", r(0));
  assert.equal(t.exitCode(), 0);
  t.error(
    "db2",
    new SshConnectError({ kind: "refused", host: "db2", message: "Connection refused" }),
  );
  assert.equal(t.exitCode(), 255);
  t.result("web7", r(1));
  t.result("web8", r(124, true));
  assert.equal(t.exitCode(), 124);
  t.error("web9", new PolicyRefused({ decision: "deny", rule: "r", reason: "no" }));
  assert.equal(t.exitCode(), 124);
  assert.equal(
    t.line(),
    "ok 1 · failed 3 (web7: rc 1, web8: timed out, web9: refused: r: no) · " +
      "unreachable 1 (db2: refused) · timed out 1",
  );
  const groups = gatherResults([
    { host: "web1", code: 0, stdout: new Uint8Array([1]), stderr: new Uint8Array() },
    { host: "web3", code: 0, stdout: new Uint8Array([2]), stderr: new Uint8Array() },
    { host: "web2", code: 0, stdout: new Uint8Array([1]), stderr: new Uint8Array() },
  ]);
  assert.deepEqual(groups.map((g) => g.hosts), [["web1", "web2"], ["web3"]]);
});
