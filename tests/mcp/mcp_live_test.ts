/**
 * `yonder mcp` driven by the SDK's own client over stdio (`deno run -A main.ts mcp`), against
 * the live sshd fixture: every tool, long output, jobs and their ends, cancellation, approvals,
 * stdin, and many calls at once. The client checks each structured result against the tool's
 * output schema (the SDK does that on every call of a tool that declares one).
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- tests name the SDK the server loads (lib/cli/mcp/sdk.ts)
import { Client } from "npm:@modelcontextprotocol/sdk@^1.32.2/client/index.js";
// deno-lint-ignore no-import-prefix
import { StdioClientTransport } from "npm:@modelcontextprotocol/sdk@^1.32.2/client/stdio.js";
// deno-lint-ignore no-import-prefix
import { ElicitRequestSchema } from "npm:@modelcontextprotocol/sdk@^1.32.2/types.js";
import { type LiveHost, liveSshTest, openLiveHost } from "../_live.ts";
import { connFlags, hostEntry, MAIN, onPty } from "../cli/_run.ts";

type Result = Awaited<ReturnType<Client["callTool"]>>;

interface Served extends AsyncDisposable {
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
  call(name: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  raw(name: string, args?: Record<string, unknown>, signal?: AbortSignal): Promise<Result>;
}

/** Starts `yonder mcp ARGS` with a client (capabilities `caps`). */
async function serve(
  args: string[],
  opts: { env?: Record<string, string>; elicit?: (message: string) => unknown } = {},
): Promise<Served> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", "-A", "--quiet", MAIN, "mcp", ...args],
    env: { NO_COLOR: "1", ...opts.env },
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (b: Uint8Array) => err += new TextDecoder().decode(b));
  const client = new Client(
    { name: "yonder-test", version: "1" },
    { capabilities: opts.elicit ? { elicitation: {} } : {} },
  );
  if (opts.elicit) {
    const answer = opts.elicit;
    client.setRequestHandler(
      ElicitRequestSchema,
      (req: { params: unknown }) => answer((req.params as { message: string }).message) as never,
    );
  }
  await client.connect(transport);
  await client.listTools(); // the client learns the output schemas it checks results against
  const raw = (name: string, a: Record<string, unknown> = {}, signal?: AbortSignal) =>
    client.callTool({ name, arguments: a }, undefined, {
      timeout: 120_000,
      ...(signal ? { signal } : {}),
    });
  return {
    client,
    transport,
    stderr: () => err,
    raw,
    async call(name, a = {}) {
      const r = await raw(name, a);
      assert.ok(!r.isError, `${name}: ${JSON.stringify(r.content)}`);
      return r.structuredContent as Record<string, unknown>;
    },
    async [Symbol.asyncDispose]() {
      await client.close();
    },
  };
}

/** The remote processes whose args are exactly `sleep N`. */
async function sleeping(host: LiveHost, n: number): Promise<string> {
  return (await host.remote(`ps -eo args= | grep -E '^sleep ${n}$' || true`)).stdout;
}

