import assert from "node:assert/strict";
import { formatBytes, Progress, progressLine } from "../../lib/cli/_progress.ts";
import type { Io } from "../../lib/cli/_common.ts";

Deno.test("progressLine() shows bytes, files, rate and ETA", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  const line = progressLine(
    { bytes: 32 * 1048576, totalBytes: 64 * 1048576, files: 3, totalFiles: 9 },
    2000,
  );
  assert.equal(line, "32.0 MiB / 64.0 MiB  3/9 files  16.0 MiB/s  ETA 2 s");
});

function io(terminal: boolean): Io & { err: string[] } {
  const err: string[] = [];
  return {
    err,
    stdout: () => Promise.resolve(),
    stderr: (b) => {
      err.push(new TextDecoder().decode(b));
      return Promise.resolve();
    },
    env: () => undefined,
    stdin: () => new Blob([]).stream(),
    onSignal: () => () => {},
    stderrIsTerminal: () => terminal,
  };
}

Deno.test("Progress draws only on a terminal and only after the delay", async () => {
  const quiet = io(false);
  const p1 = new Progress(quiet, 0);
  p1.update({ bytes: 10 });
  await new Promise((r) => setTimeout(r, 300));
  await p1.stop();
  assert.deepEqual(quiet.err, []);

  const tty = io(true);
  const p2 = new Progress(tty, 0);
  p2.update({ bytes: 2048, totalBytes: 4096 });
  await new Promise((r) => setTimeout(r, 300));
  await p2.stop();
  assert.ok(tty.err[0]!.startsWith("\r\x1b[2K2.0 KiB / 4.0 KiB"), JSON.stringify(tty.err[0]));
  assert.equal(tty.err.at(-1), "\r\x1b[2K");

  const fast = io(true);
  const p3 = new Progress(fast, 1000);
  p3.update({ bytes: 1 });
  await new Promise((r) => setTimeout(r, 300));
  await p3.stop();
  assert.deepEqual(fast.err, [], "nothing for a transfer shorter than the delay");
});
