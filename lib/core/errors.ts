/**
 * The error vocabulary shared by every stage: {@link InputError}, the base of every *known* problem with the
 * user's input (a missing or invalid file, an incompatible checkpoint, a run with other settings, a non-finite
 * loss, …), {@link describeValue} for showing an offending value in a message, and {@link inlineList} /
 * {@link bulletList} for showing many items (the first 20, then "… and N more").
 *
 * The task runner (lib/cli/run.ts) prints an InputError as one clean message and exits 1; any other error is a
 * bug and keeps its stack. No TF.js here: lib/torch uses this module too.
 * @module
 */
import { terminalText } from "./terminal.ts";

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

/** How many items a message lists before "… and N more". */
export const MAX_LISTED = 20;
/** The longest an item of a one-line list may be (longer ones are cut, with "…"). */
const MAX_INLINE_ITEM_CHARS = 200;
/** The longest a line of a multi-line list may be (one problem, which may hold a one-line list itself). */
const MAX_BULLET_ITEM_CHARS = 1000;

/**
 * The first `max` of `items`, each one line (control characters and newlines shown as escapes: lib/core
 * `terminalText`) cut to `chars` characters, and how many were left out.
 */
function shortened(items: readonly string[], max: number, chars: number): { shown: string[]; more: number } {
  const shown = items.slice(0, max).map((item) => {
    const s = terminalText(item, { keepNewlines: false });
    return s.length > chars ? `${s.slice(0, chars - 1)}…` : s;
  });
  return { shown, more: Math.max(0, items.length - max) };
}

/**
 * A list for a one-line message: the first {@link MAX_LISTED} items (each cut to 200 characters) joined by
 * `separator`, then `… and N more` (`a, b, c, … and 9980 more`). Every error that lists items (categories, class
 * names, keys, settings) uses it, so that a refusal of 10,000 categories is still one short line, and a name's
 * newline cannot start a line of its own.
 */
export function inlineList(items: readonly string[], separator = ", ", max = MAX_LISTED): string {
  const { shown, more } = shortened(items, max, MAX_INLINE_ITEM_CHARS);
  return more > 0 ? `${shown.join(separator)}${separator}… and ${more} more` : shown.join(separator);
}

/**
 * A list for a multi-line message: one `\n  - item` line (cut to 1000 characters) for each of the first
 * {@link MAX_LISTED} items, then `\n  - … and N more` (problems by file, unreadable images, state_dict
 * mismatches).
 */
export function bulletList(items: readonly string[], max = MAX_LISTED): string {
  const { shown, more } = shortened(items, max, MAX_BULLET_ITEM_CHARS);
  return [...shown, ...(more > 0 ? [`… and ${more} more`] : [])].map((s) => `\n  - ${s}`).join("");
}
