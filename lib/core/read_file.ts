/**
 * Bounded reads of the files users give us: {@link readRegularFile} reads a file only when it is a regular file
 * (not a FIFO, a device, a socket or a directory: a FIFO would block the read forever, `/dev/zero` never ends)
 * whose size is within a stated limit ({@link READ_LIMITS}), checked before reading; the read itself stops at the
 * limit too (a file that grows while read, or a /proc file that reports size 0). Every read of user input goes
 * through it: datasets, COCO and JSON files, image lists, images and masks, checkpoints, weights, resume states.
 *
 * Hand-written: Deno's readFile reads whatever the path opens, and no maintained library bounds it. The check is
 * stat → open → fstat of the opened file (same device and inode): a file swapped for a FIFO between the stat and
 * the open would still block the open, which needs a concurrent writer racing us on the user's own disk.
 * @module
 */
import { concatBytes } from "./bytes.ts";
import { InputError } from "./errors.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** How much of what may be read: the limit in bytes and what the file is, for the message. */
export interface ReadLimit {
  maxBytes: number;
  /** e.g. "a JSON file" (in "over the 512 MiB limit for a JSON file") */
  what: string;
}

/**
 * The limits of each kind of input. JSON: COCO 2017's train instances file is 448 MB, and V8's longest string
 * is about 512 MiB anyway. Images: a PNG of the 89.5-megapixel limit takes up to ~270 MB (RGB, 8 bits). Models:
 * the VOC checkpoint is 105 MB, an ImageNet VGG16 528 MB. Dataset archives: Penn-Fudan's zip is 53 MB; the whole
 * archive is held in memory.
 */
export const READ_LIMITS = {
  json: { maxBytes: 512 * MiB, what: "a JSON file" },
  list: { maxBytes: 64 * MiB, what: "a list file" },
  image: { maxBytes: 512 * MiB, what: "an image" },
  model: { maxBytes: 2 * GiB, what: "a model file" },
  archive: { maxBytes: 2 * GiB, what: "a dataset archive" },
} as const satisfies Record<string, ReadLimit>;

