/**
 * A one-shot call rides on the master's own session; a caller whose output callback holds the
 * reader back still gets every byte, also when the master has exited meanwhile (its last output
 * then waits in the pipe).
 */
import assert from "node:assert/strict";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";

liveSshTest("a carried call with a slow output callback loses nothing at its end", async () => {
  await using host = await openLiveHost();
  for (let round = 0; round < 3; round++) {
    await using env = await SshEnvironment.open(host.target, { ...host.connect, oneShot: true });
    let got = 0;
    const n = 3_000_000 + round * 77_777;
    const r = await env.exec(["head", "-c", String(n), "/dev/zero"], {
      maxOutputBytes: 0,
      onStdout: (c) => {
        got += c.length;
        // A slow reader: the remote side is long done while this still reads.
        return new Promise((res) => setTimeout(res, 2));
      },
    });
    assert.equal(r.code, 0);
    assert.equal(got, n, `round ${round}: ${n - got} bytes lost`);
  }
});
