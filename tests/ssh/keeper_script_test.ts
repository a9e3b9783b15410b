/**
 * The keeper's script, run here in the local bash and dash as a remote shell would run it: the
 * requests that reach it at once, in the same write as its first, are all served.
 */

import assert from "node:assert/strict";
import { keeperCommand, keeperScript } from "../../lib/ssh/keeper.ts";
import { newNonce } from "../../lib/posix/frames.ts";

/** A process in a group of its own (`setsid`), and its pgid. */
async function victim(): Promise<{ pgid: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", "echo $$; exec sleep 30"],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  await child.stdout.cancel();
  return { pgid: Number(new TextDecoder().decode(value).trim()), child };
}

async function keeperKills(argv: string[]): Promise<void> {
  const { pgid, child: target } = await victim();
  const keeper = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = keeper.stdin.getWriter();
  // Watch, forget, watch again and kill: all in the first write, before the shell even starts.
  await writer.write(new TextEncoder().encode(`h\nw ${pgid}\nu ${pgid}\nw ${pgid}\nk ${pgid}\n`));
  let out = "";
  const reader = keeper.stdout.getReader();
  const deadline = setTimeout(() => keeper.kill("SIGKILL"), 10_000);
  try {
    while (!out.includes(`killed:${pgid}`)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
  assert.match(out, /ready:/, `the keeper never said ready: ${JSON.stringify(out)}`);
  assert.match(
    out,
    new RegExp(`killed:${pgid}`),
    `the kill was not confirmed: ${JSON.stringify(out)}`,
  );
  const status = await target.status;
  assert.equal(status.signal, "SIGTERM");
  await writer.close();
  assert.equal((await keeper.status).code, 0);
  await keeper.stdout.cancel().catch(() => {});
}

for (const shell of ["bash", "dash"]) {
  Deno.test({
    name: `keeper script in ${shell}: requests sent with the start are served`,
    ignore: !["/bin", "/usr/bin"].some((d) => {
      try {
        return Deno.statSync(`${d}/${shell}`).isFile;
      } catch {
        return false;
      }
    }),
    fn: () => keeperKills([shell, "-c", keeperScript(newNonce())]),
  });
}

Deno.test("keeper command: what the login shell is given runs the script", async () => {
  await keeperKills(["sh", "-c", keeperCommand(keeperScript(newNonce()))]);
});

Deno.test("keeper script: a watched session shell that died has its directory removed", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "yonder-tmp-" });
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  await Deno.mkdir(`${tmp}/yonder-s.${gone.pid}.abcdef`);
  // A live "session shell" of the keeper's: a sleep in a group of its own.
  const { pgid: live, child: liveChild } = await victim();
  await Deno.mkdir(`${tmp}/yonder-s.${live}.ghijkl`);
  const keeper = new Deno.Command("sh", {
    args: ["-c", keeperCommand(keeperScript(newNonce()))],
    env: { TMPDIR: tmp },
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const writer = keeper.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(`s ${gone.pid}\ns ${live}\nh\n`));
    let names: string[] = [];
    for (let i = 0; i < 50; i++) {
      names = [];
      for await (const e of Deno.readDir(tmp)) names.push(e.name);
      if (names.length === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(names, [`yonder-s.${live}.ghijkl`]);
  } finally {
    // The keeper's stdin closes: it stops the live one, as it would a session of a client gone.
    await writer.close();
    await keeper.status;
    assert.equal((await liveChild.status).signal, "SIGTERM");
    await Deno.remove(tmp, { recursive: true });
  }
});
