// deno-lint-ignore-file no-console -- a check script reports on stdout and stderr
/**
 * Function size check: lists every function, method, accessor, constructor, function expression
 * and arrow function whose body is too long or has too many branches, and exits 1 if there is
 * any.
 *
 * ```sh
 * deno run -A --lock=tests/deno.lock scripts/complexity.ts [--max-lines 70] [--max-branches 20] [paths…]
 * ```
 *
 * Paths are files or folders (searched for `.ts` files, `.d.ts` excluded); the default is `lib/`.
 * Pass `--lock=tests/deno.lock` as above: the TypeScript compiler (`npm:typescript@5`, used to
 * parse) is locked there, and the root `deno.lock` holds the library's own dependencies only.
 *
 * **Counting rules.** Each function is measured on its own: a function nested inside another
 * (a callback, a local helper) is a separate entry, and neither its lines nor its branches count
 * toward the function around it.
 *
 * - _Lines_: the physical lines (blank and comment lines included) from the line of the body's
 *   first token to the line of its last (`{` to `}`, or an arrow's expression body), less the
 *   inner lines of each nested function (those strictly between its first and last line; the
 *   lines it shares with the outer code still count).
 * - _Branches_: one for each `if` (so an `else if` counts, a plain `else` does not), each `case`
 *   clause (`default` does not count), each ternary `?:`, each `&&`, `||` and `??` (and their
 *   assignment forms `&&=`, `||=`, `??=`), each `catch`, and each loop: `for`, `for…of`,
 *   `for…in`, `while`, `do…while`. Optional chaining (`?.`) does not count.
 * - _Nesting_ (reported, not checked): the deepest stack of `if`/`else`, loop, `switch` and
 *   `try`/`catch` blocks inside the function (an `else if` chain is one level).
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- scripts have no import map; the specifier is locked in tests/deno.lock
import ts from "npm:typescript@5";

/** The size of one function. */
export interface FunctionMetrics {
  /** The file, as given (relative paths stay relative). */
  file: string;
  /** A readable name: `fn`, `Class.method`, `outer › <arrow>`, … */
  name: string;
  /** 1-based line where the function starts. */
  line: number;
  /** Lines of the body, nested functions' inner lines excluded. */
  lines: number;
  /** Branch count (see the module doc). */
  branches: number;
  /** Deepest nesting of control blocks. */
  nesting: number;
}

/** The limits a function must stay within. */
export interface Limits {
  /** Most lines a body may span. */
  maxLines: number;
  /** Most branches a body may have. */
  maxBranches: number;
}

/** The limits used when none are given. */
export const DEFAULT_LIMITS: Limits = { maxLines: 70, maxBranches: 20 };

type FunctionNode =
  | ts.FunctionDeclaration
  | ts.MethodDeclaration
  | ts.ConstructorDeclaration
  | ts.GetAccessorDeclaration
  | ts.SetAccessorDeclaration
  | ts.FunctionExpression
  | ts.ArrowFunction;

function isFunctionNode(node: ts.Node): node is FunctionNode {
  return ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) || ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node);
}

const LOGICAL_OPERATORS = new Set<ts.SyntaxKind>([
  ts.SyntaxKind.AmpersandAmpersandToken,
  ts.SyntaxKind.BarBarToken,
  ts.SyntaxKind.QuestionQuestionToken,
  ts.SyntaxKind.AmpersandAmpersandEqualsToken,
  ts.SyntaxKind.BarBarEqualsToken,
  ts.SyntaxKind.QuestionQuestionEqualsToken,
]);

