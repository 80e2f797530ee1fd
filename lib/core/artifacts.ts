/**
 * The files the pipeline reads and writes: JSON artifacts validated by a zod schema at the boundary (one schema
 * per artifact, defined beside its writer), atomic writes (known I/O failures named by lib/core/io_errors.ts),
 * and an existence check. Sets of files in a run folder are committed by lib/core/run_folder.ts.
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { z } from "zod";
import { bulletList, describeValue, InputError } from "./errors.ts";
import { knownIoError } from "./io_errors.ts";
import { STAGING_DIR } from "./paths.ts";
import { FileReadError, READ_LIMITS, readRegularTextFile } from "./read_file.ts";

/**
 * An artifact file that is missing, not JSON, or does not satisfy its schema. Names the file and the fields (the
 * first 20 problems in the message, all in `problems`).
 */
export class ArtifactError extends InputError {
  override name = "ArtifactError";
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.length === 1 ? problems[0] : bulletList(problems)}`);
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * Validates `value` against `schema`; on failure throws an {@link ArtifactError} listing every bad field as
 * `field.path: message (got <value>)`.
 */
export function validateArtifact<S extends z.ZodType>(file: string, schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join(".") : "(root)";
    return `field ${field}: ${issue.message} (got ${describeValue(valueAt(value, issue.path))})`;
  });
  throw new ArtifactError(file, problems);
}

/**
 * Reads and parses a JSON file, not yet validated: a regular file of at most `READ_LIMITS.json` (lib/core/read_file.ts).
 * @throws ArtifactError if it cannot be read (missing, not a regular file, too large) or is not JSON.
 */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readRegularTextFile(file, READ_LIMITS.json);
  } catch (e) {
    if (e instanceof FileReadError) {
      throw new ArtifactError(file, [`cannot read: ${e.reason.replace(/^cannot read: /, "")}`]);
    }
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ArtifactError(file, [`not valid JSON: ${(e as Error).message}`]);
  }
}

/** Reads and validates a JSON artifact. */
export async function readJsonArtifact<S extends z.ZodType>(file: string, schema: S): Promise<z.infer<S>> {
  return validateArtifact(file, schema, await readJsonFile(file));
}

/** An output path that must be a file is an existing directory. */
export class OutputIsDirectoryError extends InputError {
  override name = "OutputIsDirectoryError";
  constructor(readonly file: string) {
    super(`${file}: is a directory; give the path of a file to write (e.g. ${join(file, "out")}…)`);
  }
}

/** Refuses an output file path that is an existing directory (call early, before long work). */
export async function checkOutputFile(file: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch {
    return; // absent (or unreachable: the write will say)
  }
  if (info.isDirectory) throw new OutputIsDirectoryError(file);
}

/** Whether process `pid` is alive, from /proc (Linux); null where /proc cannot be asked (absent, or not permitted). */
function processAlive(pid: number): boolean | null {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return null;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where liveness cannot be asked — no /proc, or a Deno without --allow-all, which /proc needs (the tasks do not
 * ask for it) — a temp file untouched this long is stale: an atomic write streams its bytes and renames at once,
 * so a live writer's temp is never a minute old.
 */
const STALE_TEMP_WITHOUT_PROC_MS = 60 * 1000;

/**
 * Removes `<prefix><pid>-<suffix>` entries of `dir` left by killed writers, for a folder nobody locks (the download
 * cache): only those whose pid is not this process, whose process is no longer alive (/proc; where it cannot be
 * read: untouched for a minute), and that were last modified before this process started — never a concurrent
 * writer's live temp. Errors are ignored (best effort). A locked run folder needs no such rule: its lock proves
 * every temp in it is a dead writer's (lib/core/run_folder.ts removes them at once).
 * @returns the paths removed
 */
export async function removeStaleTemps(dir: string, prefix: string): Promise<string[]> {
  const removed: string[] = [];
  const started = performance.timeOrigin;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.startsWith(prefix)) continue;
      const pid = Number(/^(\d+)-/.exec(entry.name.slice(prefix.length))?.[1]);
      if (!Number.isInteger(pid) || pid === Deno.pid) continue;
      const path = join(dir, entry.name);
      try {
        const mtime = (await Deno.lstat(path)).mtime?.getTime();
        if (mtime === undefined || mtime >= started) continue;
        const alive = processAlive(pid);
        if (alive === true || (alive === null && Date.now() - mtime < STALE_TEMP_WITHOUT_PROC_MS)) continue;
        await Deno.remove(path, { recursive: true });
        removed.push(path);
      } catch {
        // gone meanwhile, or not ours to remove
      }
    }
  } catch {
    // directory unreadable: nothing to clean
  }
  return removed;
}

/** The temp-file prefix of {@link writeFileAtomic} for `file`: `<name>.tmp-` (then `<pid>-<random>`). */
const tempPrefix = (file: string) => `${basename(file)}.tmp-`;

/**
 * Writes `bytes` to `file` atomically: a temporary file `<file>.tmp-<pid>-<random>` in the same directory, then a
 * rename, so that readers never see a partial file and an interrupted write leaves the previous version in place.
 * Stale temps of `file` from killed runs are removed first ({@link removeStaleTemps}). A file staged in a locked
 * run folder (lib/core/run_folder.ts) is written directly: its commit is the atomic step.
 * @throws OutputIsDirectoryError if `file` is an existing directory; FileSystemError for a known I/O failure
 *   (no space, read-only, …), naming the file
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const write = (path: string) =>
    typeof bytes === "string" ? Deno.writeTextFile(path, bytes) : Deno.writeFile(path, bytes);
  if (file.includes(`/${STAGING_DIR}/`) || file.startsWith(`${STAGING_DIR}/`)) {
    try {
      await Deno.mkdir(dirname(file), { recursive: true });
      return await write(file);
    } catch (e) {
      throw knownIoError(e, file) ?? e;
    }
  }
  try {
    await Deno.mkdir(dirname(file), { recursive: true });
  } catch (e) {
    throw knownIoError(e, dirname(file)) ?? e;
  }
  await checkOutputFile(file);
  await removeStaleTemps(dirname(file), tempPrefix(file));
  const tmp = `${file}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`; // tempPrefix(file) + pid
  try {
    await write(tmp);
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw knownIoError(e, file) ?? e;
  }
}

/** Validates `value` with `schema`, then writes it as pretty JSON atomically. */
export async function writeJsonArtifact<S extends z.ZodType>(
  file: string,
  schema: S,
  value: z.infer<S>,
): Promise<void> {
  const valid = validateArtifact(file, schema, value);
  await writeFileAtomic(file, JSON.stringify(valid, null, 1) + "\n");
}

/** Whether something (file, directory, link target) exists at `path`; false when it cannot be stat'ed. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
