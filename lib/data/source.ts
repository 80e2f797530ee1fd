/**
 * Read-only access to a dataset's files, straight from a zip archive (no extraction to disk; entries are inflated
 * on demand with fflate and CRC-checked) or from a directory tree.
 * @module
 */
import { inflateSync } from "fflate";
import { crc32 } from "../image/codec.ts";
import { InputError } from "../core/errors.ts";

/** A file tree that a dataset is read from. Paths are relative, "/"-separated, without a leading "/". */
export interface DataSource {
  readonly kind: "zip" | "directory";
  /** The archive file or the directory, as opened. */
  readonly location: string;
  /** Every regular file's path (directories excluded), sorted. */
  list(): string[];
  /** Whether `path` is a file in the source. */
  has(path: string): boolean;
  /** The bytes of the file at `path`. @throws SourceError if missing or unreadable (bad zip entry, CRC mismatch). */
  read(path: string): Uint8Array;
}

/** A source (zip or directory) or one of its entries that cannot be opened or read. Names the file. */
export class SourceError extends InputError {
  override name = "SourceError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Zip (PKWARE APPNOTE 6.3): end-of-central-directory record → central directory → local headers.

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_MIN_SIZE = 22;
const MAX_COMMENT = 0xffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Parses a zip archive's central directory. @throws SourceError (truncated, not a zip, zip64, encrypted…). */
function readZipDirectory(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  const lowest = Math.max(0, bytes.length - EOCD_MIN_SIZE - MAX_COMMENT);
  for (let i = bytes.length - EOCD_MIN_SIZE; i >= lowest; i--) {
    if (view.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new SourceError(file, "not a zip archive, or truncated (no end-of-central-directory record)");
  }
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) {
    throw new SourceError(file, "zip64 archives are not supported");
  }
  if (cdOffset + cdSize > eocd) {
    throw new SourceError(
      file,
      `corrupt or truncated zip (central directory at ${cdOffset}+${cdSize} > ${eocd})`,
    );
  }
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== CENTRAL_SIGNATURE) {
      throw new SourceError(file, `corrupt zip: central directory entry ${i} is damaged`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    const compressedSize = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const localHeaderOffset = view.getUint32(p + 42, true);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith("/")) continue; // directory entry
    if (flags & 1) throw new SourceError(`${file}:${name}`, "encrypted zip entries are not supported");
    entries.set(name, { name, method, crc, compressedSize, size, localHeaderOffset });
  }
  return entries;
}

function readZipEntry(bytes: Uint8Array, entry: ZipEntry, file: string): Uint8Array {
  const where = `${file}:${entry.name}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = entry.localHeaderOffset;
  if (h + 30 > bytes.length || view.getUint32(h, true) !== LOCAL_SIGNATURE) {
    throw new SourceError(where, "corrupt zip entry (bad local header)");
  }
  const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) throw new SourceError(where, "truncated zip entry");
  const raw = bytes.subarray(start, end);
  let data: Uint8Array;
  if (entry.method === METHOD_STORED) {
    data = raw.slice();
  } else if (entry.method === METHOD_DEFLATE) {
    try {
      data = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (e) {
      throw new SourceError(where, `corrupt deflate data: ${(e as Error).message}`);
    }
  } else {
    throw new SourceError(where, `unsupported zip compression method ${entry.method}`);
  }
  if (data.length !== entry.size) {
    throw new SourceError(where, `corrupt zip entry (size ${data.length}, expected ${entry.size})`);
  }
  if (crc32(data) !== entry.crc) throw new SourceError(where, "corrupt zip entry (CRC-32 mismatch)");
  return data;
}

/**
 * Opens zip bytes as a {@link DataSource}. Reads the central directory now; entries are inflated and CRC-checked on
 * each {@link DataSource.read}.
 * @param location the archive's path, used in error messages.
 */
export function openZipBytes(bytes: Uint8Array, location: string): DataSource {
  const entries = readZipDirectory(bytes, location);
  const names = [...entries.keys()].sort();
  return {
    kind: "zip",
    location,
    list: () => names.slice(),
    has: (path) => entries.has(path),
    read(path) {
      const entry = entries.get(path);
      if (!entry) throw new SourceError(`${location}:${path}`, "no such file in the archive");
      return readZipEntry(bytes, entry, location);
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
  const root = dir.replace(/\/+$/, "") || "/";
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

/** SHA-256 of `bytes` as lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
