/**
 * What ssh's messages mean: a connect error kind, the message and hint shown for it, and the
 * command to diagnose it by hand.
 *
 * @module
 */

import {
  SshConnectError,
  type SshConnectErrorKind,
  SshConnectionLost,
  tail,
} from "../core/errors.ts";
import { formatTarget, sshDestination, type Target } from "../core/target.ts";
import type { SshConnectOptions } from "./options.ts";

/** Classifies ssh's messages into a connect error kind. */
export function classifySshError(text: string): SshConnectErrorKind {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(text)) {
    return "host_key_changed";
  }
  if (/No \S+ host key is known for|Host key verification failed/i.test(text)) {
    return "host_key_unknown";
  }
  if (
    /Permission denied \(|Too many authentication failures|No more authentication methods/i.test(
      text,
    )
  ) {
    return "auth";
  }
  if (/Connection refused/i.test(text)) return "refused";
  if (
    /Could not resolve hostname|Name or service not known|nodename nor servname|Temporary failure in name resolution|No address associated/i
      .test(text)
  ) return "dns";
  if (/No route to host|Network is unreachable|Host is unreachable/i.test(text)) {
    return "unreachable";
  }
  if (/timed out/i.test(text)) return "timeout";
  if (
    /Bad configuration option|Can't open user config file|command-line line|garbage at end of line|Unsupported option|bad .* specification|Bad port|terminating, \d+ bad configuration|Only a single -J option/i
      .test(text)
  ) return "config";
  return "unknown";
}

/** The command to run by hand to see what ssh does. */
export function diagnoseCommand(target: Target, o: SshConnectOptions): string {
  const parts = ["ssh", "-v", "-o", "BatchMode=yes"];
  const port = target.port ?? o.port;
  if (port !== undefined) parts.push("-p", String(port));
  if (o.identityFile) parts.push("-i", o.identityFile);
  if (o.configFile) parts.push("-F", o.configFile);
  if (o.jump) parts.push("-J", Array.isArray(o.jump) ? o.jump.join(",") : o.jump);
  if (o.knownHostsFile) parts.push("-o", `UserKnownHostsFile=${o.knownHostsFile}`);
  parts.push(sshDestination(target), "true");
  return parts.join(" ");
}

const MESSAGES: Record<SshConnectErrorKind, (host: string) => string> = {
  refused: (h) => `Connection to "${h}" refused: nothing listens on that port`,
  unreachable: (h) => `Host "${h}" is unreachable`,
  dns: (h) => `Cannot resolve host name of "${h}"`,
  auth: (h) => `Authentication to "${h}" failed: permission denied`,
  host_key_changed: (h) =>
    `Host key of "${h}" has changed: refusing to connect (possible man-in-the-middle)`,
  host_key_unknown: (h) => `Host key of "${h}" is not known: refusing to connect`,
  timeout: (h) => `Connection to "${h}" timed out`,
  ssh_missing: () => `The ssh program was not found`,
  config: (h) => `ssh configuration error for "${h}"`,
  unknown: (h) => `Cannot connect to "${h}"`,
};

function hintFor(
  kind: SshConnectErrorKind,
  diagnose: string,
  target: Target,
  o: SshConnectOptions,
): string {
  const port = target.port ?? o.port;
  switch (kind) {
    case "refused":
      return `Check the host and port, and that sshd runs there; diagnose with: ${diagnose}`;
    case "auth":
      return `Load the key into ssh-agent (ssh-add KEY: a key with a passphrase needs it, or ` +
        `--ask-pass on a terminal) or pass -i KEY, and check the user; diagnose with: ${diagnose}`;
    case "host_key_changed":
      return `If the change is expected, remove the old key with: ssh-keygen -R HOST (then retry)`;
    case "host_key_unknown":
      return `Add the host key to known_hosts, after checking it: ssh-keyscan ${
        port !== undefined && port !== 22 ? `-p ${port} ` : ""
      }${target.host} >> ${o.knownHostsFile ?? "~/.ssh/known_hosts"} (or drop the strict policy)`;
    case "ssh_missing":
      return `Install the OpenSSH client (apt-get install openssh-client) or pass its path`;
    case "dns":
      return `Check the host name or your ~/.ssh/config alias; diagnose with: ${diagnose}`;
    default:
      return `Diagnose with: ${diagnose}`;
  }
}

/** Builds a {@linkcode SshConnectError} from ssh's messages. */
export function connectError(
  target: Target,
  o: SshConnectOptions,
  text: string,
  exitCode: number | null,
  kind: SshConnectErrorKind = classifySshError(text),
): SshConnectError {
  // The port may come from the options (-p) rather than the target: messages name it.
  const host = formatTarget({ ...target, port: target.port ?? o.port });
  const stderrTail = tail(text);
  const detail = kind === "unknown" && stderrTail ? `: ${stderrTail.split("\n").at(-1)}` : "";
  const missingKey = /Identity file (.*) not accessible/.exec(text)?.[1];
  return new SshConnectError({
    kind,
    host,
    message: MESSAGES[kind](host) + detail +
      (kind === "auth" && missingKey ? ` (the identity file ${missingKey} does not exist)` : ""),
    exitCode,
    stderrTail,
    hint: hintFor(kind, diagnoseCommand(target, o), target, o),
  });
}

/**
 * What a failed first hop says about the account, from what its login shell wrote: a shell that
 * refuses every command (`nologin`, `false`), or no `/bin/sh` to run the wrapper. Null when
 * nothing points to either.
 */
export function loginShellHint(stderr: string): string | null {
  if (/This account is currently not available|nologin/.test(stderr)) {
    return "The account's login shell refuses commands (nologin); give it a real shell " +
      "(chsh -s /bin/sh) or use another account";
  }
  if (
    /\/bin\/sh: (No such file|not found|Permission denied)|\/bin\/sh: command not found/.test(
      stderr,
    )
  ) {
    return "The remote has no usable /bin/sh, which yonder runs every command through";
  }
  return null;
}

/**
 * The one "connection lost" error: `before` the command started (it did not run; the call may be
 * retried) or `during` it (its outcome is unknown).
 */
export function connectionLost(
  target: Target,
  when: "before" | "during" | "during-carried",
  stderrTail?: string,
): SshConnectionLost {
  const host = formatTarget(target);
  return new SshConnectionLost({
    host,
    message: when === "before"
      ? `Cannot open a channel to "${host}" over the master`
      : `Connection to "${host}" was lost while the command ran; its outcome is unknown`,
    ...(stderrTail !== undefined ? { stderrTail } : {}),
    hint: when === "before"
      ? "The connection was lost before the command started; retry the call"
      : when === "during"
      ? "The next call reconnects; check the command's effects before running it again"
      : "Check the command's effects before running it again",
  });
}
