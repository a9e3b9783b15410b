/** An in-memory Io for running the CLI in-process in tests. */

import type { Io } from "../../lib/cli/_common.ts";

/** Captured output of an in-process CLI run. */
export interface FakeIo extends Io {
  /** Everything written to stdout, decoded. */
  out(): string;
  /** Everything written to stderr, decoded. */
  err(): string;
}

/** Creates an Io that records output; `env` is the whole environment it sees. */
export function fakeIo(env: Record<string, string> = {}, stdin = new Uint8Array(0)): FakeIo {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const join = (parts: Uint8Array[]) => {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder().decode(all);
  };
  return {
    stdout: (b) => {
      out.push(b.slice());
      return Promise.resolve();
    },
    stderr: (b) => {
      err.push(b.slice());
      return Promise.resolve();
    },
    env: (name) => env[name],
    stdin: () => ReadableStream.from([stdin]),
    onSignal: () => () => {},
    out: () => join(out),
    err: () => join(err),
  };
}