async function until(what: string, test: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

liveSshTest("yonder mcp: every tool round-trips with structured results", async () => {
  await using host = await openLiveHost();
  await using s = await serve(connFlags(host));
  const dir = await Deno.makeTempDir({ prefix: "yonder-mcp-" });
  const remote = (await host.remote("mktemp -d /tmp/yonder-mcp-XXXXXX")).stdout.trim();
  try {
    type Tool = {
      name: string;
      outputSchema?: unknown;
      annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean };
    };
    const tools = (await s.client.listTools()).tools as Tool[];
    for (const t of tools) {
      assert.ok(t.outputSchema, `${t.name} declares an output schema`);
      assert.equal(typeof t.annotations?.readOnlyHint, "boolean", t.name);
    }
    assert.equal(tools.find((t) => t.name === "exec")?.annotations?.destructiveHint, true);
    assert.equal(tools.find((t) => t.name === "read_file")?.annotations?.readOnlyHint, true);
    // argv is exact; script is sh; cwd and env apply; the result is structured.
    let r = await s.call("exec", { argv: ["printf", "%s|", "a b", "$HOME", "'q'"] });
    assert.deepEqual([r.status, r.exit_code, r.stdout], ["exited", 0, "a b|$HOME|'q'|"]);
    r = await s.call("exec", { script: "pwd; echo $V >&2; exit 3", cwd: remote, env: { V: "v1" } });
    assert.deepEqual([r.exit_code, r.stdout, r.stderr], [3, `${remote}\n`, "v1\n"]);
    // No stdin given: the command reads an empty one at once (never the server's protocol).
    const started = performance.now();
    r = await s.call("exec", { argv: ["cat"] });
    assert.deepEqual([r.exit_code, r.stdout], [0, ""]);
    assert.ok(performance.now() - started < 10_000);
    r = await s.call("exec", { argv: ["wc", "-c"], stdin_base64: "AAEC/w==" });
    assert.equal(r.stdout, "4\n");
    // Bytes that are not UTF-8 come base64.
    r = await s.call("exec", { script: "printf '\\377\\376ok'" });
    assert.deepEqual([r.stdout, r.stdout_base64, r.stdout_bytes], ["", "//5vaw==", 4]);
    // A timeout.
    r = await s.call("exec", { argv: ["sleep", "7341"], timeout_s: 0.5 });
    assert.deepEqual([r.status, r.exit_code], ["timed_out", 124]);
    assert.equal(await sleeping(host, 7341), "");
    // Files: write (atomic, mode), read back in ranges, stat, list.
    const file = `${remote}/sub/f.bin`;
    const bytes = new Uint8Array(300).map((_, i) => i % 256);
    const b64 = btoa(String.fromCharCode(...bytes));
    r = await s.call("write_file", { path: file, content_base64: b64, mode: "0640", mkdirs: true });
    assert.equal(r.bytes, 300);
    r = await s.call("read_file", { path: file, offset: 250, length: 10 });
    assert.deepEqual([r.size, r.bytes, r.eof], [300, 10, false]);
    assert.equal(atob(r.content_base64 as string).charCodeAt(0), 250);
    r = await s.call("read_file", { path: file });
    assert.equal(r.content_base64, b64);
    r = await s.call("stat", { path: file });
    assert.deepEqual([r.type, r.size, r.mode], ["file", 300, "0640"]);
    await s.call("write_file", { path: `${remote}/t.txt`, content: "héllo\n" });
    r = await s.call("read_file", { path: `${remote}/t.txt` });
    assert.deepEqual([r.content, r.size], ["héllo\n", 7]);
    r = await s.call("list", { path: remote, recursive: true });
    assert.deepEqual((r.entries as { name: string }[]).map((e) => e.name), [
      "sub",
      "sub/f.bin",
      "t.txt",
    ]);
    // Trees both ways.
    await Deno.mkdir(`${dir}/up/d`, { recursive: true });
    await Deno.writeTextFile(`${dir}/up/d/x.txt`, "x\n");
    r = await s.call("push", { local_dir: `${dir}/up`, remote_dir: `${remote}/tree` });
    assert.deepEqual(r.transferred, ["d", "d/x.txt"]);
    r = await s.call("pull", { remote_dir: `${remote}/tree`, local_dir: `${dir}/down` });
    assert.equal(await Deno.readTextFile(`${dir}/down/d/x.txt`), "x\n");
    assert.deepEqual(r.conflicts, []);
    // check and hosts.
    r = await s.call("check");
    assert.equal(r.ok, true);
    r = await s.call("hosts");
    assert.deepEqual([r.hosts, r.any_host], [[host.target], false]);
    // Errors are tool errors naming the fix.
    const bad = await s.raw("exec", { host: "elsewhere", argv: ["true"] });
    assert.equal(bad.isError, true);
    assert.match(JSON.stringify(bad.content), /not served here; allowed: ssh:/);
    const both = await s.raw("exec", { argv: ["true"], script: "true" });
    assert.equal(both.isError, true);
    const missing = await s.raw("read_file", { path: `${remote}/nope` });
    assert.match(JSON.stringify(missing.content), /NotFound/);
  } finally {
    await host.remote(`rm -rf '${remote}'`);
    await Deno.remove(dir, { recursive: true });
  }
});

