import assert from "node:assert/strict";
import { escapeHtml, joinMarkup, Markup, markup, rawMarkup } from "../../lib/core/mod.ts";

const HOSTILE = `<img src=x onerror=alert(1)></script>'"&`;
const ESCAPED = "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&#39;&quot;&amp;";

Deno.test("escapeHtml() escapes the five HTML-special characters and nothing else", () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  assert.equal(escapeHtml(HOSTILE), ESCAPED);
  assert.equal(escapeHtml("plain \x1b[2J ü"), "plain \x1b[2J ü");
});

Deno.test("markup`` escapes every interpolated text exactly once, however deep it is nested", () => {
  const cell = markup`<td title="${HOSTILE}">${HOSTILE}</td>`;
  assert.ok(cell instanceof Markup);
  assert.equal(cell.markup, `<td title="${ESCAPED}">${ESCAPED}</td>`);
  // markup nested in markup, in lists and in joins is not escaped again
  const row = markup`<tr>${cell}${[cell, markup`<td>${7}</td>`]}</tr>`;
  assert.equal(row.markup, `<tr>${cell.markup}${cell.markup}<td>7</td></tr>`);
  const joined = joinMarkup([row, HOSTILE, null, undefined, false, ""], "\n");
  assert.equal(joined.markup, `${row.markup}\n${ESCAPED}`);
  assert.equal(markup`${joined}`.markup, joined.markup);
  assert.doesNotMatch(markup`<p>${joined}</p>`.markup, /&amp;(lt|gt|quot|#39);/);
  // a string that looks like markup is text; the literal parts and rawMarkup are the code's own HTML
  assert.equal(markup`<b>${"<i>"}</b>`.markup, "<b>&lt;i&gt;</b>");
  assert.equal(markup`${rawMarkup("<i>")}`.markup, "<i>");
  assert.equal(String(markup`<p>${0}</p>`), "<p>0</p>");
});

Deno.test("escapeHtml() is called only by lib/core/html.ts, and no page code builds HTML from strings", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const offenders: string[] = [];
  for (const dir of ["lib", "tasks", "web"]) {
    for await (const file of walkTs(`${root}${dir}`)) {
      const text = await Deno.readTextFile(file);
      const rel = file.slice(root.length);
      if (rel !== "lib/core/html.ts" && /\bescapeHtml\(/.test(text)) offenders.push(`${rel}: escapeHtml(`);
      if (/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/.test(text)) {
        offenders.push(`${rel}: builds HTML from a string`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

async function* walkTs(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walkTs(path);
    else if (e.isFile && path.endsWith(".ts")) yield path;
  }
}
