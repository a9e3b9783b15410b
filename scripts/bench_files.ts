/**
 * The files section of `deno task bench`: 64 MiB upload and download, a push of 1000 × 4 KiB,
 * and an unchanged re-push, each against raw OpenSSH over the same master in the same run
 * (`ssh -S sock host 'cat > f'`, `ssh -S sock host cat f`, `tar c | ssh -S sock host tar x`).
 * Runs are interleaved; medians are printed with their ratio.
 *
 * Alone: `deno run -A scripts/bench_files.ts [runs]`.
 *
 * @module
 */

import { join } from "node:path";
import { SshEnvironment } from "../lib/ssh/environment.ts";
import { type SshdFixture, startSshd } from "../tests/fixtures/sshd.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function print(line: string): void {
  // deno-lint-ignore no-console
  console.log(line);
}

async function bash(script: string): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`bench step failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function q(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** One result line: our median, raw median, and the ratio against the target. */
function line(
  name: string,
  ours: number[],
  raw: number[] | null,
  target: string,
  ok: boolean,
  extra = "",
): void {
  const o = median(ours);
  const r = raw ? median(raw) : null;
  print(
    `${name.padEnd(46)} yonder ${o.toFixed(1).padStart(8)} ms` +
      (r !== null ? `  raw ${r.toFixed(1).padStart(8)} ms  ratio ${(o / r).toFixed(3)}` : "") +
      `  target ${target}  ${ok ? "MET" : "MISSED"}${extra}`,
  );
}

/** The CLI flags that reach the fixture (target, key, its known_hosts, strict host keys). */
export function fixtureCliFlags(f: SshdFixture): string[] {
  return [
    "-r",
    f.target,
    "-i",
    f.identityFile,
    "--known-hosts",
    f.knownHostsFile,
    "--strict-host-key",
  ];
}

/**
 * Runs the files benchmarks against `f` and prints the figures.
 *
 * @example
 * ```ts ignore
 * import { benchFiles } from "./bench_files.ts";
 * await benchFiles(fixture);
 * ```
 */
export async function benchFiles(f: SshdFixture, runs = 5): Promise<void> {
  await using env = await SshEnvironment.open(f.target, { ...f.connect });
  const sock = env.controlPath!;
  const host = f.sshArgv.at(-1)!;
  const ssh = `ssh -S ${q(sock)} -T -o BatchMode=yes ${q(host)}`;
  const local = await Deno.makeTempDir({ prefix: "yonder-bench-" });
  const home = (await env.exec('printf %s "$HOME"')).stdout;
  const remote = `${new TextDecoder().decode(home)}/yonder-bench`;
  try {
    await env.mkdir(remote, { recursive: true });
    const big = join(local, "big");
    const data = new Uint8Array(64 * 1024 * 1024);
    for (let at = 0; at < data.length; at += 65536) {
      crypto.getRandomValues(data.subarray(at, at + 65536));
    }
    await Deno.writeFile(big, data);

    const up: number[] = [];
    const upRaw: number[] = [];
    const down: number[] = [];
    const downRaw: number[] = [];
    for (let i = 0; i < runs; i++) {
      upRaw.push(await timed(() => bash(`${ssh} ${q(`cat > ${q(`${remote}/raw`)}`)} < ${q(big)}`)));
      up.push(await timed(() => env.upload(big, `${remote}/ours`)));
      downRaw.push(
        await timed(() => bash(`${ssh} ${q(`cat ${q(`${remote}/raw`)}`)} > ${q(`${big}.raw`)}`)),
      );
      down.push(await timed(() => env.download(`${remote}/ours`, `${big}.ours`)));
    }
    const mib = 64;
    print(`\n# files (${runs} runs each, interleaved; 64 MiB of random bytes)`);
    print("# library over the master vs raw ssh over the same master (ssh -S)");
    const upRatio = median(upRaw) / median(up);
    line(
      "upload 64 MiB vs ssh -S sock host 'cat > f'",
      up,
      upRaw,
      "time <= 1.11x raw (= throughput >= 0.9x)",
      upRatio >= 0.9,
      `  (${(mib / (median(up) / 1000)).toFixed(0)} MiB/s vs ${
        (mib / (median(upRaw) / 1000)).toFixed(0)
      } MiB/s)`,
    );
    const downRatio = median(downRaw) / median(down);
    line(
      "download 64 MiB vs ssh -S sock host cat f",
      down,
      downRaw,
      "time <= 1.11x raw (= throughput >= 0.9x)",
      downRatio >= 0.9,
      `  (${(mib / (median(down) / 1000)).toFixed(0)} MiB/s vs ${
        (mib / (median(downRaw) / 1000)).toFixed(0)
      } MiB/s)`,
    );

    // The CLI, a fresh process and connection per transfer, vs a fresh raw ssh per transfer.
    const main = new URL("../main.ts", import.meta.url).pathname;
    const cliFlags = fixtureCliFlags(f).map(q).join(" ");
    const yonder = `${q(Deno.execPath())} run -A --quiet ${q(main)}`;
    const fresh = f.sshArgv.map(q).join(" ");
    const cliUp: number[] = [];
    const cliUpRaw: number[] = [];
    const cliDown: number[] = [];
    const cliDownRaw: number[] = [];
    await bash(`${yonder} ls ${cliFlags} / > /dev/null`); // warm the module cache
    for (let i = 0; i < runs; i++) {
      cliUpRaw.push(
        await timed(() => bash(`${fresh} ${q(`cat > ${q(`${remote}/raw`)}`)} < ${q(big)}`)),
      );
      cliUp.push(
        await timed(() => bash(`${yonder} put ${cliFlags} ${q(big)} ${q(`${remote}/cli`)}`)),
      );
      cliDownRaw.push(
        await timed(() => bash(`${fresh} ${q(`cat ${q(`${remote}/raw`)}`)} > ${q(`${big}.raw`)}`)),
      );
      cliDown.push(
        await timed(() =>
          bash(`${yonder} get ${cliFlags} ${q(`${remote}/cli`)} ${q(`${big}.cli`)}`)
        ),
      );
    }
    const cliUpRatio = median(cliUpRaw) / median(cliUp);
    line(
      "yonder put 64 MiB vs ssh host 'cat > f' (fresh)",
      cliUp,
      cliUpRaw,
      "time <= 1.11x raw (= throughput >= 0.9x)",
      cliUpRatio >= 0.9,
    );
    const cliDownRatio = median(cliDownRaw) / median(cliDown);
    line(
      "yonder get 64 MiB vs ssh host cat f (fresh)",
      cliDown,
      cliDownRaw,
      "time <= 1.11x raw (= throughput >= 0.9x)",
      cliDownRatio >= 0.9,
    );

    // 1000 × 4 KiB in 10 × 3 directories.
    const tree = join(local, "tree");
    for (let i = 0; i < 1000; i++) {
      const dir = join(tree, `d${i % 10}`, `e${i % 3}`);
      await Deno.mkdir(dir, { recursive: true });
      const bytes = new Uint8Array(4096);
      crypto.getRandomValues(bytes);
      await Deno.writeFile(join(dir, `f${i}.bin`), bytes);
    }
    const cache = join(local, "cache");
    const push: number[] = [];
    const pushRaw: number[] = [];
    const repush: number[] = [];
    const repushRemote: number[] = [];
    for (let i = 0; i < runs; i++) {
      const rawDir = `${remote}/rawtree${i}`;
      pushRaw.push(
        await timed(() =>
          bash(
            `tar -c -f - -C ${q(tree)} . | ${ssh} ${
              q(`mkdir -p ${q(rawDir)} && tar -x -f - -C ${q(rawDir)}`)
            }`,
          )
        ),
      );
      await Deno.remove(cache, { recursive: true }).catch(() => {});
      const dest = `${remote}/tree${i}`;
      push.push(await timed(() => env.push(tree, dest, { cacheDir: cache })));
      const again = await env.push(tree, dest, { cacheDir: cache });
      if (again.bytes !== 0 || again.transferred.length !== 0) {
        throw new Error(`unchanged re-push sent ${again.transferred.length} entries`);
      }
      repush.push(again.durationMs);
      repushRemote.push(again.remoteMs);
    }
    print(`\n# trees (${runs} runs each, interleaved; 1000 files of 4 KiB in 30 directories)`);
    line(
      "push 1000 x 4 KiB vs tar c | ssh tar x",
      push,
      pushRaw,
      "<= 1.5x",
      median(push) / median(pushRaw) <= 1.5,
    );
    line(
      "unchanged re-push: remote part (listing)",
      repushRemote,
      null,
      "< 50 ms",
      median(repushRemote) < 50,
      `  (whole call ${median(repush).toFixed(1)} ms, 0 bytes sent)`,
    );
  } finally {
    await env.remove(remote, { recursive: true, force: true }).catch(() => {});
    await Deno.remove(local, { recursive: true });
  }
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 5);
  await using f = await startSshd();
  print(`yonder files bench on ${f.target} (${Deno.build.os}, deno ${Deno.version.deno})`);
  await benchFiles(f, runs);
}
