/**
 * Fan-out against N "hosts": one native sshd fixture listening on N loopback ports, an ssh_config
 * alias per port (each alias also sends `YONDER_ALIAS` with its name, so a command can tell which
 * host it runs as), plus an alias whose port nothing listens on.
 */
import assert from "node:assert/strict";
import { Fleet } from "../../lib/fleet/fleet.ts";
import { SshEnvironment } from "../../lib/ssh/environment.ts";
import { type SshdFixture, startSshd } from "../fixtures/sshd.ts";
import { liveSshTest, TEST_HOST_ENV } from "../_live.ts";
import { MAIN, startCli } from "../cli/_run.ts";

const dec = new TextDecoder();

interface Aliases extends AsyncDisposable {
  fixture: SshdFixture;
  config: string;
  dir: string;
  /** `yonder` argv prefix: the command, then `-F config`. */
  cli(
    command: string,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string; ms: number }>;
}

/** Ports nothing listens on now, as the kernel picks them. */
function freePorts(n: number): number[] {
  const ls = Array.from({ length: n }, () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const ports = ls.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of ls) l.close();
  return ports;
}

/**
 * A fixture listening on a port per host, an ssh_config with `web1`…`webN` (one port each) and
 * `down1` on a port nothing listens on.
 */
async function aliases(n: number): Promise<Aliases | null> {
  if (Deno.env.get(TEST_HOST_ENV)) return null; // an external host: no aliases of ours
  const [closed, ...extra] = freePorts(n);
  const fixture = await startSshd({
    extraConfig: ["AcceptEnv YONDER_ALIAS", ...extra.map((p) => `ListenAddress 127.0.0.1:${p}`)],
  });
  const ports = [fixture.port, ...extra];
  const dir = await Deno.makeTempDir({ prefix: "yonder-fleet-" });
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    lines.push(
      `Host web${i}`,
      "  HostName 127.0.0.1",
      `  Port ${ports[i - 1]}`,
      // One host key on every port: known_hosts names it by the fixture's first port.
      `  HostKeyAlias [127.0.0.1]:${fixture.port}`,
      `  User ${fixture.user}`,
      `  IdentityFile ${fixture.identityFile}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${fixture.knownHostsFile}`,
      `  SetEnv YONDER_ALIAS=web${i}`,
    );
  }
  lines.push("Host down1", "  HostName 127.0.0.1", `  Port ${closed}`, `  User ${fixture.user}`);
  const config = `${dir}/ssh_config`;
  await Deno.writeTextFile(config, lines.join("\n") + "\n");
  return {
    fixture,
    config,
    dir,
    async cli(command, ...args) {
      const t = performance.now();
      const out = await startCli([command, "-F", config, ...args]).output();
      return {
        code: out.code,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
        ms: performance.now() - t,
      };
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
      await fixture[Symbol.asyncDispose]();
    },
  };
}

liveSshTest(
  "fan-out: 10 MiB per host, prefixed lines never mix mid-line, streams apart",
  async () => {
    await using a = await aliases(4);
    if (!a) return;
    const lines = 175_000;
    const script = `awk -v a="$YONDER_ALIAS" -v pad="$(head -c 100 /dev/zero | tr '\\0' x)" ` +
      `'BEGIN { for (i = 0; i < ${lines}; i++) printf "%s-%d-%s\\n", a, i, substr(pad, 1, i % 97); ` +
      `print a "-err" > "/dev/stderr" }'`;
    const r = await a.cli("exec", "-r", "web[1-4]", "--shell", "--", script);
    assert.equal(r.code, 0, r.stderr);
    const seen = new Map<string, number>();
    for (const line of r.stdout.split("\n")) {
      if (line === "") continue;
      const m = /^(web\d): (web\d)-(\d+)-x*$/.exec(line);
      assert.ok(m && m[1] === m[2], `a mixed line: ${line.slice(0, 120)}`);
      const next = seen.get(m[1]!) ?? 0;
      assert.equal(Number(m[3]), next, `${m[1]}: lines out of order`);
      seen.set(m[1]!, next + 1);
    }
    assert.deepEqual([...seen.values()], [lines, lines, lines, lines]);
    for (let i = 1; i <= 4; i++) assert.match(r.stderr, new RegExp(`^web${i}: web${i}-err$`, "m"));
    assert.ok(r.stdout.length > 4 * 10 * 1024 * 1024, `${r.stdout.length} bytes`);
    assert.match(r.stderr, /yonder: ok 4 · failed 0 · unreachable 0 · timed out 0/);
  },
);

