/**
 * Known I/O failures are known errors: a full disk, an exceeded quota, a read-only file system, a denied
 * permission or a failing device is a problem of the user's machine, not a bug — one line naming the path and
 * the failure, exit 1, no stack trace ({@link knownIoError}; lib/cli/run.ts applies it to whatever a task throws,
 * and the writers of lib/core apply it with the path they were writing).
 * @module
 */
import { InputError } from "./errors.ts";
import { publicPath } from "./paths.ts";

/** The errno codes that are known I/O failures, with what a user reads. */
export const KNOWN_IO_CODES: Readonly<Record<string, string>> = Object.freeze({
  ENOSPC: "no space left on device (free some space or write elsewhere)",
  EDQUOT: "disk quota exceeded (free some space or write elsewhere)",
  EROFS: "read-only file system (write elsewhere)",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "input/output error (a failing disk or an unreachable network file system)",
});

// Linux errno numbers of the same failures, for an error that carries only `(os error N)` in its message
const LINUX_ERRNO: Readonly<Record<number, string>> = {
  28: "ENOSPC",
  122: "EDQUOT",
  30: "EROFS",
  13: "EACCES",
  1: "EPERM",
  5: "EIO",
};

/** A known I/O failure on `path` (see {@link KNOWN_IO_CODES}). */
export class FileSystemError extends InputError {
  override name = "FileSystemError";
  constructor(readonly path: string, readonly code: string) {
    super(`${path}: ${KNOWN_IO_CODES[code] ?? code} [${code}]`);
  }
}

/** The known errno code of an error (Deno sets `code`; else `(os error N)` in the message), or undefined. */
export function knownIoCode(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && code in KNOWN_IO_CODES) return code;
  const n = /\(os error (\d+)\)/.exec(e.message)?.[1];
  return n === undefined ? undefined : LINUX_ERRNO[Number(n)];
}

/**
 * `e` as a {@link FileSystemError} when it is a known I/O failure, naming `path` (a staged file by the path it
 * is committed to), or else the path Deno put in its message (`… (os error 28): writefile '/x/y'`); undefined
 * when `e` is something else. A FileSystemError is returned as it is.
 */
export function knownIoError(e: unknown, path?: string): FileSystemError | undefined {
  if (e instanceof FileSystemError) return e;
  const code = knownIoCode(e);
  if (code === undefined) return undefined;
  const named = path ?? /'([^']+)'(?: -> '[^']+')?$/.exec((e as Error).message)?.[1] ?? "(a file)";
  return new FileSystemError(publicPath(named), code);
}

/** Runs `fn`; a known I/O failure it throws becomes a {@link FileSystemError} naming `path`. */
export async function naming<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw knownIoError(e, path) ?? e;
  }
}
