/**
 * The zip container of `torch.save` files, read with the project's one zip reader (lib/core/zip.ts: central
 * directory incl. zip64, stored entries as zero-copy views, deflated ones via fflate, CRC-32 checked); its errors
 * become {@link TorchFormatError}s with the same message.
 */
import { readZipDirectory, readZipEntry, ZipFormatError } from "../core/mod.ts";
import { TorchFormatError } from "./pickle.ts";

/**
 * Every entry of a zip archive by name, read eagerly (so a truncated or corrupt archive fails here): stored
 * entries (all that torch.save writes) are views into `bytes`, not copies.
 * @throws TorchFormatError naming the entry or byte offset that is bad
 */
export function readZipEntries(bytes: Uint8Array): Record<string, Uint8Array> {
  try {
    const files: Record<string, Uint8Array> = {};
    for (const [name, entry] of readZipDirectory(bytes)) files[name] = readZipEntry(bytes, entry);
    return files;
  } catch (e) {
    if (e instanceof ZipFormatError) throw new TorchFormatError(e.message, { cause: e });
    throw e;
  }
}
