/**
 * The one module that knows the schema library (`npm:zod`, version 4: the MCP SDK yonder's MCP
 * server uses depends on it already, so one copy serves both). It declares what a `yonder.yaml`
 * may hold and checks a parsed document against it: unknown keys, wrong types and bad values are
 * reported with their key path; {@linkcode checkConfig} turns them into a {@linkcode ConfigError}
 * with `file:line:col`. zod is loaded at run time ({@linkcode loadSchema}), not by the module
 * graph: a command that reads no config does not pay for resolving it.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- a bare name would break `deno run <url>` (see util/deps.ts).
import type * as Zod from "npm:zod@^4.1.0";
import { importNpm } from "../util/npm.ts";
import { ConfigError, type ConfigIssue } from "./errors.ts";
import { formatPath, type KeyPath, type YamlSource } from "./yaml.ts";

type Z = typeof Zod.z;

/** The policy and audit parts of the schema. */
function policyParts(z: Z) {
  /** A word matcher: an exact word or an anchored regular expression. */
  const wordMatch = z.union([
    z.string(),
    z.strictObject({
      re: z.string().check((ctx) => {
        try {
          new RegExp(ctx.value);
        } catch (e) {
          ctx.issues.push({
            code: "custom",
            input: ctx.value,
            message: `not a regular expression: ${e instanceof Error ? e.message : String(e)}`,
          });
        }
      }),
    }),
  ]);

  const absolutePath = z.string().regex(/^\//, "expected an absolute path");
  const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected a variable name");

  const rule = z.strictObject({
    id: z.string().min(1),
    decision: z.enum(["allow", "deny", "approve"]),
    program: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    args: z.array(wordMatch).optional(),
    more: z.boolean().optional(),
    each: wordMatch.optional(),
    some: wordMatch.optional(),
    cwd: z.array(absolutePath).optional(),
    env: z.array(envName).optional(),
    shell: z.boolean().optional(),
  });

  const policy = z.strictObject({
    mode: z.enum(["allowlist", "denylist"]).optional(),
    rules: z.array(rule).optional(),
    paths: z.strictObject({
      read: z.array(z.string().min(1)).optional(),
      write: z.array(z.string().min(1)).optional(),
    }).optional(),
  });

  const audit = z.strictObject({
    enabled: z.boolean().optional(),
    path: z.string().min(1).optional(),
    args: z.enum(["none", "hash", "full"]).optional(),
    required: z.boolean().optional(),
  });

  return { rule, policy, audit, absolutePath };
}

/** The connection and exec options of `defaults`, hosts and groups. */
function optionParts(z: Z, absolutePath: ReturnType<typeof policyParts>["absolutePath"]) {
  /** A duration: seconds as a number, or a text with a unit (`500ms`, `30s`, `10m`, `1h`). */
  const duration = z.union([
    z.number().positive().max(7 * 24 * 3600),
    z.string().regex(
      /^\d+(\.\d+)?(ms|s|m|h)?$/,
      "expected a duration like 30, 1.5s, 500ms, 10m or 1h",
    ),
  ]);

  /** A bubblewrap sandbox for a host's commands. */
  const sandbox = z.strictObject({
    kind: z.literal("bwrap"),
    enabled: z.boolean().optional(),
    write: z.array(absolutePath).optional(),
    read: z.array(absolutePath).optional(),
    network: z.boolean().optional(),
    tmp: z.enum(["private", "shared"]).optional(),
    program: z.string().min(1).optional(),
  });

  /** Connection and exec options: `defaults`, and each host and group. */
  const options = {
    timeout: duration.optional(),
    connect_timeout: duration.optional(),
    session: z.union([z.enum(["stateless", "stateful"]), z.literal(false)]).optional(),
    max_output: z.number().int().positive().optional(),
    identity_file: z.string().min(1).optional(),
    jump: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    ssh_options: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9]*[= ]/, "expected KEY=VALUE"))
      .optional(),
    ssh_config: z.string().min(1).optional(),
    known_hosts: z.string().min(1).optional(),
    strict_host_key: z.boolean().optional(),
    persist: z.union([duration, z.literal(false)]).optional(),
    sandbox: sandbox.optional(),
    interactive: z.boolean().optional(),
    become: z.union([
      z.strictObject({
        method: z.enum(["sudo", "doas"]).optional(),
        user: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, "expected a user name").optional(),
        password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected a variable name")
          .optional(),
      }),
      z.literal(false),
    ]).optional(),
  };

  return { options, sandbox };
}

/** Builds the schema with the loaded zod. */
function buildSchema(z: Z) {
  const { rule, policy, audit, absolutePath } = policyParts(z);
  const { options, sandbox } = optionParts(z, absolutePath);
  const name = z.string().regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
    "expected a name of letters, digits, _ . -",
  );

  const host = z.union([
    z.string().min(1),
    z.strictObject({
      target: z.string().min(1),
      ...options,
      policy: policy.optional(),
      audit: audit.optional(),
    }),
  ]);

  const group = z.strictObject({
    hosts: z.array(name).optional(),
    children: z.array(name).optional(),
    ...options,
    policy: policy.optional(),
    audit: audit.optional(),
  });

  /** The whole file. */
  const configSchema = z.strictObject({
    version: z.literal(1).optional(),
    defaults: z.strictObject(options).optional(),
    hosts: z.record(name, host).optional(),
    groups: z.record(name, group).optional(),
    inventory: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    policy: policy.optional(),
    audit: audit.optional(),
  });
  return { configSchema, options, policy, rule, audit, sandbox };
}

