// deno-lint-ignore-file no-console -- a bench script reports on stdout
/**
 * `deno task bench`: speed figures as ratios against raw OpenSSH measured in the same run on the
 * same native sshd fixture. Absolute times on shared machines drift; the ratios are the targets.
 *
 * Sections: `cold` (CLI process vs `ssh host true`), `warm` (library exec per call over the
 * master vs `ssh -S socket host true`), plus the files and session sections when present. Pick
 * sections with arguments: `deno task bench cold warm`.
 *
 * @module
 */

import { type SshdFixture, startSshd } from "../tests/fixtures/sshd.ts";
import { SshEnvironment } from "../lib/ssh/environment.ts";
import { guard } from "../lib/config/guard.ts";
import type { Environment } from "../lib/core/environment.ts";
import { benchFiles, fixtureCliFlags } from "./bench_files.ts";
import { benchMcp } from "./bench_mcp.ts";
import { benchFleet } from "./bench_fleet.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** `deno task bundle` without its output path: the start-up path loads no npm or node: module. */
export const BUNDLE_ARGS = [
  "bundle",
  "--quiet",
  "--minify",
  "--code-splitting",
  "--external",
  "npm:*",
];

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Milliseconds one run of `fn` takes. */
export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Runs a program to completion and fails loudly if it fails. */
export async function runOk(program: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(program, { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")} exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** Prints one result line: name, medians, ratio and whether it meets the target. */
export function report(
  name: string,
  ours: number,
  raw: number,
  target: { max?: number; min?: number },
  unit = "ms",
): void {
  const ratio = ours / raw;
  const ok = (target.max === undefined || ratio <= target.max) &&
    (target.min === undefined || ratio >= target.min);
  const goal = target.max !== undefined ? `<= ${target.max}x` : `>= ${target.min}x`;
  console.log(
    `${name.padEnd(44)} yonder ${ours.toFixed(2).padStart(8)} ${unit}  raw ${
      raw.toFixed(2).padStart(8)
    } ${unit}  ratio ${ratio.toFixed(3)}  target ${goal}  ${ok ? "MET" : "MISSED"}`,
  );
}

/** Cold first call: a fresh `yonder exec` process vs a fresh `ssh host true`. */
async function benchCold(f: SshdFixture, runs: number): Promise<void> {
  const bundleDir = await Deno.makeTempDir();
  const bundle = `${bundleDir}/main.js`;
  await runOk(Deno.execPath(), [...BUNDLE_ARGS, "--outdir", bundleDir, MAIN]);
  const raw: number[] = [];
  const viaMain: number[] = [];
  const viaBundle: number[] = [];
  const sshArgs = [...f.sshArgv.slice(1), "true"];
  const yonder = (entry: string) => [
    "run",
    "-A",
    "--quiet",
    entry,
    "exec",
    ...fixtureCliFlags(f),
    "--",
    "true",
  ];
  // Warm the module cache once so the runs measure start-up, not the first compile.
  await runOk(Deno.execPath(), yonder(MAIN));
  await runOk(Deno.execPath(), yonder(bundle));
  for (let i = 0; i < runs; i++) {
    raw.push(await timeIt(() => runOk("ssh", sshArgs)));
    viaMain.push(await timeIt(() => runOk(Deno.execPath(), yonder(MAIN))));
    viaBundle.push(await timeIt(() => runOk(Deno.execPath(), yonder(bundle))));
  }
  // A CLI call over a connection kept by --persist, vs raw ssh over its own mux socket.
  const runtime = await Deno.makeTempDir();
  await Deno.chmod(runtime, 0o700);
  const persisted = (
    entry: string,
  ) => [...yonder(entry).slice(0, 5), "--persist=60", ...yonder(entry).slice(5)];
  const env = { XDG_RUNTIME_DIR: runtime };
  const runEnv = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      env,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  };
  await runEnv(persisted(MAIN));
  const socket = [...Deno.readDirSync(`${runtime}/yonder`)].find((e) =>
    /^[0-9a-f]{16}$/.test(e.name)
  )!;
  const muxArgs = ["-S", `${runtime}/yonder/${socket.name}`, "-T", "-n", f.sshArgv.at(-1)!, "true"];
  const viaPersist: number[] = [];
  const viaPersistBundle: number[] = [];
  const rawMux: number[] = [];
  for (let i = 0; i < runs; i++) {
    rawMux.push(await timeIt(() => runOk("ssh", muxArgs)));
    viaPersist.push(await timeIt(() => runEnv(persisted(MAIN))));
    viaPersistBundle.push(await timeIt(() => runEnv(persisted(bundle))));
  }
  await runEnv(["run", "-A", "--quiet", MAIN, "stop", "--all"]);
  await Deno.remove(runtime, { recursive: true });
  await Deno.remove(bundleDir, { recursive: true });
  console.log(`\n# cold first call (${runs} runs each, interleaved)`);
  report("yonder exec (bundle) vs ssh host true", median(viaBundle), median(raw), { max: 1.3 });
  report("yonder exec (deno run main.ts) vs ssh host true", median(viaMain), median(raw), {
    max: 1.3,
  });
  console.log(`\n# CLI call over a --persist connection (${runs} runs each, interleaved)`);
  report("exec --persist (main.ts) vs ssh -S sock host true", median(viaPersist), median(rawMux), {
    max: 1.5,
  });
  report(
    "exec --persist (bundle) vs ssh -S sock host true",
    median(viaPersistBundle),
    median(rawMux),
    {
      max: 1.5,
    },
  );
  report("exec --persist (main.ts) vs a cold ssh host true", median(viaPersist), median(raw), {
    max: 1,
  });
  console.log(
    `${"deno start alone (deno run -e 0), for scale".padEnd(44)} ${
      (await denoFloor(runs)).toFixed(2)
    } ms`,
  );
}

/** How long Deno takes to start and run nothing, the floor of any CLI call in this run. */
async function denoFloor(runs: number): Promise<number> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/nothing.ts`, "");
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(await timeIt(() => runOk(Deno.execPath(), ["run", "--quiet", `${dir}/nothing.ts`])));
  }
  await Deno.remove(dir, { recursive: true });
  return median(times);
}

/** Warm exec per call through the library over the master vs `ssh -S socket host true`. */
async function benchWarm(f: SshdFixture, calls: number): Promise<void> {
  await using env = await SshEnvironment.open(f.target, { ...f.connect, session: false });
  const host = f.sshArgv.at(-1)!;
  const rawArgs = ["-S", env.controlPath!, "-T", "-n", host, "true"];
  for (let i = 0; i < 10; i++) {
    await env.exec(["true"]);
    await runOk("ssh", rawArgs);
  }
  const ours: number[] = [];
  const raw: number[] = [];
  const block = 20;
  for (let done = 0; done < calls; done += block) {
    for (let i = 0; i < block; i++) {
      ours.push(
        await timeIt(async () => {
          const r = await env.exec(["true"]);
          if (r.code !== 0) throw new Error(`exec failed: ${r.code}`);
        }),
      );
    }
    for (let i = 0; i < block; i++) raw.push(await timeIt(() => runOk("ssh", rawArgs)));
  }
  // The same raw loop from a shell, without Deno's spawn in the way.
  const loop = await new Deno.Command("bash", {
    args: [
      "-c",
      `s=$(date +%s%N); for i in $(seq ${calls}); do ssh -S '${env.controlPath}' -T -n ${host} true || exit 1; done; e=$(date +%s%N); echo $(( (e - s) / ${calls} ))`,
    ],
    stdout: "piped",
  }).output();
  const shellLoopMs = Number(new TextDecoder().decode(loop.stdout).trim()) / 1e6;
  console.log(
    `\n# warm exec per call over the master (${calls} calls each, in blocks of ${block})`,
  );
  report("env.exec(['true']) vs ssh -S sock host true", median(ours), median(raw), { max: 1.15 });
  report("env.exec(['true']) vs bash loop of ssh -S", median(ours), shellLoopMs, { max: 1.15 });
}

