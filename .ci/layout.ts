/**
 * The layout rules of the code, checked: imports among `lib/` files and among its folders form no cycle, nothing
 * in `lib/` imports or spawns `tasks/`, and every comment (and README/RESULTS line) that names a file or folder
 * of this repository names one that exists.
 *
 * `deno run --allow-read .ci/layout.ts` prints the folder graph (which folder imports which) and every
 * violation, and exits 1 on one; `--graph` prints only the graph. tests/code_layout_test.ts runs the same checks.
 * Imports are read as text (static `import`/`export … from`, literal `import()` and `new URL("…",
 * import.meta.url)`, which is how workers are started), which is enough for this code base: no import here is
 * computed.
 * @module
 */

/** A source file: its path relative to the repo root and its text. */
export interface SourceFile {
  path: string;
  text: string;
}

const SOURCE_EXT = /\.(ts|js|py|md)$/;
// Folders that hold no code of ours (dependencies, run outputs, generated test data).
const SKIP_DIRS = new Set([
  "node_modules",
  ".git",
  "runs",
  "out",
  ".scratch",
  "tests/parity/data",
  "fixtures/coco",
]);

/** Reads every .ts/.js/.py file below `dirs` (relative to `root`), sorted by path. */
export async function readSources(root: string, dirs: readonly string[]): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  async function walk(rel: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${root}/${rel}`)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory && !SKIP_DIRS.has(e.name) && !SKIP_DIRS.has(child)) await walk(child);
      else if (e.isFile && SOURCE_EXT.test(e.name)) {
        out.push({ path: child, text: await Deno.readTextFile(`${root}/${child}`) });
      }
    }
  }
  for (const d of dirs) {
    if (SOURCE_EXT.test(d)) out.push({ path: d, text: await Deno.readTextFile(`${root}/${d}`) });
    else await walk(d);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Normalises `a/b/../c/./d` to `a/c/d`. */
export function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^"';]*?\bfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  /\bnew URL\(\s*["']([^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g,
];

/** Repo-relative paths of the files `file` imports (relative specifiers only; packages are left out). */
export function importsOf(file: SourceFile): string[] {
  if (!file.path.endsWith(".ts")) return [];
  const found = new Set<string>();
  const code = stripComments(file.text);
  for (const re of IMPORT_PATTERNS) {
    for (const m of code.matchAll(re)) {
      const spec = m[1];
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      found.add(normalizePath(`${dirOf(file.path)}/${spec}`));
    }
  }
  return [...found].sort();
}

/** The text with `//` and block comments blanked (string contents kept, so specifiers survive). */
export function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:"'`\\])\/\/[^\n]*/g, "$1");
}

/** Import graph: file → files it imports (only files among `files`). */
export function importGraph(files: readonly SourceFile[]): Map<string, string[]> {
  const known = new Set(files.map((f) => f.path));
  return new Map(files.map((f) => [f.path, importsOf(f).filter((p) => known.has(p))]));
}

/** Strongly connected groups of more than one file (or a file importing itself), each sorted; Tarjan. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(group.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** The folder of a file for the folder graph: `lib/<stage>`, or the top folder (`tasks`, `tests`, …). */
export function folderOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "lib" && parts.length > 2) return `lib/${parts[1]}`;
  return parts.length > 1 ? parts[0] : ".";
}

/** Folder graph: folder → folders it imports (self-imports left out), both sorted. */
export function folderGraph(graph: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [from, tos] of graph) {
    const f = folderOf(from);
    const set = out.get(f) ?? new Set<string>();
    for (const to of tos) if (folderOf(to) !== f) set.add(folderOf(to));
    out.set(f, set);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, [...v].sort()]));
}