liveSshTest(
  "yonder mcp: 50 MiB of output keeps head and tail, exact counts, bounded memory",
  async () => {
    await using host = await openLiveHost();
    await using s = await serve(connFlags(host));
    const peakRss = async () => {
      const status = await Deno.readTextFile(`/proc/${s.transport.pid}/status`);
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    };
    // Warmed up with a smaller call first: the baseline has the server's code and buffers.
    await s.call("exec", { script: "head -c 2000000 /dev/zero", max_output: 4096 });
    const before = await peakRss();
    const n = 50 * 1024 * 1024;
    const r = await s.call("exec", {
      script: `printf START; head -c ${n} /dev/zero | tr '\\0' x; printf END; echo e >&2`,
      max_output: 4096,
    });
    assert.equal(r.stdout_bytes, n + 8);
    assert.equal(r.stderr_bytes, 2);
    assert.equal(r.truncated, true);
    assert.equal(r.stdout_omitted, n + 8 - 4096);
    const out = r.stdout as string;
    assert.ok(out.startsWith("START" + "x".repeat(2043) + "\n[... "), out.slice(0, 80));
    assert.ok(out.endsWith("x".repeat(2045) + "END"));
    assert.match(out, new RegExp(`\\[\\.\\.\\. ${n + 8 - 4096} bytes omitted \\.\\.\\.\\]`));
    const after50 = await peakRss();
    // Three times as much again: held output would grow the peak by about 150 MiB; passing
    // through, the peak stays where the garbage collector's pace put it.
    const big = await s.call("exec", {
      script: `head -c ${3 * n} /dev/zero`,
      max_output: 4096,
    });
    assert.equal(big.stdout_bytes, 3 * n);
    const after200 = await peakRss();
    const mib = (kb: number) => Math.round(kb / 1024);
    // deno-lint-ignore no-console
    console.error(
      `yonder mcp peak RSS: ${mib(before)} MiB warmed up, ${mib(after50)} MiB after 50 MiB ` +
        `of output, ${mib(after200)} MiB after 150 MiB more`,
    );
    assert.ok(after200 - after50 < 48 * 1024, `peak RSS ${after50} kB, then ${after200} kB`);
  },
);

