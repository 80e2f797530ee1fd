/**
 * HTML text, escaped in one place. Every writer of HTML (the report: lib/report; the web page builds its DOM
 * from text nodes only) builds markup with the {@link markup} tag: each interpolated string or number is
 * escaped by {@link escapeHtml} exactly once, while markup built by the tag itself ({@link Markup}) goes in as it
 * is. So a user string (a run name, a category, a file name, a title) can neither reach the page raw nor be
 * escaped twice, whatever path it takes. (The tag is not called `html` because `deno fmt` reformats templates of
 * that name as HTML, which would change the text.) No Deno or DOM APIs here: the browser bundle may import it.
 * @module
 */

/** Escapes text for HTML element content and quoted attribute values (`&`, `<`, `>`, `"`, `'`). */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** HTML that is safe to put into a page as it is: built by {@link markup}, or {@link rawMarkup} constants. */
export class Markup {
  /** Use {@link markup} or {@link rawMarkup}. */
  private constructor(readonly markup: string) {}
  /** The markup. */
  toString(): string {
    return this.markup;
  }
  /** @internal the one way to make a Markup (keeps the constructor private to this module). */
  static of(markup: string): Markup {
    return new Markup(markup);
  }
}

/** What {@link markup} accepts in a `${}`: text and numbers (escaped), markup, lists of them; nothing for the rest. */
export type MarkupValue = string | number | Markup | null | undefined | false | readonly MarkupValue[];

function render(value: MarkupValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Markup) return value.markup;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/**
 * The HTML tag: `` markup`<td>${name}</td>` `` escapes `name` once; a {@link Markup} value (a nested
 * `markup`) goes in unchanged; arrays are joined without separator; `null`, `undefined` and `false` add
 * nothing. The literal parts are the code's own HTML.
 */
export function markup(strings: TemplateStringsArray, ...values: MarkupValue[]): Markup {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return Markup.of(out);
}

/**
 * HTML written in this code base (a style sheet, a fixed fragment) used as it is. Never for text that comes
 * from data: that goes through {@link markup}.
 */
export function rawMarkup(html: string): Markup {
  return Markup.of(html);
}

/** Parts (markup, or text: escaped) joined with `separator` (HTML too, e.g. "\n"); empty parts left out. */
export function joinMarkup(parts: readonly MarkupValue[], separator = ""): Markup {
  return Markup.of(parts.map(render).filter((s) => s !== "").join(separator));
}
