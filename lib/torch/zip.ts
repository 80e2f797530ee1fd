/**
 * Zip container reading for torch.save files: central directory (incl. zip64), stored entries as zero-copy views,
 * deflated ones via fflate, CRC-32 verification.
 */
import { inflateSync } from "fflate";
import { TorchFormatError } from "./pickle.ts";

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) lookup tables for slicing-by-8. */
const CRC_TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
    }
  }
  return t;
})();

/** CRC-32 of `bytes` as zip stores it (unsigned 32-bit). */
export function crc32(bytes: Uint8Array): number {
  const t = CRC_TABLES;
  let c = ~0;
  let i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Zip record signatures (PKWARE APPNOTE 4.3). */
const ZIP_LOCAL_HEADER = 0x04034b50;
const ZIP_CENTRAL_HEADER = 0x02014b50;
const ZIP_EOCD = 0x06054b50;
const ZIP64_EOCD_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
/** The EOCD record is 22 bytes plus a comment of at most 65535 bytes at the very end of the archive. */
const ZIP_EOCD_MAX_DISTANCE = 22 + 0xffff;

/**
 * Entries of a zip archive as views into `bytes`: stored entries (all that torch.save writes) are subarrays,
 * not copies; deflated ones are inflated with fflate. Reads the central directory (with zip64 fields), so a
 * truncated archive is detected, and checks each entry's CRC-32 (as PyTorch's reader does) unless `verifyCrc`
 * is false. (fflate's unzipSync copies every entry and its streaming Unzip scans byte by
 * byte when entries have data descriptors, as PyTorch's writer emits: ~3 s for the 105 MB VOC file.)
 */
export function readZipEntries(bytes: Uint8Array, verifyCrc = true): Record<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const truncated = (what: string): never => {
    throw new TorchFormatError(`truncated or corrupt zip archive: ${what}`);
  };
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - ZIP_EOCD_MAX_DISTANCE); i--) {
    if (view.getUint32(i, true) === ZIP_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) truncated("no end-of-central-directory record");
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_EOCD_LOCATOR) {
    const z = Number(view.getBigUint64(eocd - 12, true));
    if (z + 56 > bytes.length || view.getUint32(z, true) !== ZIP64_EOCD) truncated("bad zip64 end record");
    count = Number(view.getBigUint64(z + 32, true));
    cdOffset = Number(view.getBigUint64(z + 48, true));
  }
  const files: Record<string, Uint8Array> = {};
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== ZIP_CENTRAL_HEADER) {
      truncated(`central directory entry ${n} at byte ${p}`);
    }
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let csize = view.getUint32(p + 20, true);
    let usize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > bytes.length) truncated(`central directory entry ${n}`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information (header id 1): the 0xffffffff fields, in the order usize, csize, offset.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (usize === 0xffffffff) usize = Number(view.getBigUint64(q, true)), q += 8;
        if (csize === 0xffffffff) csize = Number(view.getBigUint64(q, true)), q += 8;
        if (local === 0xffffffff) local = Number(view.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    if (local + 30 > bytes.length || view.getUint32(local, true) !== ZIP_LOCAL_HEADER) {
      truncated(`local header of ${name} at byte ${local}`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + csize > bytes.length) truncated(`data of ${name} ends past the end of the file`);
    const raw = bytes.subarray(start, start + csize);
    if (method === 0) files[name] = raw;
    else if (method === 8) {
      try {
        files[name] = inflateSync(raw, { out: new Uint8Array(usize) });
      } catch (e) {
        throw new TorchFormatError(`corrupt zip entry ${name}: ${(e as Error).message}`, { cause: e });
      }
    } else throw new TorchFormatError(`zip entry ${name} uses unsupported compression method ${method}`);
    if (files[name].length !== usize) {
      throw new TorchFormatError(
        `zip entry ${name} has ${files[name].length} bytes, its header says ${usize}`,
      );
    }
    if (verifyCrc && crc32(files[name]) !== crc) {
      throw new TorchFormatError(`zip entry ${name} is corrupt: CRC-32 mismatch`);
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}