/** True if `node` itself is one branch under the rules of the module doc. */
export function isBranch(node: ts.Node): boolean {
  switch (node.kind) {
    case ts.SyntaxKind.IfStatement:
    case ts.SyntaxKind.CaseClause:
    case ts.SyntaxKind.ConditionalExpression:
    case ts.SyntaxKind.CatchClause:
    case ts.SyntaxKind.ForStatement:
    case ts.SyntaxKind.ForOfStatement:
    case ts.SyntaxKind.ForInStatement:
    case ts.SyntaxKind.WhileStatement:
    case ts.SyntaxKind.DoStatement:
      return true;
    case ts.SyntaxKind.BinaryExpression:
      return LOGICAL_OPERATORS.has((node as ts.BinaryExpression).operatorToken.kind);
    default:
      return false;
  }
}

/**
 * True if `node` opens one more level of nesting. An `else if` continues its chain at the same
 * level, and a `catch` (or `finally`) sits at the level of its `try`.
 */
function opensBlock(node: ts.Node): boolean {
  switch (node.kind) {
    case ts.SyntaxKind.ForStatement:
    case ts.SyntaxKind.ForOfStatement:
    case ts.SyntaxKind.ForInStatement:
    case ts.SyntaxKind.WhileStatement:
    case ts.SyntaxKind.DoStatement:
    case ts.SyntaxKind.SwitchStatement:
    case ts.SyntaxKind.TryStatement:
      return true;
    case ts.SyntaxKind.IfStatement:
      // `else if` continues the chain at the same depth.
      return !(ts.isIfStatement(node.parent) && node.parent.elseStatement === node);
    default:
      return false;
  }
}

function nameOfProperty(name: ts.PropertyName, sf: ts.SourceFile): string {
  return ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isStringLiteral(name) ||
      ts.isNumericLiteral(name)
    ? name.text
    : name.getText(sf);
}

function classNameOf(node: ts.Node): string {
  const parent = node.parent;
  if (parent && (ts.isClassDeclaration(parent) || ts.isClassExpression(parent)) && parent.name) {
    return parent.name.text + ".";
  }
  return "";
}

/** The name a function is known by, from its declaration or what it is assigned to. */
function ownName(fn: FunctionNode, sf: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(fn)) return classNameOf(fn) + "constructor";
  if (
    ts.isMethodDeclaration(fn) || ts.isGetAccessorDeclaration(fn) || ts.isSetAccessorDeclaration(fn)
  ) {
    const prefix = ts.isGetAccessorDeclaration(fn)
      ? "get "
      : ts.isSetAccessorDeclaration(fn)
      ? "set "
      : "";
    return prefix + classNameOf(fn) + nameOfProperty(fn.name, sf);
  }
  if (fn.name) return fn.name.text;
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return classNameOf(parent) + nameOfProperty(parent.name, sf);
  }
  const line = sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line + 1;
  return `<${ts.isArrowFunction(fn) ? "arrow" : "function"}@${line}>`;
}

function lineOf(sf: ts.SourceFile, pos: number): number {
  return sf.getLineAndCharacterOfPosition(pos).line;
}

