/**
 * The error vocabulary shared by every stage: {@link InputError}, the base of every *known* problem with the
 * user's input (a missing or invalid file, an incompatible checkpoint, a run with other settings, a non-finite
 * loss, …), and {@link describeValue} for showing an offending value in a message.
 *
 * The task runner (lib/cli/run.ts) prints an InputError as one clean message and exits 1; any other error is a
 * bug and keeps its stack. No TF.js here: lib/torch uses this module too.
 * @module
 */

/**
 * A known problem with the user's input. Subclasses name the file and the field in their message; the CLI shows
 * the message without a stack trace.
 */
export class InputError extends Error {
  override name = "InputError";
}

/** A short, single-line rendering of a value for error messages (JSON, cut to `max` characters). */
export function describeValue(value: unknown, max = 60): string {
  let text: string | undefined;
  try {
    text = typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) text = String(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
