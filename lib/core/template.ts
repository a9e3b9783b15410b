/**
 * ``env.$`…` ``: a command written as a shell line where every interpolated value is quoted, so
 * the easy way to build a command is the safe one. The literal parts are shell text (pipes,
 * redirections, `&&` work as written); each `${value}` becomes exactly one word (an array, one
 * word per element), whatever it contains: `$(…)`, `;`, quotes, newlines and globs arrive as
 * literal text.
 *
 * @module
 */

import type {
  ChildProcess,
  ExecOptions,
  ExecResult,
  ShellCommand,
  SpawnOptions,
} from "./environment.ts";
import { UsageError } from "./errors.ts";
import { shellQuote } from "./quote.ts";

function word(v: unknown, at: number): string {
  if (typeof v === "string") return shellQuote(v);
  if (typeof v === "bigint") return shellQuote(String(v));
  if (typeof v === "number") {
    if (Number.isFinite(v)) return shellQuote(String(v));
    throw new UsageError(`Value ${at + 1} of the command template is ${v}: not a finite number`);
  }
  throw new UsageError(
    `Value ${at + 1} of the command template is ${
      v === null ? "null" : typeof v
    }: interpolate strings, numbers or arrays of them`,
  );
}

/**
 * The literal text as typed, except for what JavaScript makes one escape in a template:
 * `` \` `` and `\${` stand for a backtick and `${`, as the shell should see them.
 */
function literal(raw: string): string {
  return raw.replace(/\\(\\|`|\$\{)/g, (m, c: string) => (c === "\\" ? m : c));
}

/** The quote the literal text leaves open at its end (`'` or `"`), or null. */
function openQuote(text: string, open: "'" | '"' | null): "'" | '"' | null {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (open === "'") {
      if (c === "'") open = null;
    } else if (c === "\\") {
      i++; // The next character is escaped (outside single quotes).
    } else if (open === '"') {
      if (c === '"') open = null;
    } else if (c === "'" || c === '"') {
      open = c;
    }
  }
  return open;
}

/**
 * Builds the `sh -c` script of a template: literal text as typed (raw: a backslash and an n
 * reach the shell as such, as in a shell script; only an escaped backtick or dollar-brace become
 * the backtick or `${` the shell should see), each value quoted (arrays become several words, an
 * empty array none). A value inside quotes of the literal text is refused: it would end them.
 *
 * @example
 * ```ts
 * import { shellTemplate } from "./template.ts";
 * const file = "a b; rm -rf ~";
 * shellTemplate`wc -c ${file}`; // => "wc -c 'a b; rm -rf ~'"
 * ```
 */
export function shellTemplate(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = strings.raw.map(literal);
  let script = text[0] ?? "";
  let open = openQuote(script, null);
  values.forEach((v, i) => {
    if (open !== null) {
      // A quoted word would close the caller's quote and open its own: the value would escape.
      throw new UsageError(
        `Value ${i + 1} of the command template stands inside ${open}…${open} quotes`,
        { hint: "Leave interpolations unquoted: each value becomes one quoted word already" },
      );
    }
    script += Array.isArray(v) ? v.map((e) => word(e, i)).join(" ") : word(v, i);
    const next = text[i + 1] ?? "";
    open = openQuote(next, open);
    script += next;
  });
  return script;
}

/** What runs a template's script: the environment's exec and spawn. */
export interface TemplateRunner {
  /** Runs a command. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Starts a command. */
  spawn(command: string, options?: SpawnOptions): ChildProcess;
}

/**
 * The {@linkcode ShellCommand} of a template: its script, run through an environment's exec or
 * spawn.
 *
 * @example
 * ```ts
 * import { LocalEnvironment } from "../../mod.ts";
 * await using env = new LocalEnvironment();
 * const dir = "/tmp";
 * const listing = await env.$`ls -1 ${dir}`.text();
 * const r = await env.$`test -d ${dir}`.exec({ check: false });
 * console.log(listing.length, r.code);
 * ```
 */
export class TemplateCommand implements ShellCommand {
  /** The `sh -c` script the template built. */
  readonly script: string;
  #runner: TemplateRunner;

  /** Wraps `script` to run on `runner`. */
  constructor(runner: TemplateRunner, script: string) {
    this.#runner = runner;
    this.script = script;
  }

  /** Runs it; rejects with `CommandFailed` on a non-zero exit unless `check: false`. */
  exec(options: ExecOptions = {}): Promise<ExecResult> {
    return this.#runner.exec(this.script, { check: true, ...options });
  }

  /** Runs it and resolves to its stdout as UTF-8 text, without one trailing newline. */
  async text(options: ExecOptions = {}): Promise<string> {
    const r = await this.exec(options);
    return new TextDecoder().decode(r.stdout).replace(/\r?\n$/, "");
  }

  /** Starts it as a streaming child. */
  spawn(options: SpawnOptions = {}): ChildProcess {
    return this.#runner.spawn(this.script, options);
  }

  /** Runs it (as `exec()`) when awaited. */
  then<T1 = ExecResult, T2 = never>(
    onFulfilled?: ((value: ExecResult) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.exec().then(onFulfilled, onRejected);
  }
}