/** A config file's content, as the schema accepts it (the file's own words, not yet resolved). */
export type RawConfig = Zod.z.infer<ReturnType<typeof buildSchema>["configSchema"]>;
/** The options of `defaults`, a host or a group, as written. */
export type RawOptions = NonNullable<RawConfig["defaults"]>;
/** A host entry as written: a target, or a target with options. */
export type RawHost = NonNullable<RawConfig["hosts"]>[string];
/** A group as written. */
export type RawGroup = NonNullable<RawConfig["groups"]>[string];
/** A policy section as written. */
export type RawPolicy = NonNullable<RawConfig["policy"]>;
/** An audit section as written. */
export type RawAudit = NonNullable<RawConfig["audit"]>;

/** The edit distance of two short words (for "did you mean"). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggestion(key: string): string {
  let best = "";
  let bestD = 3;
  for (const k of knownKeys) {
    const d = distance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best === "" ? "" : ` (did you mean "${best}"?)`;
}

/** One zod issue as config issues (an unknown-keys issue names each key at its own place). */
function toIssues(src: YamlSource, issue: Zod.z.core.$ZodIssue, base: KeyPath = []): ConfigIssue[] {
  const path = [...base, ...issue.path.filter((p): p is string | number => typeof p !== "symbol")];
  const at = (message: string, key = false): ConfigIssue => ({
    file: src.file,
    ...src.locate(path, key),
    path: formatPath(path),
    message,
  });
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => ({
        file: src.file,
        ...src.locate([...path, k], true),
        path: formatPath([...path, k]),
        message: `unknown key${suggestion(k)}`,
      }));
    case "invalid_type":
      return [
        at(
          issue.input === undefined
            ? `missing (expected ${issue.expected})`
            : `expected ${issue.expected}, not ${describe(issue.input)}`,
        ),
      ];
    case "invalid_union": {
      // The branch that got past the type of the value itself says what is wrong inside it
      // (`hosts.web1.max_output`); when none did, the value has none of the accepted types.
      const deeper = issue.errors.find((branch) =>
        !branch.every((i) => i.code === "invalid_type" && i.path.length === 0)
      );
      if (deeper) return deeper.flatMap((i) => toIssues(src, i, path));
      const expected = issue.errors.flatMap((b) =>
        b.flatMap((i) => i.code === "invalid_type" ? [i.expected] : [])
      );
      return [at(`expected ${[...new Set(expected)].join(" or ")}, not ${describe(issue.input)}`)];
    }
    case "invalid_value":
      return [
        at(
          `expected ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, not ${
            describe(issue.input)
          }`,
        ),
      ];
    default:
      return [at(issue.message)];
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Checks a parsed config against the schema; returns it typed, or throws a
 * {@linkcode ConfigError} listing every problem with `file:line:col` and key path.
 *
 * @example
 * ```ts
 * import { parseYaml } from "./yaml.ts";
 * import { checkConfig } from "./schema.ts";
 * try {
 *   checkConfig(parseYaml("defaults:\n  timout: 30\n", "yonder.yaml"));
 * } catch (e) {
 *   console.error(String(e)); // yonder.yaml:2:3: defaults.timout: unknown key (did you mean "timeout"?)
 * }
 * ```
 */
let built: ReturnType<typeof buildSchema> | null = null;
let knownKeys: readonly string[] = [];

/**
 * Loads zod and builds the schema (once); {@linkcode checkConfig} needs it.
 *
 * @example
 * ```ts
 * import { loadSchema } from "./schema.ts";
 * await loadSchema();
 * ```
 */
export async function loadSchema(): Promise<void> {
  if (built) return;
  const { z } = await importNpm<typeof Zod>("npm:zod@^4.1.0");
  const b = buildSchema(z);
  built = b;
  knownKeys = [
    ...Object.keys(b.configSchema.shape),
    ...Object.keys(b.options),
    "target",
    "hosts",
    "children",
    ...Object.keys(b.policy.shape),
    ...Object.keys(b.rule.shape),
    "read",
    "write",
    ...Object.keys(b.audit.shape),
    ...Object.keys(b.sandbox.shape),
    "method",
    "user",
    "password_env",
  ];
}

export function checkConfig(src: YamlSource): RawConfig {
  if (!built) throw new Error("checkConfig() before loadSchema()");
  // An empty file is an empty config.
  const value = src.value ?? {};
  const result = built.configSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((i) => toIssues(src, i));
  issues.sort((a, b) => a.line - b.line || a.col - b.col);
  throw new ConfigError(issues);
}
