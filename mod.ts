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

export type { Environment, ExecOptions, ExecResult, Logger } from "./lib/environment.ts";
export { SshEnvironment, type SshEnvironmentOptions } from "./lib/ssh/environment.ts";
export { LocalEnvironment, type LocalEnvironmentOptions } from "./lib/local_environment.ts";
export type { HostKeyPolicy, SshConnectOptions } from "./lib/ssh/options.ts";
export { formatTarget, parseTarget, type Target } from "./lib/target.ts";
export {
  FileError,
  NoSpace,
  NotADirectory,
  NotFound,
  PermissionDenied,
  SshConnectError,
  type SshConnectErrorKind,
  SshConnectionLost,
  TargetError,
  UsageError,
  YonderError,
} from "./lib/errors.ts";
export { filterEnv, isSensitiveEnvName } from "./lib/env_filter.ts";
export type {
  DownloadOptions,
  FileInfo,
  FileOps,
  FileType,
  ListOptions,
  MkdirOptions,
  ReadFileOptions,
  RemoveOptions,
  TransferProgress,
  WriteFileOptions,
} from "./lib/files.ts";
export type {
  Conflict,
  PullOptions,
  PullResult,
  PushOptions,
  TreeOps,
  TreeOptions,
  TreeResult,
} from "./lib/tree/types.ts";
export { push } from "./lib/tree/push.ts";
export { pull } from "./lib/tree/pull.ts";
export { isTransient, type RetryOptions, withRetry } from "./lib/retry.ts";
export { shellQuote } from "./lib/quote.ts";
export { main } from "./lib/cli/main.ts";
export { VERSION } from "./lib/version.ts";