/** Runs `calls` calls with `concurrency` workers; returns calls per second and failures. */
async function throughput(
  run: () => Promise<boolean>,
  calls: number,
  concurrency: number,
): Promise<{ perSecond: number; failures: number }> {
  let next = 0;
  let failures = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < calls) {
      next++;
      if (!await run()) failures++;
    }
  }));
  return { perSecond: calls / ((performance.now() - t) / 1000), failures };
}

/** asyncssh (Debian's python3-asyncssh) on the same host, if installed: per call and throughput. */
async function benchAsyncssh(
  f: SshdFixture,
  calls: number,
  concurrency: number,
): Promise<{ perCallMs: number; perSecond: number; failures: number } | string> {
  const python = "/usr/bin/python3";
  const probe = await new Deno.Command(python, { args: ["-c", "import asyncssh"], stderr: "null" })
    .output().catch(() => null);
  if (!probe || probe.code !== 0) return "python3-asyncssh is not installed";
  const script = new URL("./bench_asyncssh.py", import.meta.url).pathname;
  const out = await new Deno.Command(python, {
    args: [
      script,
      "127.0.0.1",
      String(f.port),
      f.user,
      f.identityFile,
      f.knownHostsFile,
      String(calls),
      String(concurrency),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) return `asyncssh run failed: ${new TextDecoder().decode(out.stderr).trim()}`;
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * The floor of any shell-based fast path: a bare bash over the same master that forks and execs
 * the command in its own process group, waits, and writes one marker on each stream. No nonce,
 * no parsing, no library: what remains is the OS cost of fork, exec and the round trip.
 */
async function bareShellLoop(controlPath: string, host: string) {
  const p = new Deno.Command("ssh", {
    args: ["-S", controlPath, "-T", host, "bash --noprofile --norc"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  const readers = [p.stdout.getReader(), p.stderr.getReader()];
  const enc = new TextEncoder();
  const waitFor = async (r: ReadableStreamDefaultReader<Uint8Array>) => {
    while (true) {
      const { value, done } = await r.read();
      if (done) throw new Error("bare shell ended");
      if (value.at(-1) === 0x0a) return;
    }
  };
  await w.write(enc.encode("set -m\n"));
  return {
    async call(): Promise<void> {
      await w.write(enc.encode(
        "( exec /bin/true\n) </dev/null & { wait $!; } 2>/dev/null; echo $? >&2; echo e\n",
      ));
      await Promise.all(readers.map(waitFor));
    },
    async close(): Promise<void> {
      await w.close();
      await p.status;
    },
  };
}

/** Session fast path vs the master path vs raw `ssh -S` per call, and throughput at 50. */
async function benchSession(f: SshdFixture): Promise<void> {
  const calls = 500;
  await using sessions = await SshEnvironment.open(f.target, { ...f.connect });
  await using channels = await SshEnvironment.open(f.target, { ...f.connect, session: false });
  const host = f.sshArgv.at(-1)!;
  const rawArgs = ["-S", channels.controlPath!, "-T", "-n", host, "/bin/true"];
  const ok = async (env: SshEnvironment) => (await env.exec(["/bin/true"])).code === 0;
  for (let i = 0; i < 20; i++) {
    await ok(sessions);
    await ok(channels);
    await runOk("ssh", rawArgs);
  }
  const s: number[] = [];
  const m: number[] = [];
  const raw: number[] = [];
  const bare: number[] = [];
  const floor = await bareShellLoop(channels.controlPath!, host);
  for (let i = 0; i < 20; i++) await floor.call();
  const block = 25;
  for (let done = 0; done < calls; done += block) {
    for (let i = 0; i < block; i++) bare.push(await timeIt(() => floor.call()));
    for (let i = 0; i < block; i++) s.push(await timeIt(() => ok(sessions)));
    for (let i = 0; i < block; i++) m.push(await timeIt(() => ok(channels)));
    for (let i = 0; i < block; i++) raw.push(await timeIt(() => runOk("ssh", rawArgs)));
  }
  console.log(`\n# session fast path, /bin/true (${calls} sequential calls each, interleaved)`);
  report("session exec vs ssh -S sock host /bin/true", median(s), median(raw), { max: 0.1 });
  report("master-path exec vs ssh -S sock host /bin/true", median(m), median(raw), { max: 1.15 });
  await floor.close();
  console.log(
    `${"bare bash loop (fork+exec floor) per call".padEnd(44)} ${median(bare).toFixed(2)} ms = ${
      (median(bare) / median(raw)).toFixed(3)
    }x raw; session exec is ${(median(s) / median(bare)).toFixed(2)}x this floor`,
  );
  const tp = await throughput(() => ok(sessions), 3000, 50);
  console.log(
    `${"session throughput at concurrency 50".padEnd(44)} ${
      tp.perSecond.toFixed(0)
    } calls/s, ${tp.failures} failures  target >= 1000 calls/s  ${
      tp.perSecond >= 1000 && tp.failures === 0 ? "MET" : "MISSED"
    }`,
  );
  const a = await benchAsyncssh(f, calls, 50);
  if (typeof a === "string") {
    console.log(`asyncssh: skipped (${a})`);
  } else {
    report("session exec vs asyncssh conn.run (per call)", median(s), a.perCallMs, { max: 1 });
    console.log(
      `${"asyncssh throughput at concurrency 50".padEnd(44)} ${
        a.perSecond.toFixed(0)
      } calls/s, ${a.failures} failures (capped at 9 channels: sshd MaxSessions 10)`,
    );
    console.log(
      `${"session / asyncssh throughput".padEnd(44)} ${(tp.perSecond / a.perSecond).toFixed(2)}x`,
    );
  }
}

/**
 * Policy and audit overhead on the session path: the same calls through `guard()` (a policy of
 * 20 rules, regexes among them, the allowed rule last; an audit line per call) and bare.
 */
async function benchPolicy(f: SshdFixture): Promise<void> {
  const calls = 600;
  const dir = await Deno.makeTempDir({ prefix: "yonder-bench-policy-" });
  try {
    await using bare = await SshEnvironment.open(f.target, { ...f.connect });
    const rules = Array.from({ length: 19 }, (_, i) => ({
      id: `r${i}`,
      decision: "deny" as const,
      program: `tool${i}`,
      some: { re: `^--opt${i}=.*$` },
    }));
    const policy = {
      rules: [...rules, { id: "true", decision: "allow" as const, program: "/bin/true" }],
    };
    const policed = guard(bare, { policy });
    const audited = guard(bare, { policy, audit: { path: `${dir}/audit.jsonl` } });
    const ok = async (env: Environment) => (await env.exec(["/bin/true"])).code === 0;
    for (let i = 0; i < 30; i++) {
      await ok(bare);
      await ok(policed);
      await ok(audited);
    }
    const times: number[][] = [[], [], []];
    // In blocks: an audited call's line is written after it returns, while the next call runs;
    // alternating call by call would charge that write to the other side.
    const block = 50;
    for (let done = 0; done < calls; done += block) {
      for (const [k, env] of [bare, policed, audited].entries()) {
        for (let i = 0; i < block; i++) times[k]!.push(await timeIt(() => ok(env)));
      }
    }
    await audited.close();
    console.log(`\n# policy and audit on the session path (${calls} calls each, blocks of 50)`);
    const [plain, p, a] = times.map(median) as [number, number, number];
    report("policy (20 rules) vs bare session exec", p, plain, { max: 1.05 });
    report("policy + audit line vs bare session exec", a, plain, { max: 1.05 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sections beyond the exec core register here (files, session). */
export const extraSections: Record<string, (f: SshdFixture) => Promise<void>> = {
  session: benchSession,
  policy: benchPolicy,
  files: (f) => benchFiles(f, 9),
  mcp: (f) => benchMcp(f),
  fleet: benchFleet,
};

if (import.meta.main) {
  const wanted = new Set(Deno.args);
  const want = (name: string) => wanted.size === 0 || wanted.has(name);
  await using f = await startSshd();
  console.log(`yonder bench on ${f.target} (${Deno.build.os}, deno ${Deno.version.deno})`);
  if (want("cold")) await benchCold(f, 20);
  if (want("warm")) await benchWarm(f, 200);
  for (const [name, fn] of Object.entries(extraSections)) {
    if (want(name)) await fn(f);
  }
}
