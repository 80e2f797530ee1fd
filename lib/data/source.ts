/**
 * Read-only access to a dataset's files: a {@link DataSource} is the file tree a dataset is read from, either a
 * zip archive read in place (lib/core/zip.ts: no extraction; entries inflated on demand and CRC-checked) or a
 * directory tree (listed by lib/core/walk.ts: no cycles, no links out of it, each file once; every file read
 * bounded, lib/core/read_file.ts).
 * @module
 */
import {
  FileReadError,
  inlineList,
  InputError,
  READ_LIMITS,
  readRegularFile,
  readRegularFileSync,
  readZipDirectory,
  readZipEntry,
  walkFiles,
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

/**
 * Opens a zip archive file as a {@link DataSource} (the whole archive is held in memory, never extracted; a regular
 * file of at most `READ_LIMITS.archive`).
 */
export async function openZipSource(path: string): Promise<DataSource> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(path, READ_LIMITS.archive);
  } catch (e) {
    throw e instanceof FileReadError ? new SourceError(path, e.reason) : e;
  }
  return openZipBytes(bytes, path);
}

/**
 * Opens a directory tree as a {@link DataSource}: its regular files as lib/core `walkFiles` lists them (hidden
 * ones skipped, symlinks leading out of it not followed: `onNote` hears of those), each read as a regular file of
 * at most `READ_LIMITS.image`.
 */
export async function openDirectorySource(
  dir: string,
  opts: { onNote?: (line: string) => void } = {},
): Promise<DataSource> {
  const root = withoutTrailingSlash(dir);
  let names: string[], outside: string[];
  try {
    ({ files: names, outside } = await walkFiles(root));
  } catch (e) {
    throw e instanceof FileReadError ? new SourceError(e.file, e.reason) : e;
  }
  if (outside.length > 0) {
    opts.onNote?.(
      `${root}: skipped ${outside.length} symlink(s) leading out of the folder: ${inlineList(outside)}`,
    );
  }
  names.sort();
  const set = new Set(names);
  const out = new Set(outside);
  return {
    kind: "directory",
    location: dir,
    list: () => names.slice(),
    has: (path) => set.has(path),
    read(path) {
      const full = `${root}/${path}`;
      if (!set.has(path)) {
        throw new SourceError(
          full,
          out.has(path) ? `a symlink leading out of ${root}, not read` : "no such file",
        );
      }
      try {
        return readRegularFileSync(full, READ_LIMITS.image);
      } catch (e) {
        throw e instanceof FileReadError ? new SourceError(full, e.reason) : e;
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
