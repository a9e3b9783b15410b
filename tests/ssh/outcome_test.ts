/** The verdict on a finished call, table-driven: every way an ssh client's call can end. */
import assert from "node:assert/strict";
import { type CallFacts, classify, needs, type Verdict } from "../../lib/ssh/outcome.ts";
import { NO_MASTER_SENTINEL } from "../../lib/ssh/options.ts";

const base: CallFacts = {
  path: "channel",
  cwd: null,
  killedBy: null,
  exit: null,
  pgid: null,
  sshCode: 255,
  stderrTail: "",
};
const refused = Object.assign(new Error("refused"), { name: "SshConnectError" });

const cases: [string, Partial<CallFacts>, Verdict][] = [
  ["the wrapper reported an exit status", { exit: 3, pgid: 10, sshCode: 0 }, {
    kind: "exit",
    code: 3,
  }],
  ["exit 255 of the command is a result, not a connection error", {
    exit: 255,
    pgid: 10,
    sshCode: 255,
  }, { kind: "exit", code: 255 }],
  ["a working directory that cannot be entered", { cwd: "notfound", exit: 1, pgid: 10 }, {
    kind: "cwd",
    cwd: "notfound",
  }],
  ["stopped by the timeout before the status came", { killedBy: "timeout", pgid: 10 }, {
    kind: "stopped",
    reason: "timeout",
  }],
  ["stopped by an abort", { killedBy: "abort" }, { kind: "stopped", reason: "abort" }],
  ["the master socket was gone: the channel never opened", {
    stderrTail: `x\n${NO_MASTER_SENTINEL}\n`,
  }, { kind: "retry", error: null }],
  ["sshd refused the session (MaxSessions)", {
    stderrTail: "channel 2: open failed: administratively prohibited",
  }, { kind: "retry", error: null }],
  ["a refused session after the command started is not retried", {
    pgid: 10,
    stderrTail: "open failed",
    masterAlive: true,
    sshCode: 137,
  }, { kind: "exit", code: 137 }],
  ["the master died while the command ran", {
    pgid: 10,
    masterAlive: false,
    stderrTail: "Broken pipe",
  }, { kind: "lost", stderrTail: "Broken pipe" }],
  [
    "the wrapper was killed (kill -9 0): ssh's code",
    { pgid: 10, masterAlive: true, sshCode: 137 },
    {
      kind: "exit",
      code: 137,
    },
  ],
  ["no frame at all and the master is fine: the shell did not run it", {
    masterAlive: true,
    sshCode: 127,
  }, { kind: "no-shell" }],
  ["direct: ssh 255 before any frame is a connect error", { path: "direct", sshCode: 255 }, {
    kind: "connect",
  }],
  ["direct: a killed wrapper", { path: "direct", pgid: 10, sshCode: 143 }, {
    kind: "exit",
    code: 143,
  }],
  ["direct: another code before any frame", { path: "direct", sshCode: 1 }, { kind: "no-shell" }],
  ["carried: the master could not connect, for a reason that passes", {
    path: "carried",
    carrierFailure: refused,
    transientCarrierFailure: true,
  }, { kind: "retry", error: refused }],
  ["carried: the master could not connect, for good", {
    path: "carried",
    carrierFailure: refused,
    transientCarrierFailure: false,
  }, { kind: "fail", error: refused }],
  ["carried: nothing known of the failure", { path: "carried", carrierFailure: null }, {
    kind: "no-shell",
  }],
  ["carried: the master logged a problem while the command ran", {
    path: "carried",
    pgid: 10,
    masterLog: "Connection reset",
    sshCode: -1,
  }, { kind: "lost", stderrTail: "Connection reset" }],
  ["carried: the session closed without a status (kill -9 0)", {
    path: "carried",
    pgid: 10,
    masterLog: "",
    sshCode: -1,
  }, { kind: "exit", code: 255 }],
];

for (const [name, facts, want] of cases) {
  Deno.test(`classify: ${name}`, () => {
    assert.deepEqual(classify({ ...base, ...facts }), want);
  });
}

Deno.test("needs: the master is asked only where the client's facts cannot tell", () => {
  const none = { carrierFailure: false, masterLog: false, masterAlive: false };
  assert.deepEqual(needs({ ...base, exit: 0, pgid: 1 }), none);
  assert.deepEqual(needs({ ...base, killedBy: "abort" }), none);
  assert.deepEqual(needs({ ...base, stderrTail: NO_MASTER_SENTINEL }), none);
  assert.deepEqual(needs({ ...base, pgid: 1 }), { ...none, masterAlive: true });
  assert.deepEqual(needs({ ...base, path: "direct" }), none);
  assert.deepEqual(needs({ ...base, path: "carried" }), { ...none, carrierFailure: true });
  assert.deepEqual(needs({ ...base, path: "carried", pgid: 1 }), { ...none, masterLog: true });
});