/** Walks one function's body, stopping at nested functions (which it hands to `onNested`). */
function measureBody(
  fn: FunctionNode,
  sf: ts.SourceFile,
  onNested: (nested: FunctionNode) => void,
): { lines: number; branches: number; nesting: number } {
  const body = fn.body!;
  const first = lineOf(sf, body.getStart(sf));
  const last = lineOf(sf, body.getEnd());
  const excluded = new Set<number>();
  let branches = 0;
  let nesting = 0;
  const visit = (node: ts.Node, depth: number): void => {
    if (isFunctionNode(node)) {
      const a = lineOf(sf, node.getStart(sf));
      const b = lineOf(sf, node.getEnd());
      for (let l = a + 1; l < b; l++) excluded.add(l);
      onNested(node);
      return;
    }
    if (isBranch(node)) branches++;
    const inner = opensBlock(node) ? depth + 1 : depth;
    if (inner > nesting) nesting = inner;
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(body, 0);
  let excludedInBody = 0;
  for (const l of excluded) if (l > first && l < last) excludedInBody++;
  return { lines: last - first + 1 - excludedInBody, branches, nesting };
}

/** Measures every function with a body in one source text. */
export function analyzeSource(file: string, text: string): FunctionMetrics[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: FunctionMetrics[] = [];
  const visitFunction = (fn: FunctionNode, outer: string): void => {
    const own = ownName(fn, sf);
    const name = outer ? `${outer} › ${own}` : own;
    const nested: FunctionNode[] = [];
    if (fn.body) {
      const m = measureBody(fn, sf, (n) => nested.push(n));
      out.push({ file, name, line: lineOf(sf, fn.getStart(sf)) + 1, ...m });
    }
    for (const n of nested) visitFunction(n, name);
  };
  const visitTop = (node: ts.Node): void => {
    if (isFunctionNode(node)) visitFunction(node, "");
    else ts.forEachChild(node, visitTop);
  };
  visitTop(sf);
  return out;
}

/** The functions that break a limit. */
export function offenders(
  metrics: FunctionMetrics[],
  limits: Limits = DEFAULT_LIMITS,
): FunctionMetrics[] {
  return metrics.filter((m) => m.lines > limits.maxLines || m.branches > limits.maxBranches);
}

async function collectFiles(path: string, out: string[]): Promise<void> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    out.push(path);
    return;
  }
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(path)) entries.push(e);
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const e of entries) {
    const child = path.endsWith("/") ? path + e.name : `${path}/${e.name}`;
    if (e.isDirectory) await collectFiles(child, out);
    else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(child);
  }
}

/** Measures every function of every `.ts` file under `paths` (files or folders). */
export async function analyzePaths(paths: string[]): Promise<FunctionMetrics[]> {
  const files: string[] = [];
  for (const p of paths) await collectFiles(p, files);
  const out: FunctionMetrics[] = [];
  for (const f of files) out.push(...analyzeSource(f, await Deno.readTextFile(f)));
  return out;
}

/** One offender as a report line: `file:line name — N lines, M branches (nesting K)`. */
export function formatMetrics(m: FunctionMetrics, limits: Limits = DEFAULT_LIMITS): string {
  const lines = m.lines > limits.maxLines
    ? `${m.lines} lines (> ${limits.maxLines})`
    : `${m.lines} lines`;
  const branches = m.branches > limits.maxBranches
    ? `${m.branches} branches (> ${limits.maxBranches})`
    : `${m.branches} branches`;
  return `${m.file}:${m.line} ${m.name} — ${lines}, ${branches}, nesting ${m.nesting}`;
}

/** The command-line options. */
export interface CliOptions extends Limits {
  /** Files and folders to check. */
  paths: string[];
}

/** Parses `[--max-lines N] [--max-branches N] [paths…]` (also `--max-lines=N`). */
export function parseArgs(args: string[]): CliOptions {
  const opts: CliOptions = { ...DEFAULT_LIMITS, paths: [] };
  const number = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 0) {
      throw new Error(`${flag} needs a whole number, got ${value ?? "nothing"}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (flag === "--max-lines") opts.maxLines = number(flag, inline ?? args[++i]);
    else if (flag === "--max-branches") opts.maxBranches = number(flag, inline ?? args[++i]);
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`);
    else opts.paths.push(arg);
  }
  if (opts.paths.length === 0) opts.paths.push("lib/");
  return opts;
}

async function main(args: string[]): Promise<number> {
  let opts: CliOptions;
  try {
    opts = parseArgs(args);
  } catch (e) {
    console.error(`complexity: ${(e as Error).message}`);
    console.error("usage: complexity.ts [--max-lines 70] [--max-branches 20] [paths…]");
    return 2;
  }
  const metrics = await analyzePaths(opts.paths);
  const bad = offenders(metrics, opts);
  for (const m of bad) console.log(formatMetrics(m, opts));
  console.log(
    `${bad.length} of ${metrics.length} functions over ${opts.maxLines} lines or ` +
      `${opts.maxBranches} branches`,
  );
  return bad.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
