/** Approval requests on disk: expiry, one use, the very call only, only as filed. */
import assert from "node:assert/strict";
import {
  APPROVAL_TTL_MS,
  fileRequest,
  grant,
  pending,
  readRequest,
  takeApproval,
} from "../../lib/cli/mcp/approvals.ts";

const CALL = {
  host: "box",
  command: ["touch", "/tmp/x"],
  cwd: null,
  env: [],
  input_sha256: "a",
  stdin_bytes: 0,
};

Deno.test("approvals: expire, are used once, and approve only the call filed", async () => {
  const runtime = await Deno.makeTempDir({ prefix: "yonder-approvals-" });
  await Deno.chmod(runtime, 0o700);
  const old = Deno.env.get("XDG_RUNTIME_DIR");
  Deno.env.set("XDG_RUNTIME_DIR", runtime);
  try {
    // Filed 16 minutes ago: gone.
    const stale = await fileRequest(
      { ...CALL, rule: "r", reason: "x" },
      Date.now() - APPROVAL_TTL_MS - 60_000,
    );
    assert.equal(await readRequest(stale.id), null);
    assert.deepEqual(await pending(), []);
    // Not approved yet: nothing.
    const req = await fileRequest({ ...CALL, rule: "r", reason: "x" });
    assert.equal(await takeApproval(req.id, CALL, req), false);
    // Granted only as shown.
    assert.equal(await grant(req.id, { ...req, command: ["rm", "-rf", "/"] }), false);
    assert.equal(await grant(req.id, req), true);
    // Another call, other input, or a request this server did not file: no.
    assert.equal(await takeApproval(req.id, { ...CALL, command: ["touch", "/tmp/y"] }, req), false);
    assert.equal(await takeApproval(req.id, { ...CALL, input_sha256: "b" }, req), false);
    assert.equal(await takeApproval(req.id, CALL, undefined), false);
    // The call itself: once.
    assert.equal(await takeApproval(req.id, CALL, req), true);
    assert.equal(await takeApproval(req.id, CALL, req), false);
  } finally {
    if (old === undefined) Deno.env.delete("XDG_RUNTIME_DIR");
    else Deno.env.set("XDG_RUNTIME_DIR", old);
    await Deno.remove(runtime, { recursive: true });
  }
});
