/**
 * Text for the terminal, made harmless in one place: {@link terminalText} turns every control character that a
 * terminal would act on into visible escapes, so that a name in a file (a COCO category, a class name, an image
 * file name, a run name, a flag value) can neither move the cursor, clear the screen, retitle the window, ring
 * the bell, overwrite a line with CR, nor reorder text. The task runner (lib/cli/run.ts) passes everything a
 * task prints through it, and so does the progress line (lib/progress/progress.ts). No Deno APIs here.
 * @module
 */

/**
 * C0 controls (U+0000–U+001F), DEL, C1 controls (U+0080–U+009F), the Unicode line and paragraph separators
 * and the bidirectional embedding/override/isolate controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
 * U+061C: "Trojan Source" reordering).
 */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0" };

/** `\xHH` (up to U+00FF) or `\uHHHH`, or the C escape for NUL, TAB, LF and CR. */
function visible(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Options of {@link terminalText}. */
export interface TerminalTextOptions {
  /**
   * Keep line feeds and tabs as they are (default true: the text is whole lines, whose separators they are).
   * False for one value put into a line (a name, a path): its newlines are shown as `\n` so that it cannot
   * forge a line of its own.
   */
  keepNewlines?: boolean;
}

/**
 * `text` with its control characters (see the module doc) shown as escapes: ESC → `\x1b`, BEL → `\x07`, CR →
 * `\r`, NUL → `\0`, U+202E → `\u202e`; line feeds and tabs kept unless `keepNewlines` is false. Everything
 * else (printable Unicode) is unchanged.
 */
export function terminalText(text: string, opts: TerminalTextOptions = {}): string {
  const keep = opts.keepNewlines ?? true;
  return text.replace(CONTROL, (c) => (keep && (c === "\n" || c === "\t") ? c : visible(c)));
}
