/**
 * The MCP server in memory (the SDK's linked transports): its tools and their schemas, and what
 * a call gets before any host is reached (hosts, host choice, bad arguments).
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- tests name the SDK the server loads (lib/cli/mcp/sdk.ts)
import { Client } from "npm:@modelcontextprotocol/sdk@^1.32.2/client/index.js";
// deno-lint-ignore no-import-prefix
import { InMemoryTransport } from "npm:@modelcontextprotocol/sdk@^1.32.2/inMemory.js";
import { loadConfig } from "../../lib/config/config.ts";
import { buildServer } from "../../lib/cli/mcp/server.ts";
import { loadSdk } from "../../lib/cli/mcp/sdk.ts";
import { denoIo } from "../../lib/cli/_common.ts";

type Tool = {
  name: string;
  inputSchema: { properties?: Record<string, unknown> };
  outputSchema?: { properties?: Record<string, unknown> };
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean };
};

async function withServer(
  yaml: string | null,
  o: { remote?: string; allowAnyHost?: boolean },
  fn: (client: Client) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "yonder-mcp-unit-" });
  try {
    let config = null;
    if (yaml !== null) {
      await Deno.writeTextFile(`${dir}/yonder.yaml`, yaml);
      config = await loadConfig(`${dir}/yonder.yaml`);
    }
    const sdk = await loadSdk();
    const { server, close } = buildServer(sdk, {
      conn: o.remote ? { remote: o.remote } : {},
      config,
      allowAnyHost: o.allowAnyHost ?? false,
      io: { ...denoIo, stdout: (b) => denoIo.stderr(b) },
    });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(b);
    const client = new Client({ name: "unit", version: "1" });
    await client.connect(a);
    try {
      await fn(client);
    } finally {
      await client.close();
      await close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The text of a result. */
function text(r: { content?: unknown }): string {
  return (r.content as { text: string }[]).map((c) => c.text).join("\n");
}

const TWO_HOSTS = `hosts:
  web1: deploy@web1.example.invalid
  web2: deploy@web2.example.invalid
groups:
  front: {hosts: [web1]}
  all-web: {hosts: [web1, web2]}
`;

Deno.test("MCP tools: each declares input and output schemas and truthful hints", async () => {
  await withServer(TWO_HOSTS, {}, async (client) => {
    const tools = (await client.listTools()).tools as Tool[];
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, [
      "check",
      "exec",
      "hosts",
      "job_kill",
      "job_output",
      "job_wait",
      "jobs",
      "list",
      "pull",
      "push",
      "read_file",
      "stat",
      "write_file",
    ]);
    const readOnly = new Set([
      "check",
      "hosts",
      "job_output",
      "job_wait",
      "jobs",
      "list",
      "read_file",
      "stat",
    ]);
    for (const t of tools) {
      assert.ok(t.outputSchema?.properties, `${t.name}: output schema`);
      assert.equal(t.annotations?.readOnlyHint, readOnly.has(t.name), `${t.name}: readOnlyHint`);
      assert.equal(t.annotations?.destructiveHint, !readOnly.has(t.name), `${t.name}: destructive`);
    }
    const exec = tools.find((t) => t.name === "exec")!;
    for (
      const key of [
        "host",
        "argv",
        "script",
        "cwd",
        "env",
        "stdin",
        "timeout_s",
        "wait_s",
        "max_output",
      ]
    ) {
      assert.ok(exec.inputSchema.properties?.[key], `exec takes ${key}`);
    }
    for (const key of ["status", "exit_code", "stdout", "stdout_bytes", "truncated", "job_id"]) {
      assert.ok(exec.outputSchema?.properties?.[key], `exec returns ${key}`);
    }
  });
});

Deno.test("MCP hosts: the configured names and groups of one host; others refused by name", async () => {
  await withServer(TWO_HOSTS, {}, async (client) => {
    const hosts = await client.callTool({ name: "hosts", arguments: {} });
    assert.deepEqual(hosts.structuredContent, {
      hosts: ["web1", "web2", "@front"],
      default: null,
      any_host: false,
    });
    // Two hosts: a call must name one; an unknown name is refused, naming the allowed ones.
    const none = await client.callTool({ name: "exec", arguments: { argv: ["true"] } });
    assert.equal(none.isError, true);
    assert.match(
      text(none),
      /No host given and no default host: name one of web1, web2, @front/,
    );
    const other = await client.callTool({
      name: "exec",
      arguments: { host: "db9", argv: ["true"] },
    });
    assert.equal(other.isError, true);
    assert.match(
      text(other),
      /"db9" is not served here; allowed: web1, web2, @front/,
    );
    assert.match(text(other), /--allow-any-host/);
    // Bad arguments are errors before anything connects.
    for (
      const args of [
        { host: "web1" },
        { host: "web1", argv: [] },
        { host: "web1", argv: ["true"], script: "true" },
        { host: "web1", argv: ["cat"], stdin: "a", stdin_base64: "YQ==" },
      ]
    ) {
      const r = await client.callTool({ name: "exec", arguments: args });
      assert.equal(r.isError, true, JSON.stringify(args));
      assert.match(text(r), /UsageError/);
    }
    const bad = await client.callTool({ name: "job_output", arguments: { job_id: "j9" } });
    assert.match(text(bad), /No job "j9"/);
  });
  await withServer(null, { remote: "me@box.example.invalid" }, async (client) => {
    const hosts = await client.callTool({ name: "hosts", arguments: {} });
    assert.deepEqual(hosts.structuredContent, {
      hosts: ["me@box.example.invalid"],
      default: "me@box.example.invalid",
      any_host: false,
    });
  });
  await withServer(null, { allowAnyHost: true }, async (client) => {
    const hosts = await client.callTool({ name: "hosts", arguments: {} });
    assert.deepEqual(hosts.structuredContent, { hosts: [], default: null, any_host: true });
    // An empty name is no host at all (never "this machine").
    for (const host of ["", "  "]) {
      const r = await client.callTool({ name: "exec", arguments: { host, argv: ["true"] } });
      assert.equal(r.isError, true);
      assert.match(text(r), /An empty host name names no host/);
    }
  });
});