/** `lib/` files that import `tasks/` or spawn `deno task …`, each with the reason. */
export function libToTasks(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    if (!f.path.startsWith("lib/")) continue;
    for (const imp of importsOf(f)) if (imp.startsWith("tasks/")) out.push(`${f.path} imports ${imp}`);
    const code = stripComments(f.text);
    if (/\[\s*["']task["']\s*,/.test(code)) out.push(`${f.path} spawns \`deno task\``);
  }
  return out;
}

// A file named in a comment: a path with folders, or a bare file name.
const NAMED_FILE = /(?<![\w@/.$-])((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w.-]+\.(?:ts|py|sh|html|md))(?![\w/])/g;
// A folder of ours named in a comment (`lib/evaluation`, `tests/tasks/`).
const NAMED_FOLDER =
  /(?<![\w@/.$-])((?:lib|tests|tasks|web|fixtures)\/[\w-]+(?:\/[\w-]+)*)\/?(?![\w.*<\/-])/g;

/** The comment text of a file: `//` lines, block comments, and `#` lines of Python. */
export function commentsOf(file: SourceFile): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = file.text.split("\n");
  if (file.path.endsWith(".md")) return lines.map((text, i) => ({ line: i + 1, text }));
  let inBlock = false;
  let inDoc = false; // Python docstring
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (file.path.endsWith(".py")) {
      const quotes = (line.match(/"""/g) ?? []).length;
      if (inDoc || line.startsWith("#") || quotes > 0) out.push({ line: i + 1, text: line });
      if (quotes % 2 === 1) inDoc = !inDoc;
      continue;
    }
    if (inBlock) {
      out.push({ line: i + 1, text: line });
      if (line.includes("*/")) inBlock = false;
      continue;
    }
    // comment markers are looked for outside string literals (blanked here, same length)
    const code = raw.replace(
      /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g,
      (m) => " ".repeat(m.length),
    );
    const block = code.indexOf("/*");
    const slash = code.search(/(^|[^:])\/\//);
    if (block >= 0 && (slash < 0 || block < slash)) {
      out.push({ line: i + 1, text: raw.slice(block) });
      if (!raw.slice(block).includes("*/")) inBlock = true;
    } else if (slash >= 0) out.push({ line: i + 1, text: raw.slice(slash) });
  }
  return out;
}

/** Top folders of this repository: a named path that starts with one of them is one of ours. */
const REPO_FOLDERS = new Set(["lib", "tests", "tasks", "bench", "web", "fixtures", ".ci", "shared"]);

/**
 * Files named in comments that do not exist. A path that starts with one of our top folders (`lib/…`,
 * `tests/…`, …) is looked up from the repo root, one that starts with `./` or `../` from the file's folder, and
 * a bare TypeScript file name (`<name>.ts`) in a source file's own folder; a folder of ours (`lib/ssd/`) must
 * exist too. Other paths (`src/io/types.ts`,
 * `cocoeval.py`) name files of other projects and are not checked; globs and placeholders (`*`, `<…>`) are not
 * names.
 */
export function staleFileNames(
  files: readonly SourceFile[],
  exists: (repoPath: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const f of files) {
    for (const c of commentsOf(f)) {
      for (const m of c.text.matchAll(NAMED_FILE)) {
        const name = m[1];
        if (name.includes("*") || name.includes("<")) continue;
        let path: string;
        if (name.startsWith("./") || name.startsWith("../")) path = normalizePath(`${dirOf(f.path)}/${name}`);
        else if (name.includes("/")) {
          if (!REPO_FOLDERS.has(name.split("/")[0])) continue;
          path = normalizePath(name);
        } else {
          // `mod.ts` alone is the generic name of every folder's API file
          if (!name.endsWith(".ts") || name === "mod.ts" || f.path.endsWith(".md")) continue;
          path = normalizePath(`${dirOf(f.path)}/${name}`);
        }
        if (!exists(path)) out.push(`${f.path}:${c.line}: names ${name}, which does not exist`);
      }
      for (const m of c.text.matchAll(NAMED_FOLDER)) {
        if (!exists(m[1])) out.push(`${f.path}:${c.line}: names ${m[1]}/, which does not exist`);
      }
    }
  }
  return out;
}

/** The folders whose code is checked. */
export const CHECKED_DIRS = [
  "lib",
  "tasks",
  "tests",
  "web",
  "fixtures",
  ".ci",
  "README.md",
  "RESULTS.md",
  "mod.ts",
] as const;

/** Every violation of the layout rules, one line each; empty when the layout holds. */
export async function layoutViolations(root: string): Promise<string[]> {
  const files = await readSources(root, CHECKED_DIRS);
  const lib = files.filter((f) => f.path.startsWith("lib/"));
  const out: string[] = [];
  const graph = importGraph(lib);
  for (const group of cycles(graph)) {
    out.push(`import cycle among ${group.length} lib files: ${group.join(", ")}`);
  }
  for (const group of cycles(folderGraph(graph))) {
    out.push(`import cycle among ${group.length} lib folders: ${group.join(", ")}`);
  }
  out.push(...libToTasks(lib));
  const exists = (p: string) => {
    if (p.startsWith("shared/") || p.startsWith("../shared/")) return true; // beside the repo, never committed
    try {
      Deno.statSync(`${root}/${p}`);
      return true;
    } catch {
      return false;
    }
  };
  out.push(...staleFileNames(files, exists));
  return out;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const files = (await readSources(root, ["lib", "tasks", "web", "mod.ts"])).filter((f) =>
    f.path.endsWith(".ts")
  );
  const graph = folderGraph(importGraph(files));
  console.log("folder graph (folder -> folders it imports):");
  for (const [from, tos] of graph) console.log(`  ${from} -> ${tos.join(", ") || "(nothing)"}`);
  if (!Deno.args.includes("--graph")) {
    const bad = await layoutViolations(root);
    for (const line of bad) console.log(line);
    console.log(bad.length === 0 ? "layout: ok" : `layout: ${bad.length} violation(s)`);
    if (bad.length > 0) Deno.exit(1);
  }
}
