import assert from "node:assert/strict";
import { terminalText } from "../../lib/core/mod.ts";

Deno.test("terminalText() shows ESC, BEL, CR, NUL, C1 and bidi controls as escapes and keeps line breaks", () => {
  assert.equal(
    terminalText("a\x1b[2Jb\x1b]0;title\x07c\rd\0e\x9bf\u202eg\th\ni\x7f"),
    "a\\x1b[2Jb\\x1b]0;title\\x07c\\rd\\0e\\x9bf\\u202eg\th\ni\\x7f",
  );
  assert.equal(terminalText("one\ntwo\tthree", { keepNewlines: false }), "one\\ntwo\\tthree");
  // printable text, including non-Latin letters and emoji, is unchanged; the result has no control character
  assert.equal(terminalText("Fußgänger 歩行者 🚶 <b>'\"&"), "Fußgänger 歩行者 🚶 <b>'\"&");
  const all = Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join("");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(terminalText(all), /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(terminalText(all, { keepNewlines: false }), /[\x00-\x1f\x7f-\x9f]/);
  assert.equal(terminalText(terminalText(all)), terminalText(all), "idempotent");
});
