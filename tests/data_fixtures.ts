/**
 * Test helper: the committed synthetic fixture dataset (fixtures/PennFudanPed) as an in-memory file map, variants
 * of it, and zips/directories made from them.
 */
import { zipSync } from "fflate";

/** Absolute path of the committed fixture dataset directory. */
export const FIXTURE_DIR = new URL("../fixtures/PennFudanPed", import.meta.url).pathname;

/** Reads every fixture file: path relative to fixtures/ ("PennFudanPed/PNGImages/…") → bytes. */
export async function readFixtureFiles(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  async function walk(rel: string): Promise<void> {
    const abs = `${FIXTURE_DIR}/..${rel ? `/${rel}` : ""}`;
    for await (const e of Deno.readDir(abs)) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(child);
      else if (e.isFile) files.set(child, await Deno.readFile(`${FIXTURE_DIR}/../${child}`));
    }
  }
  await walk("PennFudanPed");
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Zips a file map (deflate level 6, fixed timestamps so the bytes are reproducible). */
export function zipFiles(files: Map<string, Uint8Array>): Uint8Array {
  const tree: Record<string, [Uint8Array, { level: 6; mtime: Date }]> = {};
  for (const [path, bytes] of files) {
    tree[path] = [bytes, { level: 6, mtime: new Date("2020-08-13T10:43:00Z") }];
  }
  return zipSync(tree);
}

/** Writes a file map under `dir`. */
export async function writeFiles(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  for (const [path, bytes] of files) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, bytes);
  }
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
