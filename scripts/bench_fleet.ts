// deno-lint-ignore-file no-console -- a bench script reports on stdout
/**
 * `deno task bench fleet`: fan-out over 50 "hosts" (ssh_config aliases of one loopback sshd),
 * `uname -r` and a 1 MiB put, wall time in the same run for yonder and the tools people use:
 * a bare `for h …; do ssh $h … & done; wait` loop (the floor: 50 handshakes cost CPU on both
 * ends), parallel-ssh, pdsh, clush and Ansible (each at 50 forks, each skipped with a note when
 * not installed). Then warm: a second fan-out from the same process (the library's Fleet) and
 * from a `--persist`ed CLI. Set YONDER_BENCH_HOSTS for another count, YONDER_BENCH_RUNS for more
 * runs (default 3).
 *
 * @module
 */

import type { SshdFixture } from "../tests/fixtures/sshd.ts";
import { Fleet } from "../lib/fleet/fleet.ts";
import { SshEnvironment } from "../lib/ssh/environment.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Tool {
  name: string;
  /** The programs it needs. */
  needs: string[];
  /** `sh -c` script for `uname -r` on every host, and for the 1 MiB put. */
  exec: string;
  put?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function has(program: string): Promise<boolean> {
  const r = await new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
    .output();
  return r.code === 0;
}

/** Runs `script` `runs` times; the wall times in seconds, or the failure. */
async function time(script: string, runs: number, env: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = await new Deno.Command("sh", {
      args: ["-c", script],
      env,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (r.code !== 0) {
      throw new Error(`exit ${r.code}: ${new TextDecoder().decode(r.stderr).slice(-400)}`);
    }
    out.push((performance.now() - t) / 1000);
  }
  return out;
}

/** The ssh_config with `web1`…`webN`, a hosts file, an Ansible inventory, a 1 MiB file. */
async function setup(f: SshdFixture, n: number, dir: string): Promise<Record<string, string>> {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    lines.push(
      `Host web${i}`,
      "  HostName 127.0.0.1",
      `  Port ${f.port}`,
      `  User ${f.user}`,
      `  IdentityFile ${f.identityFile}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${f.knownHostsFile}`,
      "  StrictHostKeyChecking yes",
      "  BatchMode yes",
    );
  }
  const cfg = `${dir}/ssh_config`;
  await Deno.writeTextFile(cfg, lines.join("\n") + "\n");
  const hosts = Array.from({ length: n }, (_, i) => `web${i + 1}`);
  await Deno.writeTextFile(`${dir}/hosts`, hosts.join("\n") + "\n");
  await Deno.writeTextFile(
    `${dir}/inventory.ini`,
    `[web]\nweb[1:${n}]\n\n[web:vars]\nansible_ssh_common_args='-F ${cfg}'\n` +
      `ansible_python_interpreter=/usr/bin/python3\n`,
  );
  await Deno.writeFile(`${dir}/payload`, new Uint8Array(1 << 20).map((_, i) => (i * 31) % 251));
  return { cfg, hosts: `${dir}/hosts`, inv: `${dir}/inventory.ini`, file: `${dir}/payload` };
}

function tools(p: Record<string, string>, n: number): Tool[] {
  const range = `web[1-${n}]`;
  const dest = "/tmp/yonder-bench-fleet-put";
  const deno = Deno.execPath();
  return [
    {
      name: "bare ssh loop",
      needs: ["ssh"],
      exec: `for h in $(cat ${p.hosts}); do ssh -F ${p.cfg} $h uname -r >/dev/null & done; wait`,
      put:
        `for h in $(cat ${p.hosts}); do ssh -F ${p.cfg} $h "cat > ${dest}.\\$\\$ && mv ${dest}.\\$\\$ ${dest}" < ${p.file} & done; wait`,
    },
    {
      name: "yonder (CLI, cold)",
      needs: [],
      exec: `${deno} run -A ${MAIN} exec -F ${p.cfg} -r '${range}' --forks ${n} -- uname -r`,
      put: `${deno} run -A ${MAIN} put -F ${p.cfg} -r '${range}' --forks ${n} ${p.file} ${dest}`,
    },
    {
      name: "parallel-ssh",
      needs: ["parallel-ssh", "parallel-scp"],
      exec: `parallel-ssh -h ${p.hosts} -p ${n} -x "-F ${p.cfg}" uname -r`,
      put: `parallel-scp -h ${p.hosts} -p ${n} -x "-F ${p.cfg}" ${p.file} ${dest}`,
    },
    {
      name: "pdsh",
      needs: ["pdsh", "pdcp"],
      exec: `PDSH_RCMD_TYPE=ssh PDSH_SSH_ARGS="-F ${p.cfg} %h" pdsh -f ${n} -w '${range}' uname -r`,
      put:
        `PDSH_RCMD_TYPE=ssh PDSH_SSH_ARGS="-F ${p.cfg} %h" pdcp -f ${n} -w '${range}' ${p.file} ${dest}`,
    },
    {
      name: "clush",
      needs: ["clush"],
      exec: `clush -f ${n} -o "-F ${p.cfg}" -w '${range}' uname -r`,
      put: `clush -f ${n} -o "-F ${p.cfg}" -w '${range}' --copy ${p.file} --dest ${dest}`,
    },
    {
      name: "ansible -m command",
      needs: ["ansible"],
      exec: `ansible web -i ${p.inv} -f ${n} -m command -a 'uname -r'`,
      put: `ansible web -i ${p.inv} -f ${n} -m copy -a 'src=${p.file} dest=${dest}'`,
    },
  ];
}

