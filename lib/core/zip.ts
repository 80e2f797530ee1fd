/**
 * The one zip reader (PKWARE APPNOTE 6.3): a dataset archive (lib/data/source.ts) and a `torch.save` file
 * (lib/torch/pth_zip.ts) are both read with it, from bytes held in memory, never extracted to disk.
 *
 * The central directory is read first (zip64 fields included), so a truncated archive is detected; each entry is
 * then read on demand: stored entries as zero-copy views into the archive, deflated ones inflated with fflate's
 * `inflateSync`, and every entry's CRC-32 checked (as PyTorch's reader does). Hand-written around fflate because
 * fflate's `unzipSync` copies every entry and its streaming `Unzip` scans byte by byte when entries have data
 * descriptors, as PyTorch's writer emits (~3 s for the 105 MB VOC checkpoint). Errors name the entry and the
 * byte offset where the archive stops making sense. No TF.js here.
 * @module
 */
import { inflateSync } from "fflate";
import { crc32 } from "./checksum.ts";
import { InputError } from "./errors.ts";

/** Signatures of the records (APPNOTE 4.3): local header, central directory header, end records. */
const SIGNATURE = {
  local: 0x04034b50,
  central: 0x02014b50,
  eocd: 0x06054b50,
  zip64Locator: 0x07064b50,
  zip64Eocd: 0x06064b50,
} as const;
/** Bytes in the fixed part of a local header, a central directory header and the end record (4.3.7, .12, .16). */
const FIXED_SIZE = { local: 30, central: 46, eocd: 22 } as const;
/** The EOCD record is 22 bytes plus a comment of at most 65535 bytes at the very end of the archive. */
const EOCD_MAX_DISTANCE = FIXED_SIZE.eocd + 0xffff;
/** Compression methods (APPNOTE 4.4.5) this reader supports. */
const METHOD = { stored: 0, deflate: 8 } as const;
/** Deflate cannot expand data by more than ~1032:1; a larger declared size is a corrupt header. */
const DEFLATE_MAX_RATIO = 1032;

/**
 * A zip archive that cannot be read. `entry` is the entry's name when one entry is bad (the rest of the archive
 * may still be readable), null when the archive itself is.
 */
export class ZipFormatError extends InputError {
  override name = "ZipFormatError";
  constructor(readonly entry: string | null, readonly reason: string) {
    super(entry === null ? reason : `zip entry ${entry} ${reason}`);
  }
}

/** One file of the central directory. Sizes and offsets in bytes. */
export interface ZipEntry {
  name: string;
  /** compression method: 0 stored, 8 deflate (others are rejected on read) */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** encrypted entries are listed but cannot be read */
  encrypted: boolean;
}

function corrupt(what: string): never {
  throw new ZipFormatError(null, `truncated or corrupt zip archive: ${what}`);
}

/**
 * The files of a zip archive (directory entries left out), by name, from its central directory.
 * @throws ZipFormatError (entry null) when there is no end record or the central directory is damaged.
 */
export function readZipDirectory(bytes: Uint8Array): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - FIXED_SIZE.eocd; i >= Math.max(0, bytes.length - EOCD_MAX_DISTANCE); i--) {
    if (view.getUint32(i, true) === SIGNATURE.eocd) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) corrupt("no end-of-central-directory record (not a zip archive, or truncated)");
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === SIGNATURE.zip64Locator) {
    const z = Number(view.getBigUint64(eocd - 12, true));
    if (z + 56 > bytes.length || view.getUint32(z, true) !== SIGNATURE.zip64Eocd) {
      corrupt(`bad zip64 end record at byte ${z}`);
    }
    count = Number(view.getBigUint64(z + 32, true));
    cdSize = Number(view.getBigUint64(z + 40, true));
    cdOffset = Number(view.getBigUint64(z + 48, true));
  }
  if (cdOffset + cdSize > eocd) {
    corrupt(`central directory at byte ${cdOffset} (+${cdSize}) runs past the end record at byte ${eocd}`);
  }
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + FIXED_SIZE.central > eocd || view.getUint32(p, true) !== SIGNATURE.central) {
      corrupt(`central directory entry ${n} at byte ${p}`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const extraStart = p + FIXED_SIZE.central + nameLen;
    const extraEnd = extraStart + extraLen;
    if (extraEnd > eocd) corrupt(`central directory entry ${n} at byte ${p}`);
    const name = decoder.decode(bytes.subarray(p + FIXED_SIZE.central, extraStart));
    // zip64 extended information (header id 1): the 0xffffffff fields, in the order size, csize, offset.
    for (let e = extraStart; e + 4 <= extraEnd;) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > extraEnd) corrupt(`zip64 field of ${name} at byte ${q}`);
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      e += 4 + len;
    }
    p = extraEnd + commentLen;
    if (name.endsWith("/")) continue; // a directory
    entries.set(name, {
      name,
      method,
      crc,
      compressedSize,
      size,
      localHeaderOffset,
      encrypted: (flags & 1) !== 0,
    });
  }
  return entries;
}

/**
 * The bytes of one entry of `bytes` (the archive its directory was read from): a view into `bytes` for a stored
 * entry (do not modify it), a new array for a deflated one. The CRC-32 is always checked.
 * @throws ZipFormatError naming the entry (bad local header, data past the end, unsupported method or
 *   encryption, corrupt deflate data, wrong size, CRC-32 mismatch).
 */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const fail = (reason: string): never => {
    throw new ZipFormatError(entry.name, reason);
  };
  if (entry.encrypted) fail("is encrypted (not supported)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = entry.localHeaderOffset;
  if (h + FIXED_SIZE.local > bytes.length || view.getUint32(h, true) !== SIGNATURE.local) {
    fail(`has no valid local header at byte ${h} (truncated or corrupt zip archive)`);
  }
  const start = h + FIXED_SIZE.local + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  if (start + entry.compressedSize > bytes.length) {
    fail("is truncated: its data ends past the end of the file");
  }
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === METHOD.stored) {
    data = raw;
  } else if (entry.method === METHOD.deflate) {
    if (entry.size > entry.compressedSize * DEFLATE_MAX_RATIO + 1024) {
      fail(`has an impossible size ${entry.size} for ${entry.compressedSize} compressed bytes`);
    }
    try {
      data = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (e) {
      return fail(`has corrupt deflate data: ${(e as Error).message}`);
    }
  } else {
    return fail(`uses unsupported compression method ${entry.method}`);
  }
  if (data.length !== entry.size) fail(`has ${data.length} bytes, its header says ${entry.size}`);
  if (crc32(data) !== entry.crc) fail("is corrupt: CRC-32 mismatch");
  return data;
}
