/**
 * The layers of `lib/` point one way (see ARCHITECTURE.md): a module may import its own folder and
 * the folders below it, never one above it nor a sibling backend. The graph comes from
 * `deno info --json` over every module of `lib/`, so dynamic and type-only imports count too.
 */
import assert from "node:assert/strict";

/** Folders of lib/, lowest first; a folder may import only folders of a lower rank (and itself). */
const RANK: Record<string, number> = {
  util: 0,
  core: 1,
  posix: 2,
  tree: 3,
  local: 4,
  ssh: 4,
  config: 5,
  fleet: 5,
  cli: 6,
};

const LIB = new URL("../lib/", import.meta.url);

function folderOf(url: string): string | null {
  if (!url.startsWith(LIB.href)) return null;
  const rest = url.slice(LIB.href.length);
  const slash = rest.indexOf("/");
  return slash < 0 ? "" : rest.slice(0, slash);
}

/** The imports that run against the layers, as "from -> to" lines. */
export function violations(edges: Iterable<[string, string]>): string[] {
  const bad: string[] = [];
  for (const [from, to] of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === null || b === null || a === b) continue;
    const ra = RANK[a];
    const rb = RANK[b];
    if (ra === undefined || rb === undefined || rb >= ra) {
      bad.push(`${from.slice(LIB.href.length)} -> ${to.slice(LIB.href.length)}`);
    }
  }
  return bad.sort();
}

async function libModules(dir: URL): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) out.push(...await libModules(u));
    else if (e.name.endsWith(".ts")) out.push(u.href);
  }
  return out;
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

async function libEdges(): Promise<[string, string][]> {
  const dir = await Deno.makeTempDir({ prefix: "yonder-layers-" });
  try {
    const entry = `${dir}/entry.ts`;
    const mods = await libModules(LIB);
    await Deno.writeTextFile(entry, mods.map((m) => `import "${m}";\n`).join(""));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-config", entry],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    const edges: [string, string][] = [];
    for (const m of info.modules) {
      for (const d of m.dependencies ?? []) {
        for (const to of [d.code?.specifier, d.type?.specifier]) {
          if (to) edges.push([m.specifier, to]);
        }
      }
    }
    return edges;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("layers: every import in lib/ points down (or within its folder)", async () => {
  const edges = await libEdges();
  // The graph is real: the SSH backend reaches the POSIX scripts and the core contract.
  const seen = new Set(edges.map(([a, b]) => `${folderOf(a)}>${folderOf(b)}`));
  for (const must of ["ssh>posix", "local>posix", "tree>core", "cli>ssh"]) {
    assert.ok(seen.has(must), `no ${must} edge found: is the graph read?`);
  }
  assert.deepEqual(violations(edges), []);
});

Deno.test("layers: the check names upward, sideways and unknown-folder imports", () => {
  const u = (p: string) => new URL(p, LIB).href;
  assert.deepEqual(
    violations([
      [u("core/environment.ts"), u("ssh/master.ts")], // up
      [u("local/environment.ts"), u("ssh/exec.ts")], // sideways between backends
      [u("util/async.ts"), u("util/path.ts")], // same folder: fine
      [u("tree/push.ts"), u("posix/frames.ts")], // down: fine
      [u("ssh/exec.ts"), u("stray.ts")], // lib root is not a layer
      [u("cli/main.ts"), "jsr:@std/path"], // outside lib: not ours to rank
    ]),
    [
      "core/environment.ts -> ssh/master.ts",
      "local/environment.ts -> ssh/exec.ts",
      "ssh/exec.ts -> stray.ts",
    ],
  );
});

Deno.test("npm packages load at run time only: no module of lib/ imports one by a literal", async () => {
  // Deno resolves every npm package it sees in the program's graph (dynamic imports included)
  // when the program starts; only tar-stream (push and pull, in util/deps.ts) may be seen.
  // Others go through util/npm.ts; `import type` is fine (erased).
  const bad: string[] = [];
  const walk = async (dir: URL): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
      if (e.isDirectory) await walk(u);
      else if (e.name.endsWith(".ts") && !u.href.endsWith("/lib/util/deps.ts")) {
        const text = await Deno.readTextFile(u);
        for (
          const m of text.matchAll(
            /^(?!import type).*(?:from\s*|import\()\s*["'](npm:[^"']+)["']/gm,
          )
        ) {
          bad.push(`${u.href.slice(LIB.href.length)}: ${m[1]}`);
        }
      }
    }
  };
  await walk(LIB);
  assert.deepEqual(bad, [], "import these through lib/util/npm.ts");
});