/** Fan-out bench: cold for every tool, then yonder warm. */
export async function benchFleet(f: SshdFixture): Promise<void> {
  const n = Number(Deno.env.get("YONDER_BENCH_HOSTS") ?? 50);
  const runs = Number(Deno.env.get("YONDER_BENCH_RUNS") ?? 3);
  const dir = await Deno.makeTempDir({ prefix: "yonder-bench-fleet-" });
  // Ansible: no connection kept between runs (a cold fan-out), no host key prompts, quiet.
  const env = {
    ANSIBLE_SSH_ARGS: "-o ControlMaster=no",
    ANSIBLE_HOST_KEY_CHECKING: "False",
    ANSIBLE_LOCALHOST_WARNING: "False",
    ANSIBLE_DEPRECATION_WARNINGS: "False",
    ANSIBLE_LOCAL_TEMP: `${dir}/ansible-local`,
    // The remote account makes its own temp dir (the bench's dir is root's, mode 0700).
    ANSIBLE_REMOTE_TEMP: `/tmp/.yonder-bench-ansible-${Deno.pid}`,
    XDG_RUNTIME_DIR: dir,
  };
  try {
    const p = await setup(f, n, dir);
    console.log(
      `\n# fleet: ${n} hosts (ssh_config aliases of one loopback sshd), ${runs} runs, seconds`,
    );
    console.log(
      `${"tool".padEnd(22)} ${"uname -r: median (min-max)".padEnd(30)} 1 MiB put: median (min-max)`,
    );
    const results = new Map<string, number>();
    for (const t of tools(p, n)) {
      const missing = [];
      for (const prog of t.needs) if (!await has(prog)) missing.push(prog);
      if (missing.length > 0) {
        console.log(`${t.name.padEnd(22)} skipped: ${missing.join(", ")} not installed`);
        continue;
      }
      const cells: string[] = [];
      for (const [i, script] of [t.exec, t.put].entries()) {
        if (!script) {
          cells.push("-");
          continue;
        }
        try {
          const xs = await time(script, runs, env);
          results.set(`${t.name}/${i}`, median(xs));
          cells.push(
            `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${
              Math.max(...xs).toFixed(2)
            })`,
          );
        } catch (e) {
          cells.push(`failed: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
        }
      }
      console.log(`${t.name.padEnd(22)} ${cells[0]!.padEnd(30)} ${cells[1]}`);
    }
    await warm(p, n, runs, env, results);
  } finally {
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "stop", "--all"],
      env,
      stdout: "null",
      stderr: "null",
    }).output();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`/tmp/.yonder-bench-ansible-${Deno.pid}`, { recursive: true }).catch(
      () => {},
    );
    await Deno.remove("/tmp/yonder-bench-fleet-put").catch(() => {});
  }
}

/** yonder warm: a second fan-out from one process, and from a --persist'ed CLI. */
async function warm(
  p: Record<string, string>,
  n: number,
  runs: number,
  env: Record<string, string>,
  results: Map<string, number>,
): Promise<void> {
  const hosts = Array.from({ length: n }, (_, i) => `web${i + 1}`);
  await using fleet = new Fleet(hosts, (h) => SshEnvironment.open(h, { configFile: p.cfg }));
  const once = async () => {
    for await (const e of fleet.exec(["uname", "-r"], { forks: n, lines: false })) {
      if (e.kind === "error") throw e.error;
    }
  };
  await once();
  const lib: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await once();
    lib.push((performance.now() - t) / 1000);
  }
  const cli =
    `${Deno.execPath()} run -A ${MAIN} exec --persist=120 -F ${p.cfg} -r 'web[1-${n}]' --forks ${n} -- uname -r`;
  await time(cli, 1, env); // starts the kept connections
  const persisted = await time(cli, runs, env);
  // The floor of a kept connection: one `ssh -S` client per host (what the CLI also spawns).
  const floor = await time(
    `for s in ${env.XDG_RUNTIME_DIR}/yonder/*[!k]; do ` +
      `[ -S "$s" ] && ssh -S "$s" -o BatchMode=yes x uname -r >/dev/null & done; wait`,
    runs,
    env,
  );
  console.log(`bare ssh -S loop over the same kept connections: ${median(floor).toFixed(3)} s`);
  const pssh = results.get("parallel-ssh/0");
  const bare = results.get("bare ssh loop/0");
  const cold = results.get("yonder (CLI, cold)/0");
  console.log(`yonder warm, same process (Fleet): ${median(lib).toFixed(3)} s`);
  console.log(`yonder warm, --persist'ed CLI:     ${median(persisted).toFixed(3)} s`);
  if (bare && cold) {
    console.log(`cold: yonder / bare loop = ${(cold / bare).toFixed(2)}x (goal <= 1.05x)`);
  }
  if (pssh) {
    console.log(
      `warm / parallel-ssh: same process ${(median(lib) / pssh).toFixed(3)}x, --persist ${
        (median(persisted) / pssh).toFixed(3)
      }x (goal <= 0.1x)`,
    );
  }
  const ansible = results.get("ansible -m command/0");
  if (ansible && cold) {
    console.log(`ansible / yonder cold = ${(ansible / cold).toFixed(1)}x (goal >= 3x)`);
  }
}
