/**
 * The one folder walk: {@link walkFiles} lists the regular files below a folder and always terminates. Every
 * walk of a user's folder uses it (prepare's folder source and COCO `--images`, `detect --images` folders and
 * globs, serve's image list).
 *
 * - Cycles: a folder is entered once, by device and inode, so `ln -s . loop` or a link to an ancestor ends.
 * - The root is never left through a symlink: a link is followed only when its real path is inside the root's
 *   real path; the others are returned in `outside` (not followed) so that the caller can say so.
 * - Each file once, by device and inode: a second name for a file already listed (a symlink or a hard link to
 *   it) is left out. Names reached without symlinks come first, so a file keeps its own name.
 * - Only regular files are listed: FIFOs, sockets and devices are left out (reading one could block or never
 *   end), as are hidden entries (`.name`) and dangling links.
 * - Bounded: a walk that meets more than {@link MAX_WALK_ENTRIES} entries (`--data /`, say) stops with an error.
 *
 * Hand-written: Deno's `@std/fs` walk (JSR, unreachable here) neither detects cycles nor keeps links inside.
 * @module
 */
import { FileReadError } from "./read_file.ts";

/** What {@link walkFiles} found. */
export interface WalkResult {
  /** regular files below the root, "/"-separated paths relative to it, sorted folder by folder, each file once */
  files: string[];
  /** symlinks below the root whose targets are outside it (not followed), relative paths */
  outside: string[];
}

/** Options of {@link walkFiles}. */
export interface WalkOptions {
  /** folders below the root to enter: 0 lists the root's own files only (default: all) */
  maxDepth?: number;
  /** entries to look at before giving up (default {@link MAX_WALK_ENTRIES}) */
  maxEntries?: number;
}

/** The most folder entries one walk looks at (ImageNet's training set is 1.28 million files). */
export const MAX_WALK_ENTRIES = 2_000_000;

const key = (info: Deno.FileInfo) => `${info.dev}:${info.ino}`;

/** Orders paths folder by folder ("a/x" before "a-b/x"), by UTF-16 code units within a folder. */
function comparePaths(a: string, b: string): number {
  const pa = a.split("/"), pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * The regular files below `root` (see the module doc: cycles, links out of the root, each file once).
 * @throws FileReadError naming the root when it is missing or not a folder or holds more than `maxEntries`
 *   entries, or a folder below it that cannot be listed
 */
export async function walkFiles(root: string, opts: WalkOptions = {}): Promise<WalkResult> {
  const maxDepth = opts.maxDepth ?? Infinity;
  const maxEntries = opts.maxEntries ?? MAX_WALK_ENTRIES;
  let entriesSeen = 0;
  let rootReal: string;
  let rootInfo: Deno.FileInfo;
  try {
    rootReal = await Deno.realPath(root);
    rootInfo = await Deno.stat(rootReal);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file or directory" : (e as Error).message;
    throw new FileReadError(root, `cannot list: ${why}`);
  }
  if (!rootInfo.isDirectory) throw new FileReadError(root, "not a folder");
  const inside = (real: string) =>
    real === rootReal || real.startsWith(rootReal === "/" ? "/" : `${rootReal}/`);
  const base = root.replace(/\/+$/, "") || "/";
  const abs = (rel: string) => (rel === "" ? base : base === "/" ? `/${rel}` : `${base}/${rel}`);
  const folders = new Set([key(rootInfo)]);
  const seenFiles = new Set<string>();
  const files: string[] = [];
  const outside: string[] = [];
  /** symlinks met, followed after every folder reachable without one (so files keep their own names) */
  const links: { rel: string; depth: number }[] = [];

  const addFile = (rel: string, info: Deno.FileInfo) => {
    if (seenFiles.has(key(info))) return;
    seenFiles.add(key(info));
    files.push(rel);
  };
  async function walk(rel: string, depth: number): Promise<void> {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(abs(rel))) {
        if (++entriesSeen > maxEntries) break;
        if (!e.name.startsWith(".")) entries.push(e);
      }
    } catch (e) {
      throw new FileReadError(abs(rel), `cannot list: ${(e as Error).message}`);
    }
    if (entriesSeen > maxEntries) {
      throw new FileReadError(root, `holds more than ${maxEntries} entries; give a smaller folder`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const child = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isSymlink) {
        links.push({ rel: child, depth });
        continue;
      }
      if (!e.isFile && !(e.isDirectory && depth < maxDepth)) continue;
      const info = await Deno.lstat(abs(child)).catch(() => null);
      if (info?.isFile) addFile(child, info);
      else if (info?.isDirectory && !folders.has(key(info))) {
        folders.add(key(info));
        await walk(child, depth + 1);
      }
    }
  }

  await walk("", 0);
  for (let i = 0; i < links.length; i++) { // grows while linked folders are walked
    const { rel, depth } = links[i];
    const real = await Deno.realPath(abs(rel)).catch(() => null);
    if (real === null) continue; // dangling, or a loop of links
    if (!inside(real)) {
      outside.push(rel);
      continue;
    }
    const info = await Deno.stat(real).catch(() => null);
    if (info?.isFile) addFile(rel, info);
    else if (info?.isDirectory && depth < maxDepth && !folders.has(key(info))) {
      folders.add(key(info));
      await walk(rel, depth + 1);
    }
  }
  return { files: files.sort(comparePaths), outside: outside.sort(comparePaths) };
}
