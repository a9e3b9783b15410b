// deno-lint-ignore-file no-console -- a report script prints its table on stdout
/**
 * The CLI across the portability matrix, for people: starts the Docker fixture and, for every
 * server × login shell, times `yonder exec --timeout 1 -- sleep 300.<tag>` (as it is, and with
 * `--no-session`), looks for a surviving `sleep` in the container, and checks `exit 255` and an argv
 * of shell-special words. Prints one line per cell.
 *
 * Usage: `deno run -A --lock=tests/deno.lock scripts/portability.ts` (needs a Docker engine).
 *
 * @module
 */

import {
  type DockerServer,
  type DockerShell,
  startDockerSshd,
} from "../tests/fixtures/docker_sshd.ts";
import { SHELL_TRAPS } from "../tests/_portability.ts";

const main = new URL("../main.ts", import.meta.url).pathname;
const lock = new URL("../tests/deno.lock", import.meta.url).pathname;
const dec = new TextDecoder();

const matrix: [DockerServer, DockerShell[]][] = [
  ["openssh", ["bash", "dash", "ash", "zsh", "fish", "tcsh"]],
  ["dropbear", ["bash", "ash"]],
];

await using fx = await startDockerSshd();

async function yonder(target: string, args: string[]) {
  const flags = ["-r", target, "-i", fx.identityFile, "--known-hosts", fx.knownHostsFile];
  const began = performance.now();
  const out = await new Deno.Command("deno", {
    args: ["run", "-A", `--lock=${lock}`, main, "exec", ...flags, ...args],
    stdin: "null",
  }).output();
  return { code: out.code, ms: performance.now() - began, stdout: dec.decode(out.stdout) };
}

for (const [server, shells] of matrix) {
  for (const shell of shells) {
    const target = fx.targetFor(server, shell);
    const cells: string[] = [];
    for (const mode of [[], ["--no-session"]]) {
      const tag = `300.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
      const r = await yonder(target, [...mode, "--timeout", "1", "--", "sleep", tag]);
      const left = (await fx.probe(`ps -eo args= | grep -c '^sleep ${tag}' || true`)).stdout.trim();
      cells.push(
        `${mode.length ? "--no-session" : "default"}: rc ${r.code} in ${
          (r.ms / 1000).toFixed(2)
        } s, ` +
          `${left} left`,
      );
    }
    const e = await yonder(target, ["--", "sh", "-c", "exit 255"]);
    const words = await yonder(target, ["--", "printf", "%s\\0", ...SHELL_TRAPS]);
    const exact = words.stdout === SHELL_TRAPS.map((w) => `${w}\0`).join("");
    console.log(
      `${server.padEnd(8)} × ${shell.padEnd(4)}  ${cells.join("; ")}; exit 255 → ${e.code}; ` +
        `argv ${exact ? "byte-exact" : "DIFFERS"}`,
    );
  }
}
