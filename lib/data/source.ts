/**
 * Read-only access to a dataset's files: a {@link DataSource} is the file tree a dataset is read from, either a
 * zip archive read in place (lib/core/zip.ts: no extraction; entries inflated on demand and CRC-checked) or a
 * directory tree.
 * @module
 */
import {
  InputError,
  readZipDirectory,
  readZipEntry,
  withoutTrailingSlash,
  type ZipEntry,
  ZipFormatError,
} from "../core/mod.ts";

/** A file tree that a dataset is read from. Paths are relative, "/"-separated, without a leading "/". */
export interface DataSource {
  readonly kind: "zip" | "directory";
  /** The archive file or the directory, as opened. */
  readonly location: string;
  /** Every regular file's path (directories excluded), sorted. */
  list(): string[];
  /** Whether `path` is a file in the source. */
  has(path: string): boolean;
  /**
   * The bytes of the file at `path` (from a zip, a stored entry is a view into the archive: do not modify it).
   * @throws SourceError if missing or unreadable (bad zip entry, CRC mismatch).
   */
  read(path: string): Uint8Array;
}

/** A source (zip or directory) or one of its entries that cannot be opened or read. Names the file. */
export class SourceError extends InputError {
  override name = "SourceError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

/**
 * Opens zip bytes as a {@link DataSource}. Reads the central directory now; entries are inflated and CRC-checked on
 * each {@link DataSource.read}.
 * @param location the archive's path, used in error messages.
 */
export function openZipBytes(bytes: Uint8Array, location: string): DataSource {
  let entries: Map<string, ZipEntry>;
  try {
    entries = readZipDirectory(bytes);
  } catch (e) {
    throw e instanceof ZipFormatError ? new SourceError(location, e.reason) : e;
  }
  const names = [...entries.keys()].sort();
  return {
    kind: "zip",
    location,
    list: () => names.slice(),
    has: (path) => entries.has(path),
    read(path) {
      const entry = entries.get(path);
      if (!entry) throw new SourceError(`${location}:${path}`, "no such file in the archive");
      try {
        return readZipEntry(bytes, entry);
      } catch (e) {
        throw e instanceof ZipFormatError
          ? new SourceError(`${location}:${path}`, `zip entry ${e.reason}`)
          : e;
      }
    },
  };
}

/** Opens a zip archive file as a {@link DataSource} (the whole archive is held in memory, never extracted). */
export async function openZipSource(path: string): Promise<DataSource> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new SourceError(path, `cannot read: ${(e as Error).message}`);
  }
  return openZipBytes(bytes, path);
}

/** Opens a directory tree as a {@link DataSource}. Hidden files and directories (".name") are skipped. */
export async function openDirectorySource(dir: string): Promise<DataSource> {
  const root = withoutTrailingSlash(dir);
  const names: string[] = [];
  async function walk(rel: string): Promise<void> {
    const abs = rel ? `${root}/${rel}` : root;
    for await (const e of Deno.readDir(abs)) {
      if (e.name.startsWith(".")) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(child);
      else if (e.isFile) names.push(child);
      else if (e.isSymlink) {
        const info = await Deno.stat(`${root}/${child}`).catch(() => null);
        if (info?.isFile) names.push(child);
        else if (info?.isDirectory) await walk(child);
      }
    }
  }
  try {
    await walk("");
  } catch (e) {
    throw new SourceError(dir, `cannot list directory: ${(e as Error).message}`);
  }
  names.sort();
  const set = new Set(names);
  return {
    kind: "directory",
    location: dir,
    list: () => names.slice(),
    has: (path) => set.has(path),
    read(path) {
      if (!set.has(path)) throw new SourceError(`${root}/${path}`, "no such file");
      try {
        return Deno.readFileSync(`${root}/${path}`);
      } catch (e) {
        throw new SourceError(`${root}/${path}`, `cannot read: ${(e as Error).message}`);
      }
    },
  };
}

/** Opens `path` as a zip source if it is a file, as a directory source if it is a directory. */
export async function openSource(path: string): Promise<DataSource> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new SourceError(path, `cannot open: ${(e as Error).message}`);
  }
  return info.isDirectory ? await openDirectorySource(path) : await openZipSource(path);
}