liveSshTest(
  "yonder mcp: jobs poll, stream and die by job_kill, cancellation, client close",
  async () => {
    await using host = await openLiveHost();
    const s = await serve(connFlags(host));
    try {
      // A long command returns a job; its output streams through job_output.
      let r = await s.call("exec", {
        script: "i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); sleep 0.05; done",
        wait_s: 0.5,
      });
      assert.equal(r.status, "running");
      const job = r.job_id as string;
      let offset = 0;
      let seen = "";
      for (let i = 0; i < 100 && !seen.includes("line99\n"); i++) {
        const o = await s.call("job_output", { job_id: job, offset });
        seen += o.stdout as string;
        offset = o.stdout_next_offset as number;
        if (o.status !== "running" && (o.stdout as string) === "") break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(seen, Array.from({ length: 100 }, (_, i) => `line${i}\n`).join(""));
      r = await s.call("job_wait", { job_id: job, wait_s: 10 });
      assert.deepEqual([r.status, r.exit_code], ["exited", 0]);
      // sleep 120 with wait_s 2: a job; job_kill leaves nothing on the host.
      const started = performance.now();
      r = await s.call("exec", { argv: ["sleep", "120"], wait_s: 2 });
      assert.equal(r.status, "running");
      assert.ok(performance.now() - started < 10_000);
      assert.notEqual(await sleeping(host, 120), "");
      r = await s.call("job_kill", { job_id: r.job_id });
      assert.equal(r.status, "killed");
      await until("no sleep 120", async () => (await sleeping(host, 120)) === "");
      const listed = await s.call("jobs");
      assert.ok((listed.jobs as { status: string }[]).every((j) => j.status !== "running"));
      // A cancelled call (notifications/cancelled) kills its command on the host.
      const abort = new AbortController();
      const call = s.raw("exec", { argv: ["sleep", "121"], wait_s: 60 }, abort.signal);
      await until("sleep 121 runs", async () => (await sleeping(host, 121)) !== "");
      abort.abort();
      await assert.rejects(call);
      await until("no sleep 121", async () => (await sleeping(host, 121)) === "");
      // Closing the client kills what still runs.
      r = await s.call("exec", { argv: ["sleep", "122"], wait_s: 0.2 });
      assert.equal(r.status, "running");
      await until("sleep 122 runs", async () => (await sleeping(host, 122)) !== "");
    } finally {
      await s.client.close();
    }
    await until("no sleep 122", async () => (await sleeping(host, 122)) === "", 10_000);
    assert.match(s.stderr(), /stopping the running commands/);
  },
);

/** A config for `host` (as `box`) whose policy asks before any `touch`. */
async function approvalConfig(host: LiveHost, dir: string): Promise<string> {
  const file = `${dir}/yonder.yaml`;
  await Deno.writeTextFile(
    file,
    [
      "hosts:",
      ...hostEntry(host, "box"),
      "policy:",
      "  rules:",
      "    - {id: touch, decision: approve, program: touch, more: true}",
      '    - {id: allow-true, decision: allow, program: "true"}',
      `audit: {path: ${JSON.stringify(`${dir}/audit.jsonl`)}}`,
      "",
    ].join("\n"),
  );
  return file;
}

liveSshTest(
  "yonder mcp: approvals by elicitation, and by yonder approve when the client cannot ask",
  async () => {
    await using host = await openLiveHost();
    const dir = await Deno.makeTempDir({ prefix: "yonder-mcp-approve-" });
    const runtime = await Deno.makeTempDir({ prefix: "yonder-mcp-run-" });
    const env = { XDG_RUNTIME_DIR: runtime };
    const marker = `/tmp/yonder-mcp-approve-${crypto.randomUUID()}`;
    const exists = async () => (await host.remote(`test -e ${marker} && echo yes || true`)).stdout;
    try {
      const config = await approvalConfig(host, dir);
      const args = ["--config", config];
      // Elicitation: declined → refused, nothing ran; accepted → runs.
      let answer: "accept" | "decline" | "cancel" = "decline";
      let slow = 0;
      let asked = "";
      {
        await using s = await serve(args, {
          env,
          elicit: async (message) => {
            asked = message;
            await new Promise((res) => setTimeout(res, slow));
            return answer === "accept"
              ? { action: "accept", content: { approve: true } }
              : { action: answer };
          },
        });
        let r = await s.raw("exec", { argv: ["touch", marker] });
        assert.equal(r.isError, true);
        assert.match(JSON.stringify(r.content), /refused: touch/);
        assert.match(asked, new RegExp(`argv: \\["touch","${marker}"\\]`));
        assert.equal(await exists(), "");
        answer = "cancel";
        r = await s.raw("exec", { argv: ["touch", marker] });
        assert.equal(r.isError, true);
        assert.equal(await exists(), "");
        // A user slower than the call waits: the call returns a job, and the refusal shows later.
        slow = 1500;
        const late = await s.call("exec", { argv: ["touch", marker], wait_s: 0.3 });
        assert.equal(late.status, "running");
        const ended = await s.call("job_wait", { job_id: late.job_id, wait_s: 10 });
        assert.equal(ended.status, "failed");
        assert.match(ended.error as string, /PolicyRefused: refused: touch/);
        assert.equal(await exists(), "");
        slow = 0;
        answer = "accept";
        const ok = await s.call("exec", { argv: ["touch", marker] });
        assert.equal(ok.exit_code, 0);
        assert.equal(await exists(), "yes\n");
        // An allowed command asks nothing.
        asked = "";
        await s.call("exec", { argv: ["true"] });
        assert.equal(asked, "");
      }
      await host.remote(`rm -f ${marker}`);
      // No elicitation: a request for a human; nothing runs until it is approved, then once.
      await using s = await serve(args, { env });
      const call = { argv: ["touch", marker], stdin: "for the record\n" };
      const r = await s.call("exec", call);
      assert.equal(r.status, "approval_required");
      const id = r.approval_id as string;
      assert.match(id, /^a-[0-9a-f]{12}$/);
      assert.equal(await exists(), "");
      // Not yet approved: the repeated call is refused and files nothing new.
      const early = await s.raw("exec", { ...call, approval_id: id });
      assert.equal((early.structuredContent as { status?: string })?.status, "approval_required");
      assert.equal(await exists(), "");
      // A forged approval file (an id this server never filed) approves nothing.
      const forged = "a-0123456789ab";
      const now = Date.now();
      await Deno.writeTextFile(
        `${runtime}/yonder/approvals/${forged}.json`,
        JSON.stringify({
          id: forged,
          host: "box",
          command: call.argv,
          cwd: null,
          env: [],
          input_sha256: "0",
          stdin_bytes: 0,
          rule: "touch",
          reason: "x",
          created: new Date(now).toISOString(),
          expires: new Date(now + 60_000).toISOString(),
          pid: 1,
          approved: new Date(now).toISOString(),
        }),
      );
      const fake = await s.call("exec", { argv: ["touch", marker], approval_id: forged });
      assert.equal(fake.status, "approval_required");
      assert.equal(await exists(), "");
      // The human: a listing, then yes on a terminal.
      const list = await onPty(["approve"], env);
      assert.match(list.screen, new RegExp(id));
      assert.match(list.screen, /host "box"/);
      assert.match(list.screen, /15 bytes of stdin/);
      const granted = await onPty(["approve", id], env, { prompt: /Approve it\?/, answer: "y\n" });
      assert.equal(granted.code, 0, granted.screen);
      // Another command, or other stdin, with the id does not run; the very call does, once.
      const other = await s.call("exec", {
        ...call,
        argv: ["touch", `${marker}-other`],
        approval_id: id,
      });
      assert.equal(other.status, "approval_required");
      const otherInput = await s.call("exec", {
        ...call,
        stdin: "something else\n",
        approval_id: id,
      });
      assert.equal(otherInput.status, "approval_required");
      assert.equal(await exists(), "");
      const done = await s.call("exec", { ...call, approval_id: id });
      assert.equal(done.exit_code, 0);
      assert.equal(await exists(), "yes\n");
      const again = await s.call("exec", { ...call, approval_id: id });
      assert.equal(again.status, "approval_required");
      // The audit log saw the refusals and both approvals.
      const events = (await Deno.readTextFile(`${dir}/audit.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l) as { event: string; approver?: string });
      const approvers = events.filter((e) => e.event === "approved").map((e) => e.approver);
      assert.deepEqual(approvers, ["elicitation", "yonder approve"]);
      assert.ok(events.some((e) => e.event === "refused"));
    } finally {
      await host.remote(`rm -f ${marker} ${marker}-other`);
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(runtime, { recursive: true });
    }
  },
);

liveSshTest("yonder mcp: 100 concurrent exec calls over one client all succeed", async () => {
  await using host = await openLiveHost();
  await using s = await serve(connFlags(host));
  const results = await Promise.allSettled(
    Array.from({ length: 100 }, (_, i) => s.call("exec", { argv: ["echo", `call-${i}`] })),
  );
  const failed = results.filter((r) => r.status === "rejected");
  assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
  results.forEach((r, i) => {
    assert.equal(
      (r as PromiseFulfilledResult<Record<string, unknown>>).value.stdout,
      `call-${i}\n`,
    );
  });
});

liveSshTest(
  "yonder mcp: progress notifications carry bytes and last lines, never env secrets",
  async () => {
    await using host = await openLiveHost();
    await using s = await serve(connFlags(host));
    const secret = `tok-${crypto.randomUUID()}`;
    const seen: { progress: number; message?: string }[] = [];
    const r = await s.client.callTool(
      {
        name: "exec",
        arguments: {
          script:
            'i=0; while [ $i -lt 12 ]; do echo "step $i key=$TOKEN"; i=$((i+1)); sleep 0.2; done',
          env: { TOKEN: secret },
        },
      },
      undefined,
      { onprogress: (p: { progress: number; message?: string }) => void seen.push(p) },
    );
    const out = (r.structuredContent as { stdout: string }).stdout;
    assert.match(out, new RegExp(`step 11 key=${secret}`)); // the result itself is the command's
    assert.ok(seen.length >= 2, `progress notifications: ${seen.length}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.progress > seen[i - 1]!.progress);
    assert.ok(seen.some((p) => /step \d+ key=\*\*\*/.test(p.message ?? "")), JSON.stringify(seen));
    assert.ok(!JSON.stringify(seen).includes(secret), "a secret reached a progress message");
  },
);

liveSshTest(
  "yonder mcp: SIGTERM to the server kills its jobs; --allow-any-host reaches a target",
  async () => {
    await using host = await openLiveHost();
    const c = host.connect;
    const flags = [
      "--allow-any-host",
      ...(c.identityFile ? ["-i", c.identityFile] : []),
      ...(c.knownHostsFile ? ["--known-hosts", c.knownHostsFile] : []),
    ];
    const s = await serve(flags);
    try {
      const r = await s.call("exec", { host: host.target, argv: ["sleep", "123"], wait_s: 0.2 });
      assert.equal(r.status, "running");
      await until("sleep 123 runs", async () => (await sleeping(host, 123)) !== "");
      Deno.kill(s.transport.pid!, "SIGTERM");
      await until("no sleep 123", async () => (await sleeping(host, 123)) === "", 10_000);
    } finally {
      await s.client.close();
    }
    assert.match(s.stderr(), /interrupted: stopping the running commands/);
  },
);
