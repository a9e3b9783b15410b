import assert from "node:assert/strict";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { NoSpace, NotFound, PermissionDenied } from "../../lib/core/errors.ts";
import { liveSshTest, openLiveHost } from "../_live.ts";
import { fileContract, randomBytes, sha256 } from "../_files_contract.ts";

/** A fresh remote scratch directory (removed by the caller). */
async function remoteTemp(host: { remote(s: string): Promise<{ code: number; stdout: string }> }) {
  const r = await host.remote('mktemp -d "$HOME/yonder-files-XXXXXX"');
  assert.equal(r.code, 0);
  return r.stdout.trim();
}

liveSshTest("files SshEnvironment meets the file contract", async (t) => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempDir({ prefix: "yonder-files-local-" });
  try {
    await using env = await SshEnvironment.open(host.target, { ...host.connect });
    await fileContract(t, env, root, local);
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(local, { recursive: true });
  }
});

liveSshTest("files 64 MiB round-trips with equal sha256 both ways", async () => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempDir({ prefix: "yonder-files-local-" });
  try {
    await using env = await SshEnvironment.open(host.target, { ...host.connect });
    const data = randomBytes(64 * 1024 * 1024);
    const src = `${local}/big`;
    await Deno.writeFile(src, data);
    assert.equal(await env.upload(src, `${root}/big`), data.length);
    const remoteSum = await host.remote(`sha256sum '${root}/big'`);
    assert.equal(remoteSum.stdout.split(" ")[0], sha256(data));
    assert.equal(await env.download(`${root}/big`, `${local}/back`), data.length);
    assert.equal(sha256(await Deno.readFile(`${local}/back`)), sha256(data));
    assert.equal(sha256(await env.readFile(`${root}/big`)), sha256(data));
    // Replacing existing files both ways (blocks reserved first); a smaller file ends where it
    // should and keeps no reserved blocks past its end.
    assert.equal(await env.upload(src, `${root}/big`), data.length);
    assert.equal((await host.remote(`sha256sum '${root}/big'`)).stdout.split(" ")[0], sha256(data));
    const small = data.subarray(0, 5 * 1024 * 1024 + 7);
    await Deno.writeFile(`${local}/small`, small);
    assert.equal(await env.upload(`${local}/small`, `${root}/big`), small.length);
    assert.equal(await env.download(`${root}/big`, `${local}/back`), small.length);
    assert.equal(sha256(await Deno.readFile(`${local}/back`)), sha256(small));
    const st = await Deno.stat(`${local}/back`);
    if (st.blocks !== null) assert.ok(st.blocks * 512 < small.length + 1024 * 1024, `${st.blocks}`);
    assert.deepEqual(
      [...Deno.readDirSync(local)].map((e) => e.name).sort(),
      ["back", "big", "small"],
    );
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(local, { recursive: true });
  }
});

liveSshTest("files reading and writing where the user may not is PermissionDenied", async () => {
  await using host = await openLiveHost();
  const who = await host.remote("id -u");
  if (who.stdout.trim() === "0") return; // root may write anywhere: nothing to deny
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  await assert.rejects(env.writeFile("/root/yonder-denied", "x"), PermissionDenied);
  await assert.rejects(env.writeFile("/etc/yonder-denied", "x"), PermissionDenied);
  await assert.rejects(env.readFile("/etc/shadow"), PermissionDenied);
  await assert.rejects(env.readFile("/root/nothing/here"), PermissionDenied);
  await assert.rejects(env.readFile("/nonexistent-yonder/x"), NotFound);
});

liveSshTest("files ~ and relative paths resolve in the remote home", async () => {
  await using host = await openLiveHost();
  await using env = await SshEnvironment.open(host.target, { ...host.connect });
  await env.writeFile("~/yonder-home-test", "home");
  try {
    assert.equal(new TextDecoder().decode(await env.readFile("yonder-home-test")), "home");
    const r = await host.remote('cat "$HOME/yonder-home-test"');
    assert.equal(r.stdout, "home");
  } finally {
    await env.remove("~/yonder-home-test");
  }
});

liveSshTest(
  "files a remote that runs out of space gives NoSpace and keeps the original",
  async () => {
    if (Deno.uid() !== 0) return; // mounting a small tmpfs needs root (CI runs as root)
    await using host = await openLiveHost();
    if (host.kind !== "native") return; // the mount must be on the fixture's machine
    const mnt = await Deno.makeTempDir({ prefix: "yonder-nospace-" });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", mnt],
    }).output();
    assert.equal(mount.code, 0, new TextDecoder().decode(mount.stderr));
    try {
      await using env = await SshEnvironment.open(host.target, { ...host.connect });
      const original = randomBytes(400_000);
      await env.writeFile(`${mnt}/f`, original);
      const e = await env.writeFile(`${mnt}/f`, randomBytes(2 * 1024 * 1024)).then(
        () => null,
        (e) => e,
      );
      assert.ok(e instanceof NoSpace, `got ${e}`);
      assert.equal(e.path, `${mnt}/f`);
      assert.match(e.message, /No space left/);
      assert.equal(sha256(await env.readFile(`${mnt}/f`)), sha256(original));
      assert.deepEqual((await env.list(mnt, { hidden: true })).map((x) => x.name), ["f"]);
    } finally {
      await new Deno.Command("umount", { args: [mnt] }).output();
      await Deno.remove(mnt, { recursive: true });
    }
  },
);

liveSshTest("files an upload survives the master being killed mid-transfer (retried)", async () => {
  await using host = await openLiveHost();
  const root = await remoteTemp(host);
  const local = await Deno.makeTempDir({ prefix: "yonder-files-local-" });
  try {
    const lines: string[] = [];
    await using env = await SshEnvironment.open(host.target, {
      ...host.connect,
      logger: (l) => lines.push(l),
    });
    const data = randomBytes(64 * 1024 * 1024);
    await Deno.writeFile(`${local}/big`, data);
    let killed = false;
    await env.upload(`${local}/big`, `${root}/big`, {
      onProgress: (p) => {
        if (!killed && p.bytes > 8 * 1024 * 1024 && env.masterPid !== null) {
          killed = true;
          Deno.kill(env.masterPid, "SIGKILL");
        }
      },
    });
    assert.ok(killed, "the master was killed during the upload");
    assert.ok(env.masterStarts >= 2, `master starts: ${env.masterStarts}`);
    assert.ok(lines.some((l) => /upload .*attempt 1 failed/.test(l)), lines.join("\n"));
    const sum = await host.remote(`sha256sum '${root}/big'`);
    assert.equal(sum.stdout.split(" ")[0], sha256(data));
    // A user command is never run twice: exec reports the lost connection instead.
    const marker = `${root}/ran`;
    const p = env.exec(`echo x >> '${marker}'; sleep 2`);
    await new Promise((r) => setTimeout(r, 700));
    Deno.kill(env.masterPid!, "SIGKILL");
    await assert.rejects(p);
    assert.equal((await host.remote(`cat '${marker}'`)).stdout, "x\n");
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(local, { recursive: true });
  }
});
