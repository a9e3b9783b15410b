/**
 * The part of the MCP TypeScript SDK (v1 API) and of zod the server uses, loaded at run time
 * (`importNpm`: the CLI's other commands do not pay for them at start-up), typed by the surface
 * below so the rest of the server does not lean on the SDK's generics.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- a bare name would break `deno run <url>` (see util/deps.ts).
import type * as Zod from "npm:zod@^4.1.0";
import { importNpm } from "../../util/npm.ts";

/** The SDK version range yonder is built and tested with. */
export const SDK = "npm:@modelcontextprotocol/sdk@^1.32.2";
/** The zod the SDK accepts (`^3.25 || ^4`), the one the config schema uses. */
export const ZOD = "npm:zod@^4.1.0";

/** zod's namespace. */
export type Z = typeof Zod;

/** A tool call's context, as the SDK hands it to a handler. */
export interface ToolExtra {
  /** Aborted when the client cancels the call (`notifications/cancelled`) or goes away. */
  signal: AbortSignal;
  /** The request's `_meta` (its `progressToken`, if any). */
  _meta?: { progressToken?: string | number };
  /** Sends a notification tied to this request. */
  sendNotification(n: { method: string; params: Record<string, unknown> }): Promise<void>;
}

/** What a tool returns. */
export interface ToolResult {
  content: { type: "text"; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

/** A tool's description. */
export interface ToolConfig {
  title?: string;
  description: string;
  inputSchema: Record<string, Zod.ZodType>;
  outputSchema?: Record<string, Zod.ZodType>;
  annotations: {
    readOnlyHint: boolean;
    destructiveHint: boolean;
    idempotentHint: boolean;
    openWorldHint?: boolean;
  };
}

/** An elicitation's answer. */
export interface ElicitAnswer {
  action: "accept" | "decline" | "cancel";
  content?: Record<string, unknown>;
}

/** The server: `McpServer` with the low-level `Server` under it. */
export interface SdkServer {
  registerTool(
    name: string,
    config: ToolConfig,
    // deno-lint-ignore no-explicit-any -- each handler parses its own arguments' type
    cb: (args: any, extra: ToolExtra) => Promise<ToolResult>,
  ): unknown;
  server: {
    getClientCapabilities(): { elicitation?: unknown } | undefined;
    elicitInput(
      params: { message: string; requestedSchema: Record<string, unknown> },
      options?: { timeout?: number; signal?: AbortSignal },
    ): Promise<ElicitAnswer>;
    onclose?: () => void;
  };
  connect(transport: unknown): Promise<void>;
  close(): Promise<void>;
}

/** The SDK's classes and zod, loaded. */
export interface Sdk {
  McpServer: new (
    info: { name: string; version: string },
    options?: { instructions?: string; capabilities?: Record<string, unknown> },
  ) => SdkServer;
  StdioServerTransport: new () => { onclose?: () => void; close(): Promise<void> };
  z: Z;
}

/** Loads the SDK and zod. */
export async function loadSdk(): Promise<Sdk> {
  const [mcp, stdio, z] = await Promise.all([
    importNpm<{ McpServer: Sdk["McpServer"] }>(`${SDK}/server/mcp.js`),
    importNpm<{ StdioServerTransport: Sdk["StdioServerTransport"] }>(`${SDK}/server/stdio.js`),
    importNpm<Z>(ZOD),
  ]);
  return { McpServer: mcp.McpServer, StdioServerTransport: stdio.StdioServerTransport, z };
}
