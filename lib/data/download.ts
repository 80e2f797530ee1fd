/**
 * Downloading the dataset archive into a cache directory, safely: the bytes go to a `.part` file that is renamed to
 * its final name only once complete (length checked against Content-Length, SHA-256 checked when known), so a
 * partial or interrupted download is never mistaken for the archive. An interrupted `.part` is resumed with an HTTP
 * Range request guarded by If-Range (the ETag or Last-Modified of the first response), so a tail is only appended
 * if the server still has the same file.
 * @module
 */
import {
  exists,
  FileReadError,
  InputError,
  knownIoError,
  READ_LIMITS,
  readRegularFile,
  readRegularTextFile,
  sha256Hex,
  writeFileAtomic,
} from "../core/mod.ts";

/** The official Penn-Fudan release. */
export const PENN_FUDAN_URL = "https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip";
/** How long to wait for the server's response headers before giving up (fails fast when offline). */
export const CONNECT_TIMEOUT_MS = 15_000;
/** How long the body may stall (no bytes) before giving up. */
export const STALL_TIMEOUT_MS = 30_000;

/** Download failed (offline, HTTP error, incomplete, checksum mismatch). The message says what to do instead. */
export class DownloadError extends InputError {
  override name = "DownloadError";
  constructor(readonly url: string, readonly reason: string, hint = "") {
    super(`cannot download ${url}: ${reason}${hint ? `\n${hint}` : ""}`);
  }
}

/** Progress of a download: bytes so far, total (null if unknown), bytes per second. */
export interface DownloadProgress {
  received: number;
  total: number | null;
  bytesPerSecond: number;
}

export interface DownloadOptions {
  /** Directory of the cache (created if missing). */
  cacheDir: string;
  /** File name in the cache; default: the URL's last path segment. */
  fileName?: string;
  /** Expected SHA-256 (hex); the download is rejected (and the cache entry refused) if it differs. */
  sha256?: string;
  /** Hint appended to network errors, e.g. "pass --data <zip|dir> to use a local copy". */
  offlineHint?: string;
  /** Progress callback, called at most every `progressIntervalMs` and at the end. */
  onProgress?: (p: DownloadProgress) => void;
  progressIntervalMs?: number;
  connectTimeoutMs?: number;
  stallTimeoutMs?: number;
}

export interface DownloadResult {
  /** Path of the complete file in the cache. */
  path: string;
  sha256: string;
  bytes: number;
  /** True if the file came from the cache without any network access. */
  fromCache: boolean;
}

/** Default cache directory: $SSD_CACHE_DIR, else $XDG_CACHE_HOME/ssd300-pennfudan, else ~/.cache/ssd300-pennfudan. */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("SSD_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/ssd300-pennfudan`;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.cache/ssd300-pennfudan` : ".cache/ssd300-pennfudan";
}

/**
 * Returns the cached copy of `url` if a complete one exists (its recorded SHA-256 re-checked), otherwise downloads
 * it: to `<file>.part` (resumed with a Range request if a previous `.part` exists and the server answers 206), then
 * checks the length against Content-Length and the SHA-256 against `opts.sha256`, then renames it into place and
 * records its SHA-256 in `<file>.sha256`.
 * @throws DownloadError on network failure (within about `connectTimeoutMs` when offline), an HTTP error status,
 *   a short body, or a checksum mismatch. The final file is never created by a failed download.
 */
