/**
 * The files the pipeline reads and writes: JSON artifacts validated by a zod schema at the boundary (one schema
 * per artifact, defined beside its writer), atomic writes, and an existence check.
 * @module
 */
import { dirname } from "node:path";
import type { z } from "zod";
import { describeValue, InputError } from "./errors.ts";

/** An artifact file that is missing, not JSON, or does not satisfy its schema. Names the file and the fields. */
export class ArtifactError extends InputError {
  override name = "ArtifactError";
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `\n  - ${problems.join("\n  - ")}`}`);
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

/** Reads and parses a JSON file, not yet validated. @throws ArtifactError if it cannot be read or is not JSON. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ArtifactError(file, [`cannot read: ${(e as Error).message}`]);
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

/**
 * Writes `bytes` to `file` atomically: a temporary file in the same directory, then a rename, so that readers
 * never see a partial file and an interrupted write leaves the previous version in place.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    if (typeof bytes === "string") await Deno.writeTextFile(tmp, bytes);
    else await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
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