/** A file that cannot be read: missing, not a regular file, over its size limit, or unreadable. */
export class FileReadError extends InputError {
  override name = "FileReadError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

/** `1.5 GiB`, `300 MiB`, `12 KiB`, `17 bytes`. */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[GiB, "GiB"], [MiB, "MiB"], [1024, "KiB"]];
  for (const [size, unit] of units) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} byte${n === 1 ? "" : "s"}`;
}

/** What a file that is not a regular file is ("a FIFO (named pipe)", "a character device", …). */
function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/** Why a Deno call on `file` failed, in words. */
function reasonOf(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return `permission denied (${(e as Error).message})`;
  }
  return `cannot read: ${(e as Error).message}`;
}

/** @throws FileReadError unless `info` is a regular file within `limit`. */
function checkInfo(file: string, info: Deno.FileInfo, limit: ReadLimit): void {
  if (!info.isFile) {
    const kind = kindOf(info);
    throw new FileReadError(file, kind === "not a regular file" ? kind : `is ${kind}, not a regular file`);
  }
  if (info.size > limit.maxBytes) throw tooLarge(file, info.size, limit);
}

function tooLarge(file: string, size: number, limit: ReadLimit): FileReadError {
  const limitText = `the ${formatBytes(limit.maxBytes)} limit for ${limit.what}`;
  return new FileReadError(file, `is ${size} bytes (${formatBytes(size)}), over ${limitText}`);
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * The buffers of one bounded read: the first as large as the opened file says it is, then probes past that
 * size (a file that grew, or a /proc file that says 0) until the end of the file or the limit.
 */
class BoundedRead {
  private parts: Uint8Array[] = [];
  private total = 0;
  /** the buffer to fill next; null at the end of the file */
  buffer: Uint8Array | null;

  constructor(private path: string, size: number, private limit: ReadLimit) {
    this.buffer = new Uint8Array(size);
  }

  /** Records `filled` bytes read into {@link buffer} (fewer than its length: the end of the file). */
  filled(filled: number): void {
    const buffer = this.buffer!;
    this.parts.push(buffer.subarray(0, filled));
    this.total += filled;
    if (this.total > this.limit.maxBytes) {
      throw new FileReadError(
        this.path,
        `grew past the ${formatBytes(this.limit.maxBytes)} limit for ${this.limit.what} while being read`,
      );
    }
    this.buffer = filled < buffer.length ? null : new Uint8Array(
      Math.min(this.parts.length === 1 ? 4096 : CHUNK, this.limit.maxBytes + 1 - this.total),
    );
  }

  /** The bytes read. */
  bytes(): Uint8Array {
    const { parts } = this;
    return concatBytes(parts.length === 2 && parts[1].length === 0 ? [parts[0]] : parts);
  }
}

/** Chunk size of reads past the size the file reported. */
const CHUNK = 1024 * 1024;

/** A file operation that {@link readSteps} asks for; each reader carries it out with Deno's calls. */
type Step = { op: "stat" } | { op: "open" } | { op: "fstat" } | { op: "read"; into: Uint8Array };

/**
 * One bounded read of `path` as a generator, so that the asynchronous and the synchronous reader share every
 * check: it yields the file operation it needs next and is resumed with that operation's result, or thrown
 * its error. The reader opens (and closes) the file.
 */
function* readSteps(path: string, limit: ReadLimit): Generator<Step, Uint8Array, unknown> {
  let info: Deno.FileInfo;
  try {
    info = (yield { op: "stat" }) as Deno.FileInfo;
  } catch (e) {
    throw new FileReadError(path, reasonOf(e));
  }
  checkInfo(path, info, limit);
  try {
    yield { op: "open" };
  } catch (e) {
    throw new FileReadError(path, reasonOf(e));
  }
  try {
    const opened = (yield { op: "fstat" }) as Deno.FileInfo;
    checkInfo(path, opened, limit);
    if (!sameFile(info, opened)) throw new FileReadError(path, "was replaced while being opened");
    const read = new BoundedRead(path, opened.size, limit);
    while (read.buffer) {
      const buffer = read.buffer;
      let n = 0;
      for (let got: number | null = 0; got !== null && n < buffer.length; n += got ?? 0) {
        got = (yield { op: "read", into: buffer.subarray(n) }) as number | null;
      }
      read.filled(n);
    }
    return read.bytes();
  } catch (e) {
    throw e instanceof FileReadError ? e : new FileReadError(path, reasonOf(e));
  }
}

/**
 * Reads `path` whole when it is a regular file of at most `limit.maxBytes` (symlinks are followed: the file they
 * lead to must be one).
 * @throws FileReadError naming the file: missing, unreadable, not a regular file (FIFO, device, socket,
 *   directory), or larger than the limit (before reading; or while reading, when it grows past it)
 */
export async function readRegularFile(path: string, limit: ReadLimit): Promise<Uint8Array> {
  const steps = readSteps(path, limit);
  let file: Deno.FsFile | undefined;
  const perform = async (step: Step): Promise<unknown> => {
    if (step.op === "stat") return await Deno.stat(path);
    if (step.op === "open") return file = await Deno.open(path, { read: true });
    return step.op === "fstat" ? await file!.stat() : await file!.read(step.into);
  };
  try {
    let next = steps.next();
    while (!next.done) {
      let result: unknown;
      try {
        result = await perform(next.value);
      } catch (e) {
        next = steps.throw(e);
        continue;
      }
      next = steps.next(result);
    }
    return next.value;
  } finally {
    file?.close();
  }
}

/** {@link readRegularFile}, synchronously (for sources read one file at a time inside synchronous code). */
export function readRegularFileSync(path: string, limit: ReadLimit): Uint8Array {
  const steps = readSteps(path, limit);
  let file: Deno.FsFile | undefined;
  const perform = (step: Step): unknown => {
    if (step.op === "stat") return Deno.statSync(path);
    if (step.op === "open") return file = Deno.openSync(path, { read: true });
    return step.op === "fstat" ? file!.statSync() : file!.readSync(step.into);
  };
  try {
    let next = steps.next();
    while (!next.done) {
      let result: unknown;
      try {
        result = perform(next.value);
      } catch (e) {
        next = steps.throw(e);
        continue;
      }
      next = steps.next(result);
    }
    return next.value;
  } finally {
    file?.close();
  }
}

/** {@link readRegularFile} decoded as UTF-8 text (a byte-order mark is dropped). */
export async function readRegularTextFile(path: string, limit: ReadLimit): Promise<string> {
  return new TextDecoder().decode(await readRegularFile(path, limit));
}
