/**
 * The helper every live test uses: {@linkcode liveSshTest} registers a test named `live_ssh …`
 * (so `deno test --filter live_ssh` selects exactly them) that skips with a one-line reason when
 * no sshd can be had, except under CI, where it fails instead; {@linkcode openLiveHost} gives the
 * test a host to run against.
 *
 * The host is the native sshd fixture (`tests/fixtures/sshd.ts`), or an existing machine when
 * `YONDER_SSH_TEST_HOST=user@host[:port]` is set (reached with the user's own ssh config and agent).
 *
 * @example
 * ```ts
 * import { liveSshTest, openLiveHost } from "./_live.ts";
 * liveSshTest("remote whoami prints a user", async () => {
 *   await using host = await openLiveHost();
 *   const r = await host.remote("whoami");
 *   if (r.code !== 0) throw new Error(r.stderr);
 * });
 * ```
 *
 * @module
 */

import { dockerSkipReasonSync, type DockerSshd, startDockerSshd } from "./fixtures/docker_sshd.ts";
import {
  findOnPath,
  findSshd,
  type RemoteResult,
  runSshScript,
  type SshdFixture,
  startSshd,
} from "./fixtures/sshd.ts";

/** The environment variable naming an existing host for live tests: `user@host[:port]`. */
export const TEST_HOST_ENV = "YONDER_SSH_TEST_HOST";

/** Connection options for yonder; empty for an external host (its own ssh config applies). */
export interface LiveConnect {
  /** The client's private key. */
  identityFile?: string;
  /** A `known_hosts` file trusting the host key. */
  knownHostsFile?: string;
  /** Host keys are checked against `knownHostsFile` and never added. */
  hostKeyPolicy?: "strict";
}