export async function downloadToCache(url: string, opts: DownloadOptions): Promise<DownloadResult> {
  const fileName = opts.fileName ?? decodeURIComponent(new URL(url).pathname.split("/").pop() || "download");
  if (fileName.includes("/") || fileName.startsWith(".")) {
    throw new DownloadError(url, `bad file name ${fileName}`);
  }
  await Deno.mkdir(opts.cacheDir, { recursive: true });
  const finalPath = `${opts.cacheDir}/${fileName}`;
  const shaPath = `${finalPath}.sha256`;
  const partPath = `${finalPath}.part`;

  // 1. Cache hit: the final file plus its recorded hash, and the content still matches.
  if (await exists(finalPath) && await exists(shaPath)) {
    const cached = await Promise.all([
      readRegularTextFile(shaPath, READ_LIMITS.list),
      readRegularFile(finalPath, READ_LIMITS.archive),
    ]).catch(() => null); // not regular files, or too large: download again
    if (cached) {
      const [recorded, bytes] = cached;
      const actual = await sha256Hex(bytes);
      if (actual === recorded.trim() && (!opts.sha256 || opts.sha256 === actual)) {
        return { path: finalPath, sha256: actual, bytes: bytes.length, fromCache: true };
      }
    }
    // Damaged or unexpected: fall through and download again.
    await Deno.remove(finalPath).catch(() => {});
    await Deno.remove(shaPath).catch(() => {});
  }

  // 2. Download (or resume) into the .part file.
  // Resume only a .part whose server validator (ETag or Last-Modified) we recorded: the request carries it in
  // If-Range, so a server whose file changed answers 200 with the whole new file instead of a mismatched tail.
  const validatorPath = `${partPath}.validator`;
  let offset = 0;
  let validator: string | null = null;
  try {
    validator = (await readRegularTextFile(validatorPath, READ_LIMITS.list)).trim() || null;
    offset = validator ? (await Deno.stat(partPath)).size : 0;
  } catch { /* no resumable partial download */ }
  const hint = opts.offlineHint ?? "";
  const controller = new AbortController();
  const connectTimer = setTimeout(() => controller.abort(), opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, {
      signal: controller.signal,
      headers: offset > 0 && validator ? { Range: `bytes=${offset}-`, "If-Range": validator } : {},
    });
  } catch (e) {
    const reason = controller.signal.aborted
      ? "no response (timed out; offline?)"
      : `network error (${(e as Error).message})`;
    throw new DownloadError(url, reason, hint);
  } finally {
    clearTimeout(connectTimer);
  }
  let total: number | null;
  let append: boolean;
  if (response.status === 206 && offset > 0) {
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== offset) {
      await response.body?.cancel();
      await Deno.remove(partPath).catch(() => {});
      throw new DownloadError(
        url,
        "server sent an unexpected Content-Range for the resumed download; try again",
      );
    }
    total = Number(range[3]);
    append = true;
  } else if (response.ok) {
    const length = response.headers.get("content-length");
    total = length !== null ? Number(length) : null;
    append = false; // full body: restart the .part file
    const newValidator = response.headers.get("etag") ?? response.headers.get("last-modified");
    if (newValidator) await Deno.writeTextFile(validatorPath, newValidator);
    else await Deno.remove(validatorPath).catch(() => {});
  } else if (response.status === 416 && offset > 0) {
    // Range not satisfiable: the .part is as long as (or longer than) the file. Start over to be safe.
    await response.body?.cancel();
    await Deno.remove(partPath).catch(() => {});
    return await downloadToCache(url, opts);
  } else {
    await response.body?.cancel();
    throw new DownloadError(url, `HTTP ${response.status} ${response.statusText}`, hint);
  }
  if (!response.body) throw new DownloadError(url, "empty response body");

  const file = await Deno.open(partPath, { write: true, create: true, append, truncate: !append });
  let received = append ? offset : 0;
  const started = performance.now();
  const startBytes = received;
  let lastReport = 0;
  const interval = opts.progressIntervalMs ?? 500;
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    opts.onProgress?.({
      received,
      total,
      bytesPerSecond: seconds > 0 ? (received - startBytes) / seconds : 0,
    });
  };
  const reader = response.body.getReader();
  try {
    while (true) {
      let stallTimer: ReturnType<typeof setTimeout> | undefined;
      const stall = new Promise<never>((_, reject) => {
        stallTimer = setTimeout(
          () => reject(new DownloadError(url, "download stalled (no data received); try again", hint)),
          opts.stallTimeoutMs ?? STALL_TIMEOUT_MS,
        );
      });
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), stall]);
      } finally {
        clearTimeout(stallTimer);
      }
      if (chunk.done) break;
      let written = 0;
      while (written < chunk.value.length) written += await file.write(chunk.value.subarray(written));
      received += chunk.value.length;
      if (performance.now() - lastReport >= interval) {
        lastReport = performance.now();
        report();
      }
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof DownloadError) throw e;
    const io = knownIoError(e, partPath); // the disk, not the connection (a full cache, …)
    if (io) throw io;
    throw new DownloadError(url, `connection lost after ${received} bytes (${(e as Error).message})`, hint);
  } finally {
    file.close();
  }
  report();

  // 3. Verify, then move into place.
  if (total !== null && received !== total) {
    throw new DownloadError(
      url,
      `incomplete download: ${received} of ${total} bytes (kept ${partPath} to resume)`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(partPath, READ_LIMITS.archive);
  } catch (e) {
    throw e instanceof FileReadError ? new DownloadError(url, e.message) : e;
  }
  const sha256 = await sha256Hex(bytes);
  if (opts.sha256 && sha256 !== opts.sha256) {
    await Deno.remove(partPath).catch(() => {});
    await Deno.remove(validatorPath).catch(() => {});
    throw new DownloadError(url, `SHA-256 ${sha256} differs from the expected ${opts.sha256}`);
  }
  await Deno.rename(partPath, finalPath);
  await Deno.remove(validatorPath).catch(() => {});
  await writeFileAtomic(shaPath, `${sha256}\n`);
  return { path: finalPath, sha256, bytes: bytes.length, fromCache: false };
}