liveSshTest(
  "fan-out: --gather folds ranges; failures, timeouts, unreachable reported without delay",
  async () => {
    await using a = await aliases(5);
    if (!a) return;
    // Four say the same, web3 something else.
    let r = await a.cli(
      "exec",
      "-r",
      "web[1-5]",
      "--gather",
      "--",
      "sh",
      "-c",
      'echo same; [ "$YONDER_ALIAS" = web3 ] && echo other; true',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "----- web[1-2,4-5] (4)\nsame\n----- web3 (1)\nsame\nother\n");
    // web2 fails, web4 hangs past its timeout, down1 is unreachable: the others are not held up.
    const script = 'case "$YONDER_ALIAS" in web2) exit 3 ;; web4) sleep 60 ;; esac; echo done';
    r = await a.cli("exec", "-r", "web[1-5],down1", "--timeout", "2", "--shell", "--", script);
    assert.equal(r.code, 124, r.stderr); // the largest exit code: the timeout's
    assert.ok(r.ms < 15_000, `${r.ms} ms`);
    for (const h of ["web1", "web3", "web5"]) {
      assert.match(r.stdout, new RegExp(`^${h}: done$`, "m"));
    }
    assert.match(r.stderr, /^down1: yonder: .*refused/m);
    assert.match(
      r.stderr,
      /ok 3 · failed 2 \(web2: rc 3, web4: timed out\) · unreachable 1 \(down1: refused\) · timed out 1/,
    );
    const left = await a.fixture.remote("ps -eo args= | grep -E '^sleep 60$' || true");
    assert.equal(left.stdout, "");
    // Only unreachable hosts: 255.
    r = await a.cli("exec", "-r", "down1,web1", "--", "true");
    assert.equal(r.code, 255);
  },
);

liveSshTest(
  "fan-out: --max-fail stops new starts; --batch runs waves; --json and --out-dir",
  async () => {
    await using a = await aliases(5);
    if (!a) return;
    let r = await a.cli(
      "exec",
      "-r",
      "web[1-5]",
      "--forks",
      "1",
      "--max-fail",
      "0",
      "--",
      "sh",
      "-c",
      '[ "$YONDER_ALIAS" != web1 ]',
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ok 0 · failed 1 \(web1: rc 1\) .* not started 4 \(web2: max-fail/);
    // Waves of 2: a wave ends before the next starts (start and end times do not overlap).
    r = await a.cli(
      "exec",
      "-r",
      "web[1-4]",
      "--batch",
      "2",
      "--json",
      "--",
      "sh",
      "-c",
      "date +%s%N; sleep 0.3; date +%s%N",
    );
    assert.equal(r.code, 0, r.stderr);
    const objs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const summary = objs.pop();
    assert.equal(summary.summary.ok, 4);
    const spans = new Map(objs.map((o) => [o.host, o.stdout.trim().split("\n").map(Number)]));
    const end1 = Math.max(spans.get("web1")![1]!, spans.get("web2")![1]!);
    const start2 = Math.min(spans.get("web3")![0]!, spans.get("web4")![0]!);
    assert.ok(end1 <= start2, "the second wave started before the first ended");
    for (const o of objs) assert.deepEqual(Object.keys(o).slice(0, 3), ["host", "target", "code"]);
    // Per-host files.
    const out = `${a.dir}/out`;
    r = await a.cli(
      "exec",
      "-r",
      "web[1-2],down1",
      "--out-dir",
      out,
      "--",
      "sh",
      "-c",
      'echo "o $YONDER_ALIAS"; echo e >&2',
    );
    assert.equal(r.code, 255);
    assert.equal(await Deno.readTextFile(`${out}/web2.stdout`), "o web2\n");
    assert.equal(await Deno.readTextFile(`${out}/web2.stderr`), "e\n");
    assert.equal(JSON.parse(await Deno.readTextFile(`${out}/web1.json`)).code, 0);
    assert.equal(JSON.parse(await Deno.readTextFile(`${out}/down1.json`)).error.kind, "refused");
    // check and put fan out too.
    r = await a.cli("check", "-r", "web[1-3]");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web2: ok \(connect/m);
    await Deno.writeTextFile(`${a.dir}/f.txt`, "payload\n");
    const dest = `/tmp/yonder-fleet-put-${crypto.randomUUID()}`;
    r = await a.cli("put", "-r", "web[1-3]", "--json", `${a.dir}/f.txt`, dest);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 4);
    assert.equal((await a.fixture.remote(`cat ${dest}; rm -f ${dest}`)).stdout, "payload\n");
  },
);

