/**
 * `yonder demo`: yonder's remote path for a newcomer with no remote host of their own. A
 * throwaway loopback sshd with three "hosts" (ports), then each feature as the command a user
 * would type, its output, its exit status and its time. Everything it made goes at the end, on
 * Ctrl-C too.
 */

import { UsageError } from "../core/errors.ts";
import { EXIT, type Io, say } from "./_common.ts";
import { type DemoSshd, findSshd, startDemoSshd } from "./demo_sshd.ts";
import { main } from "./main.ts";

/** Help for `yonder demo`. */
export const DEMO_HELP = `Usage: yonder demo

Starts a throwaway OpenSSH server on loopback (ephemeral keys, three ports as three hosts, your
own account; needs sshd: apt-get install openssh-server) and shows, one command at a time with
its output and time: check, exec with exact argv, a timeout that kills the remote command,
put and get, push and pull (a second push sends nothing), a fan-out over the three hosts, and a
port forwarding. Removes everything it made at the end, also on Ctrl-C.`;

const enc = new TextEncoder();

/** The yonder.yaml of the demo hosts. */
function demoConfig(s: DemoSshd): string {
  const hosts = s.ports.map((p, i) =>
    `  demo${i + 1}:\n    target: "ssh://${s.user}@127.0.0.1:${p}"\n` +
    `    identity_file: ${JSON.stringify(s.identityFile)}\n` +
    `    known_hosts: ${JSON.stringify(s.knownHostsFile)}\n    strict_host_key: true\n`
  ).join("");
  const names = s.ports.map((_, i) => `demo${i + 1}`).join(", ");
  return `# yonder demo: throwaway hosts on loopback\nhosts:\n${hosts}groups:\n  demo:\n    hosts: [${names}]\n`;
}

/** Quotes a word for the shown command line, as a shell would need it. */
function shown(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Runs the demo's steps in one context. */
class Demo {
  #step = 0;
  constructor(
    private readonly io: Io,
    private readonly inner: Io,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async say(text: string): Promise<void> {
    await this.io.stdout(enc.encode(text));
  }

  /** A numbered heading. */
  async title(text: string): Promise<void> {
    this.signal?.throwIfAborted();
    await this.say(`\n${++this.#step}. ${text}\n`);
  }

  /** Shows `yonder ARGS`, runs it in this process, shows its exit status and time. */
  async yonder(args: string[], io: Io = this.inner): Promise<number> {
    this.signal?.throwIfAborted();
    await this.say(`$ yonder ${args.map(shown).join(" ")}\n`);
    const t = performance.now();
    const code = await main(args, io);
    await this.say(`  → exit ${code} in ${Math.round(performance.now() - t)} ms\n`);
    this.signal?.throwIfAborted();
    return code;
  }
}

/** The io the inner commands get: the demo's config, and the demo's Ctrl-C. */
function innerIo(io: Io, config: string): Io {
  return {
    ...io,
    env: (name) =>
      name === "YONDER_CONFIG"
        ? config
        : name === "YONDER_REMOTE" || name === "YONDER_PERSIST"
        ? undefined
        : io.env(name),
    onSignal: (handler) => {
      const signal = io.signal;
      if (!signal) return () => {};
      const fire = () => handler("SIGINT");
      if (signal.aborted) queueMicrotask(fire);
      else signal.addEventListener("abort", fire, { once: true });
      return () => signal.removeEventListener("abort", fire);
    },
  };
}

/** The file and tree steps. */
async function filesAndTrees(d: Demo, dir: string): Promise<void> {
  const local = `${dir}/local`;
  const remote = `${dir}/remote`;
  await Deno.mkdir(`${local}/tree/sub`, { recursive: true });
  await Deno.writeFile(`${local}/blob.bin`, crypto.getRandomValues(new Uint8Array(65536)));
  await d.title("put and get: atomic, binary-safe (64 KiB of random bytes there and back)");
  await d.yonder(["put", "-r", "demo1", "--mkdirs", `${local}/blob.bin`, `${remote}/blob.bin`]);
  await d.yonder(["get", "-r", "demo1", `${remote}/blob.bin`, `${local}/back.bin`]);
  const [a, b] = await Promise.all([
    Deno.readFile(`${local}/blob.bin`),
    Deno.readFile(`${local}/back.bin`),
  ]);
  await d.say(
    `  same bytes: ${a.length === b.length && a.every((x, i) => x === b[i]) ? "yes" : "NO"}\n`,
  );
  const files: [string, string][] = [
    ["a.txt", "alpha\n"],
    ["b.txt", "beta\n"],
    ["sub/c.txt", "gamma\n"],
  ];
  for (const [name, text] of files) await Deno.writeTextFile(`${local}/tree/${name}`, text);
  await d.title(
    "push a tree, push again (nothing changed: nothing sent), pull back what the host changed",
  );
  await d.yonder(["push", "-r", "demo1", `${local}/tree`, `${remote}/tree`]);
  await d.yonder(["push", "-r", "demo1", `${local}/tree`, `${remote}/tree`]);
  await d.yonder([
    "exec",
    "-r",
    "demo1",
    "--",
    "sh",
    "-c",
    `echo 'changed on the host' >> ${remote}/tree/a.txt`,
  ]);
  await d.yonder(["pull", "-r", "demo1", "--only-changed", `${remote}/tree`, `${local}/tree`]);
}

/** The forwarding step: a local port to demo2's sshd through demo1, its banner read through it. */
async function forwarding(d: Demo, io: Io, inner: Io, port: number): Promise<void> {
  await d.title(
    `forward a port: localhost:<free port> through demo1 to 127.0.0.1:${port} (demo2's sshd)`,
  );
  let out = "";
  let stop: (() => void) | null = null;
  const fwdIo: Io = {
    ...inner,
    stdout: async (b) => {
      out += new TextDecoder().decode(b);
      await io.stdout(b);
    },
    onSignal: (handler) => {
      stop = () => handler("SIGINT");
      return inner.onSignal(handler);
    },
  };
  const running = d.yonder(["forward", "-r", "demo1", "-L", `0:127.0.0.1:${port}`], fwdIo);
  const deadline = Date.now() + 10_000;
  while (!/:(\d+) ->/.test(out) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const local = Number(/:(\d+) ->/.exec(out)?.[1]);
  if (local) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: local });
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    conn.close();
    await d.say(
      `  read through the forwarding: ${
        new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim()
      }\n`,
    );
  }
  await d.say("  (the demo presses Ctrl-C for you: the forwarding ends, exit 130)\n");
  (stop as (() => void) | null)?.();
  await running;
}

