/**
 * yonder: run commands and move files on remote machines by driving the system OpenSSH client.
 *
 * ```ts ignore
 * import { SshEnvironment } from "./mod.ts";
 * await using env = await SshEnvironment.open("ssh://deploy@build.example.com:22/srv/app");
 * const r = await env.exec(["make", "test"], { timeoutMs: 600_000 });
 * console.log(r.code, new TextDecoder().decode(r.stdout));
 * ```
 *
 * @module
 */

export type {
  Become,
  ChildProcess,
  Environment,
  ExecOptions,
  ExecResult,
  Logger,
  ShellCommand,
  ShellValue,
  SpawnOptions,
  SpawnStatus,
  StartedCommand,
} from "./lib/core/environment.ts";
export { shellTemplate } from "./lib/core/template.ts";
export {
  type Hooks,
  type Operation,
  type OperationName,
  type Outcome,
  withHooks,
} from "./lib/core/hooks.ts";
export {
  SshEnvironment,
  type SshEnvironmentOptions,
  type SshExecSettings,
} from "./lib/ssh/environment.ts";
export { LocalEnvironment, type LocalEnvironmentOptions } from "./lib/local/environment.ts";
export type { HostKeyPolicy, SshConnectOptions } from "./lib/ssh/options.ts";
export { formatTarget, parseTarget, type Target } from "./lib/core/target.ts";
export {
  CommandFailed,
  FileError,
  NoSpace,
  NotADirectory,
  NotFound,
  PermissionDenied,
  SshConnectError,
  type SshConnectErrorKind,
  SshConnectionLost,
  TargetError,
  TimedOut,
  UsageError,
  YonderError,
} from "./lib/core/errors.ts";
export { type FilteredEnv, filterEnv, isSensitiveEnvName } from "./lib/core/env_filter.ts";
export {
  appendAudit,
  AUDIT_GENESIS,
  type AuditArgs,
  type AuditCheck,
  auditEvent,
  auditHooks,
  type AuditOptions,
  verifyAudit,
} from "./lib/core/audit.ts";
export { guard, type GuardOptions, pathResolver } from "./lib/config/guard.ts";
export {
  DEFAULT_FORKS,
  type DoneEvent,
  type ErrorEvent,
  type FanOutOptions,
  Fleet,
  type FleetEvent,
  type FleetExecOptions,
  type HostOpener,
  type LineEvent,
  type SkippedEvent,
} from "./lib/fleet/fleet.ts";
export { expandHosts, foldHosts } from "./lib/fleet/hosts.ts";
export { type Sandbox, SandboxError, withSandbox } from "./lib/config/sandbox.ts";
export { BecomeError } from "./lib/ssh/become.ts";
export { type Forward, type ForwardSpec, parseForward } from "./lib/ssh/forward.ts";
export {
  decide,
  type Decision,
  type PathRoots,
  type Policy,
  type PolicyHookOptions,
  policyHooks,
  PolicyRefused,
  type PolicyRequest,
  type PolicyRule,
  type Verdict,
  type WordMatch,
} from "./lib/core/policy.ts";
export type {
  DownloadOptions,
  FileInfo,
  FileOps,
  FileType,
  ListOptions,
  MkdirOptions,
  ReadFileOptions,
  RemoveOptions,
  StatOptions,
  TransferProgress,
  WriteFileOptions,
} from "./lib/core/files.ts";
export type {
  Conflict,
  PullOptions,
  PullResult,
  PushOptions,
  TreeOps,
  TreeOptions,
  TreeResult,
} from "./lib/core/tree_types.ts";
export { push } from "./lib/tree/push.ts";
export { pull } from "./lib/tree/pull.ts";
export type { FileOpsHost } from "./lib/tree/file_ops_host.ts";
export { EnvironmentBase } from "./lib/tree/environment_base.ts";
export { isTransient, type RetryOptions, withRetry } from "./lib/core/retry.ts";
export { shellQuote } from "./lib/core/quote.ts";
export { VERSION } from "./lib/core/version.ts";