/** A host a live test runs against; dispose it (`await using`) when done. */
export interface LiveHost {
  /** The native sshd fixture, the Docker one, or `YONDER_SSH_TEST_HOST`. */
  kind: "native" | "docker" | "external";
  /** `ssh://user@host[:port]`, the target to hand to yonder. */
  target: string;
  /** Connection options to hand to yonder along with `target`. */
  connect: LiveConnect;
  /** The fixture behind this host, when the tests started one. */
  fixture?: SshdFixture;
  /** Argv prefix that runs the raw ssh client against this host, host last. */
  sshArgv: string[];
  /** Runs `sh -c script` on the host through plain ssh (not through yonder). */
  remote(script: string): Promise<RemoteResult>;
  /** Stops the fixture, if one was started. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode openLiveHost}. */
export interface LiveHostOptions {
  /** `MaxSessions` of the native fixture (ignored for an external host). */
  maxSessions?: number;
}

/** `user@host[:port]` split up; undefined when malformed. */
function parseTestHost(
  value: string,
): { user: string; host: string; port?: number } | undefined {
  const m = /^([^@\s]+)@(\[[^\]\s]+\]|[^:\s]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const host = m[2].startsWith("[") ? m[2].slice(1, -1) : m[2];
  return { user: m[1], host, ...(m[3] !== undefined ? { port: Number(m[3]) } : {}) };
}

function hostFromFixture(kind: "native" | "docker", fixture: SshdFixture): LiveHost {
  return {
    kind,
    target: fixture.target,
    connect: { ...fixture.connect },
    fixture,
    sshArgv: fixture.sshArgv,
    remote: (script) => fixture.remote(script),
    [Symbol.asyncDispose]: () => fixture[Symbol.asyncDispose](),
  };
}

/**
 * Opens the host a live test runs against: `YONDER_SSH_TEST_HOST` when set, else a fresh native
 * sshd fixture.
 *
 * @example
 * ```ts
 * import { openLiveHost } from "./_live.ts";
 * await using host = await openLiveHost({ maxSessions: 4 });
 * console.log(host.kind, host.target);
 * ```
 */
export async function openLiveHost(opts: LiveHostOptions = {}): Promise<LiveHost> {
  const external = Deno.env.get(TEST_HOST_ENV);
  if (external !== undefined && external !== "") {
    const parsed = parseTestHost(external);
    if (!parsed) {
      throw new Error(`Bad ${TEST_HOST_ENV}: "${external}": expected user@host or user@host:port`);
    }
    const hostPart = parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host;
    const sshArgv = [
      "ssh",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      ...(parsed.port !== undefined ? ["-p", String(parsed.port)] : []),
      `${parsed.user}@${parsed.host}`,
    ];
    return {
      kind: "external",
      target: `ssh://${parsed.user}@${hostPart}${
        parsed.port !== undefined ? `:${parsed.port}` : ""
      }`,
      connect: {},
      sshArgv,
      remote: (script) => runSshScript(sshArgv, script),
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
  }
  const fixture = await startSshd(
    opts.maxSessions !== undefined ? { maxSessions: opts.maxSessions } : {},
  );
  return hostFromFixture("native", fixture);
}

/**
 * Why live tests cannot run here, as one line; undefined when they can (`YONDER_SSH_TEST_HOST`
 * is set, or sshd, ssh and ssh-keygen are installed).
 *
 * @example
 * ```ts
 * import { liveSkipReason } from "./_live.ts";
 * console.log(liveSkipReason() ?? "live tests can run");
 * ```
 */
export function liveSkipReason(): string | undefined {
  const hint = `or set ${TEST_HOST_ENV}=user@host`;
  if ((Deno.env.get(TEST_HOST_ENV) ?? "") !== "") {
    return findOnPath("ssh")
      ? undefined
      : `no ssh: install openssh-client (apt-get install openssh-client)`;
  }
  if (Deno.build.os === "windows") return `no native sshd fixture on Windows: ${hint}`;
  if (!findSshd()) {
    return `no sshd: install openssh-server (apt-get install openssh-server) ${hint}`;
  }
  for (const program of ["ssh", "ssh-keygen"]) {
    if (!findOnPath(program)) {
      return `no ${program}: install openssh-client (apt-get install openssh-client) ${hint}`;
    }
  }
  if (Deno.uid() === 0) {
    for (const program of ["useradd", "usermod", "getent"]) {
      if (!findOnPath(program)) {
        return `no ${program}: the sshd fixture needs it as root to create its test user ${hint}`;
      }
    }
  }
  return undefined;
}

/** Options passed through to `Deno.test`. */
export interface LiveTestOptions {
  /** Resource sanitizer (on unless turned off; say why where you turn it off). */
  sanitizeResources?: boolean;
  /** Op sanitizer (on unless turned off; say why where you turn it off). */
  sanitizeOps?: boolean;
}

const printedReasons = new Set<string>();

function printSkipOnce(what: string, reason: string): void {
  const line = `${what} skipped: ${reason}`;
  if (printedReasons.has(line)) return;
  printedReasons.add(line);
  // deno-lint-ignore no-console
  console.error(line);
}

/**
 * Registers `Deno.test` named `live_ssh ${name}`. When live tests cannot run here it is ignored
 * with the reason printed once, except when `CI=true`: then it fails with the reason, because CI
 * must really run live tests.
 *
 * @example
 * ```ts
 * import { liveSshTest, openLiveHost } from "./_live.ts";
 * liveSshTest("exec runs true", async () => {
 *   await using host = await openLiveHost();
 *   await host.remote("true");
 * });
 * ```
 */
export function liveSshTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  opts: LiveTestOptions = {},
): void {
  const reason = liveSkipReason();
  const fullName = `live_ssh ${name}`;
  if (reason !== undefined && Deno.env.get("CI") === "true") {
    Deno.test({
      name: fullName,
      fn: () => {
        throw new Error(`Live tests cannot run under CI: ${reason}`);
      },
    });
    return;
  }
  if (reason !== undefined) printSkipOnce("live_ssh tests", reason);
  Deno.test({
    name: fullName,
    ignore: reason !== undefined,
    ...(opts.sanitizeResources !== undefined ? { sanitizeResources: opts.sanitizeResources } : {}),
    ...(opts.sanitizeOps !== undefined ? { sanitizeOps: opts.sanitizeOps } : {}),
    fn,
  });
}

let dockerReason: { value: string | undefined } | undefined;

/**
 * Registers `Deno.test` named `live_ssh docker ${name}`, run against a fresh container from
 * `tests/fixtures/docker_sshd.ts` (OpenSSH and Dropbear, one account per login shell), which `fn`
 * gets and which is removed after it, even when it fails. The image is built on first use when
 * missing. When there is no Docker engine the test is ignored with the reason printed once, except
 * when `CI=true`: then it fails with the reason, because CI must really run these tests.
 *
 * @example
 * ```ts
 * import { liveDockerTest } from "./_live.ts";
 * liveDockerTest("uname works", async (fx) => {
 *   await fx.remote("uname -a");
 *   console.log(fx.targetFor("dropbear", "fish"));
 * });
 * ```
 */
export function liveDockerTest(
  name: string,
  fn: (fx: DockerSshd, t: Deno.TestContext) => Promise<void>,
  opts: LiveTestOptions = {},
): void {
  dockerReason ??= { value: dockerSkipReasonSync() };
  const reason = dockerReason.value;
  const fullName = `live_ssh docker ${name}`;
  if (reason !== undefined && Deno.env.get("CI") === "true") {
    Deno.test({
      name: fullName,
      fn: () => {
        throw new Error(`Docker live tests cannot run under CI: ${reason}`);
      },
    });
    return;
  }
  if (reason !== undefined) printSkipOnce("live_ssh docker tests", reason);
  Deno.test({
    name: fullName,
    ignore: reason !== undefined,
    ...(opts.sanitizeResources !== undefined ? { sanitizeResources: opts.sanitizeResources } : {}),
    ...(opts.sanitizeOps !== undefined ? { sanitizeOps: opts.sanitizeOps } : {}),
    fn: async (t) => {
      await using fx = await startDockerSshd();
      await fn(fx, t);
    },
  });
}
