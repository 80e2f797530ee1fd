/**
 * HTML text, escaped in one place. Every writer of HTML (the report: lib/report; the web page: web/) builds
 * markup with the {@link html} tag: each interpolated string or number is escaped by {@link escapeHtml} exactly
 * once, while markup built by `html` itself ({@link Html}) goes in as it is. So a user string (a run name, a
 * category, a file name, a title) can neither reach the page raw nor be escaped twice, whatever path it takes.
 * No Deno or DOM APIs here: the browser bundle may import it.
 * @module
 */

/** Escapes text for HTML element content and quoted attribute values (`&`, `<`, `>`, `"`, `'`). */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** Markup that is safe to put into a page as it is: built by {@link html}, or {@link rawHtml} constants. */
export class Html {
  /** Use {@link html} or {@link rawHtml}. */
  private constructor(readonly markup: string) {}
  /** The markup. */
  toString(): string {
    return this.markup;
  }
  /** @internal the one way to make an Html (keeps the constructor private to this module). */
  static of(markup: string): Html {
    return new Html(markup);
  }
}

/** What {@link html} accepts in a `${}`: text and numbers (escaped), markup, lists of them; nothing for the rest. */
export type HtmlValue = string | number | Html | null | undefined | false | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/**
 * The HTML tag: `` html`<td>${name}</td>` `` escapes `name` once; an {@link Html} value (a nested `html`)
 * goes in unchanged; arrays are joined without separator; `null`, `undefined` and `false` add nothing. The
 * literal parts are the code's own markup.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return Html.of(out);
}

/**
 * Markup written in this code base (a style sheet, a fixed fragment) used as it is. Never for text that
 * comes from data: that goes through {@link html}.
 */
export function rawHtml(markup: string): Html {
  return Html.of(markup);
}

/** Markup parts joined with `separator` (markup too, e.g. "\n"). */
export function joinHtml(parts: readonly HtmlValue[], separator = ""): Html {
  return Html.of(parts.map(render).filter((s) => s !== "").join(separator));
}