/** Runs `yonder demo`. */
export async function demoCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    await io.stdout(enc.encode(DEMO_HELP + "\n"));
    return EXIT.ok;
  }
  if (argv.length > 0) {
    throw new UsageError(`yonder demo takes no arguments (got ${argv.join(" ")})`);
  }
  const sshd = findSshd(io.env);
  if (!sshd) {
    throw new UsageError(
      "The demo needs an OpenSSH server (sshd) on this machine, and found none",
      {
        hint:
          "Install it (Debian/Ubuntu: apt-get install openssh-server; Fedora: dnf install openssh-server); it is only started for the demo, on loopback",
      },
    );
  }
  const started = performance.now();
  await say(
    io,
    "yonder demo: starting a throwaway sshd on loopback (ephemeral keys, your account)…",
  );
  await using s = await startDemoSshd(sshd, 3);
  const config = `${s.dir}/yonder.yaml`;
  await Deno.writeTextFile(config, demoConfig(s), { mode: 0o600 });
  const inner = innerIo(io, config);
  const d = new Demo(io, inner, io.signal);
  await d.say(
    `hosts demo1..demo3 = 127.0.0.1:${
      s.ports.join(", :")
    } (as ${s.user}), group @demo, config ${config}\n`,
  );
  await d.title("check: connect, authenticate, the shell and tools, round-trip time");
  await d.yonder(["check", "-r", "demo1"]);
  await d.title("exec passes argv exactly: no shell expands $HOME or *, spaces stay inside words");
  await d.yonder(["exec", "-r", "demo1", "--", "printf", "[%s]\\n", "two words", "$HOME", "*"]);
  await d.title("a timeout kills the remote command and everything it started (exit 124)");
  await d.yonder([
    "exec",
    "-r",
    "demo1",
    "--timeout",
    "1",
    "--",
    "sh",
    "-c",
    "sleep 300 & sleep 301",
  ]);
  await d.yonder([
    "exec",
    "-r",
    "demo1",
    "--",
    "sh",
    "-c",
    "echo \"sleeps left: $(ps -eo args= | grep -cE '^sleep 30[01]$')\"",
  ]);
  await filesAndTrees(d, s.dir);
  await d.title("fan out over the group: identical output gathered under one header");
  await d.yonder(["exec", "-r", "@demo", "--gather", "--", "uname", "-sr"]);
  await forwarding(d, io, inner, s.ports[1]!);
  await d.say(
    `\ndone in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s; removing the demo's sshd, keys and files\n`,
  );
  return EXIT.ok;
}