liveSshTest(
  "fan-out: Ctrl-C kills the commands on every host and says which did not complete",
  async () => {
    await using a = await aliases(3);
    if (!a) return;
    // yonder's own control directories (/tmp/yonder-<16 hex>): none of this run may stay.
    const controlDirs = async () => {
      const names: string[] = [];
      for await (const e of Deno.readDir("/tmp")) {
        if (/^yonder-[0-9a-f]{16}$/.test(e.name)) names.push(e.name);
      }
      return names.sort().join(" ");
    };
    const before = await controlDirs();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        MAIN,
        "exec",
        "-F",
        a.config,
        "-r",
        "web[1-3]",
        "--",
        "sleep",
        "301",
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const running = async () =>
      (await a.fixture.remote("ps -eo args= | grep -cE '^sleep 301$' || true")).stdout.trim();
    const until = Date.now() + 10_000;
    while ((await running()) !== "3" && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await running(), "3");
    child.kill("SIGINT");
    const out = await child.output();
    assert.equal(out.code, 130);
    assert.match(dec.decode(out.stderr), /failed 3 \((web\d: interrupted(, )?){3}\)/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await running(), "0");
    // pgrep leaves itself out; a shell around it would match its own command line.
    const ssh = await new Deno.Command("pgrep", { args: ["-f", a.config], stdout: "piped" })
      .output();
    assert.equal(dec.decode(ssh.stdout), "", "an ssh process of the run is left");
    assert.equal(await controlDirs(), before, "a control directory of the run is left");
  },
);

liveSshTest(
  "Fleet (library): events per host; a second fan-out reuses the connections",
  async () => {
    await using a = await aliases(3);
    if (!a) return;
    const hosts = ["web1", "web2", "web3"];
    await using fleet = new Fleet(hosts, (h) => SshEnvironment.open(h, { configFile: a.config }));
    const run = async () => {
      const events: string[] = [];
      for await (const e of fleet.exec(["sh", "-c", "echo $YONDER_ALIAS"], { forks: 2 })) {
        if (e.kind === "line") events.push(`${e.host}:${dec.decode(e.line)}`);
        if (e.kind === "done") events.push(`${e.host}=${e.result.code}`);
      }
      return events.sort();
    };
    let t = performance.now();
    assert.deepEqual(await run(), [
      "web1:web1",
      "web1=0",
      "web2:web2",
      "web2=0",
      "web3:web3",
      "web3=0",
    ]);
    const cold = performance.now() - t;
    t = performance.now();
    await run();
    const warm = performance.now() - t;
    assert.ok(warm < cold, `second fan-out ${warm} ms, first ${cold} ms`);
  },
);

liveSshTest(
  "fan-out: cat and ls print host-prefixed lines or gather them; push to every host",
  async () => {
    await using a = await aliases(3);
    if (!a) return;
    const remote = (await a.fixture.remote("mktemp -d /tmp/yonder-fleet-files-XXXXXX")).stdout
      .trim();
    try {
      await a.fixture.remote(`printf 'one\\ntwo\\n' > ${remote}/f.txt; touch ${remote}/g`);
      let r = await a.cli("cat", "-r", "web[1-3]", `${remote}/f.txt`);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n").sort();
      assert.deepEqual(lines, [
        "web1: one",
        "web1: two",
        "web2: one",
        "web2: two",
        "web3: one",
        "web3: two",
      ]);
      r = await a.cli("cat", "-r", "web[1-3]", "--gather", `${remote}/f.txt`);
      assert.equal(r.stdout, "----- web[1-3] (3)\none\ntwo\n");
      r = await a.cli("ls", "-r", "web[1-2]", "--json", remote);
      const objs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(objs.length, 3);
      assert.equal(objs[0].output, "f.txt\ng\n");
      r = await a.cli("cat", "-r", "web[1-2],down1", `${remote}/f.txt`);
      assert.equal(r.code, 255);
      // The same tree to every host (one directory here, so the 2nd and 3rd find it unchanged).
      await Deno.mkdir(`${a.dir}/tree`);
      await Deno.writeTextFile(`${a.dir}/tree/x`, "x\n");
      r = await a.cli("push", "-r", "web[1-3]", "--forks", "1", `${a.dir}/tree`, `${remote}/tree`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^web1: pushed 1 entr/m);
      assert.match(r.stdout, /^web3: pushed 0 entries.*1 unchanged/m);
      assert.equal((await a.fixture.remote(`cat ${remote}/tree/x`)).stdout, "x\n");
      // The fan-out flags mean nothing on one host: refused.
      r = await a.cli("cat", "-r", "web1", "--gather", `${remote}/f.txt`);
      assert.equal(r.code, 2);
    } finally {
      await a.fixture.remote(`rm -rf ${remote}`);
    }
  },
);
