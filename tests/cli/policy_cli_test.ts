/**
 * The CLI under a yonder.yaml with a policy, path roots and an audit log, against a live sshd:
 * every bypass exits 77 with nothing run on the remote, approval by flag and on a terminal (a pty
 * driven through `script`), path roots resolved on the remote, and an audit chain that verifies.
 */
import assert from "node:assert/strict";
import { type LiveHost, liveSshTest, openLiveHost } from "../_live.ts";
import { bypasses } from "../_policy_cases.ts";
import { hostEntry, MAIN, onPty } from "./_run.ts";

const dec = new TextDecoder();

/** A yonder.yaml naming `host` as `box`, with the must-show allowlist and `extra` lines. */
function configFor(host: LiveHost, audit: string, extra: string[] = []): string {
  return [
    "hosts:",
    ...hostEntry(host, "box"),
    "policy:",
    "  mode: allowlist",
    "  rules:",
    "    - {id: ls, decision: allow, program: ls, more: true}",
    "    - {id: cat, decision: allow, program: cat, more: true}",
    "    - {id: git-status, decision: allow, program: git, args: [status]}",
    "    - {id: touch, decision: approve, program: touch, more: true}",
    ...extra,
    "audit:",
    `  path: ${JSON.stringify(audit)}`,
    "",
  ].join("\n");
}

async function cli(
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

liveSshTest("CLI with a policy: every bypass exits 77 and nothing runs on the remote", async () => {
  await using host = await openLiveHost();
  const dir = await Deno.makeTempDir({ prefix: "yonder-policy-cli-" });
  const marker = `/tmp/yonder-policy-cli-${crypto.randomUUID()}`;
  try {
    const config = `${dir}/yonder.yaml`;
    const audit = `${dir}/audit.jsonl`;
    await Deno.writeTextFile(config, configFor(host, audit));
    const base = ["exec", "--config", config, "-r", "box"];
    for (const [name, command] of bypasses(marker)) {
      const args = typeof command === "string"
        ? [...base, "--shell", "--", command]
        : [...base, "--", ...command];
      const r = await cli(args);
      assert.equal(r.code, 77, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /^yonder: refused: [\w.-]+: /m, name);
    }
    assert.equal(
      (await host.remote(`test -e '${marker}' && echo ran || echo none`)).stdout,
      "none\n",
    );
    // The allowed commands run.
    const ls = await cli([...base, "--", "ls", "-d", "/tmp"]);
    assert.deepEqual([ls.code, ls.stdout], [0, "/tmp\n"]);
    assert.equal((await cli([...base, "--", "cat", "/dev/null"])).code, 0);
    // check's own probes are not what the policy fences (they are logged like the rest).
    const check = await cli(["check", "--config", config, "-r", "box"]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    // No argument text in the log (args: hash), and the chain verifies.
    const log = await Deno.readTextFile(audit);
    assert.ok(!log.includes(marker), "an argument reached the audit log");
    const events = log.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(events.filter((e) => e.event === "refused").length, bypasses(marker).length);
    assert.ok(events.some((e) => e.event === "exec" && e.argv0 === "ls" && e.rule === "ls"));
    const verify = await cli(["audit", "verify", audit]);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    await host.remote(`rm -f '${marker}'`);
    await Deno.remove(dir, { recursive: true });
  }
});

liveSshTest(
  "CLI approval: --approve runs it, no terminal refuses, a terminal asks y/N",
  async () => {
    await using host = await openLiveHost();
    const dir = await Deno.makeTempDir({ prefix: "yonder-approve-cli-" });
    const marker = `/tmp/yonder-approve-cli-${crypto.randomUUID()}`;
    const exists = async () =>
      (await host.remote(`test -e '${marker}' && echo ran || echo none`)).stdout.trim();
    try {
      const config = `${dir}/yonder.yaml`;
      const audit = `${dir}/audit.jsonl`;
      await Deno.writeTextFile(config, configFor(host, audit));
      const args = ["exec", "--config", config, "-r", "box", "--", "touch", marker];
      // No terminal, no --approve: refused, even with "y" on stdin.
      const refused = await cli(args, "y\n");
      assert.equal(refused.code, 77);
      assert.match(refused.stderr, /^yonder: refused: touch: /m);
      assert.equal(await exists(), "none");
      // A terminal that answers no (the default), then one that answers y.
      const no = await onPty(args, {}, { prompt: /Run it\? \[y\/N\]/, answer: "n\n" });
      assert.equal(no.code, 77, no.screen);
      assert.match(no.screen, /approval needed: touch/);
      assert.ok(no.screen.includes(JSON.stringify(["touch", marker])), no.screen);
      assert.match(no.screen, /host: box/);
      assert.match(no.screen, /Run it\? \[y\/N\]/);
      assert.equal(await exists(), "none");
      const empty = await onPty(args, {}, { prompt: /Run it\? \[y\/N\]/, answer: "\n" });
      assert.equal(empty.code, 77, empty.screen);
      assert.equal(await exists(), "none");
      const yes = await onPty(args, {}, { prompt: /Run it\? \[y\/N\]/, answer: "y\n" });
      assert.equal(yes.code, 0, yes.screen);
      assert.equal(await exists(), "ran");
      await host.remote(`rm -f '${marker}'`);
      const flag = await cli(["exec", "--approve", ...args.slice(1)]);
      assert.equal(flag.code, 0, flag.stderr);
      assert.equal(await exists(), "ran");
      const events = (await Deno.readTextFile(audit)).trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(
        events.map((e) => [e.event, e.approver ?? null]),
        [
          ["refused", null],
          ["refused", null],
          ["refused", null],
          ["approved", "tty"],
          ["exec", "tty"],
          ["approved", "flag"],
          ["exec", "flag"],
        ],
      );
      assert.ok(events.every((e) => e.host === "box" && e.rule === "touch"));
    } finally {
      await host.remote(`rm -f '${marker}'`);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

liveSshTest("CLI path roots are checked on the remote, symlinks and .. resolved", async () => {
  await using host = await openLiveHost();
  const dir = await Deno.makeTempDir({ prefix: "yonder-paths-cli-" });
  const root = `/tmp/yonder-paths-${crypto.randomUUID()}`;
  try {
    await host.remote(
      `mkdir -p '${root}/data/out' && echo hi > '${root}/data/a' && ` +
        `echo secret > '${root}/secret' && ln -s '${root}/secret' '${root}/data/link' && ` +
        `ln -s '${root}' '${root}/data/out/up'`,
    );
    const config = `${dir}/yonder.yaml`;
    await Deno.writeTextFile(
      config,
      configFor(host, `${dir}/audit.jsonl`, [
        "  paths:",
        `    read: [${JSON.stringify(`${root}/data`)}]`,
        `    write: [${JSON.stringify(`${root}/data/out`)}]`,
      ]),
    );
    await Deno.writeTextFile(`${dir}/local.txt`, "payload\n");
    const c = ["--config", config, "-r", "box"];
    const ok = await cli(["cat", ...c, `${root}/data/a`]);
    assert.deepEqual([ok.code, ok.stdout], [0, "hi\n"]);
    for (
      const [args, rule] of [
        [["cat", ...c, `${root}/data/link`], "paths.read"],
        [["cat", ...c, `${root}/data/../secret`], "paths.read"],
        [["put", ...c, `${dir}/local.txt`, `${root}/data/x`], "paths.write"],
        [["put", ...c, `${dir}/local.txt`, `${root}/data/out/up/x`], "paths.write"],
        [["ls", ...c, root], "paths.read"],
      ] as const
    ) {
      const r = await cli([...args]);
      assert.equal(r.code, 77, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^yonder: refused: ${rule.replace(".", "\\.")}: `, "m"));
    }
    const put = await cli(["put", ...c, `${dir}/local.txt`, `${root}/data/out/y`]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(
      (await host.remote(`cat '${root}/data/out/y'; ls '${root}'`)).stdout,
      "payload\ndata\nsecret\n",
    );
  } finally {
    await host.remote(`rm -rf '${root}'`);
    await Deno.remove(dir, { recursive: true });
  }
});
