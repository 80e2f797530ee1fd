/** Readable refusals (lib/core/errors.ts): lists in messages show the first 20 items, then "… and N more". */
import assert from "node:assert/strict";
import { ArtifactError, bulletList, inlineList, MAX_LISTED } from "../../lib/core/mod.ts";

const names = (n: number) => Array.from({ length: n }, (_, i) => `category_${i + 1}`);

Deno.test("inlineList() shows every item of a short list and the first 20 of a long one, then how many more", () => {
  assert.equal(inlineList([]), "");
  assert.equal(inlineList(["a", "b"]), "a, b");
  assert.equal(inlineList(names(20)), names(20).join(", "));
  const long = inlineList(names(10_000));
  assert.equal(long, `${names(20).join(", ")}, … and 9980 more`);
  assert.ok(long.length < 400);
  assert.equal(inlineList(["x", "y", "z"], "; ", 2), "x; y; … and 1 more");
  // one item of 160 KB is cut too: to 200 characters in a line, 1000 as a line of its own
  const huge = inlineList(["n".repeat(160_000)]);
  assert.equal(huge.length, 200);
  assert.ok(huge.endsWith("…"));
  assert.equal(bulletList(["n".repeat(160_000)]).length, "\n  - ".length + 1000);
});

Deno.test("bulletList() gives one line per item, at most 20 and a last line saying how many more", () => {
  assert.equal(bulletList(["a", "b"]), "\n  - a\n  - b");
  const lines = bulletList(names(20_000)).split("\n").slice(1);
  assert.equal(lines.length, MAX_LISTED + 1);
  assert.equal(lines.at(-1), "  - … and 19980 more");
  // ArtifactError lists its problems so
  const e = new ArtifactError("x.json", names(5000).map((n) => `field ${n}: bad`));
  assert.equal(e.problems.length, 5000);
  assert.equal(e.message.split("\n").length, 1 + 21);
  assert.match(e.message, /… and 4980 more$/);
});

Deno.test("inlineList() and bulletList() keep every item on one line, its control characters shown as escapes", () => {
  const items = ["cat\nFORGED: ok", "dog\x1b[2J\x07\r"];
  assert.equal(inlineList(items), "cat\\nFORGED: ok, dog\\x1b[2J\\x07\\r");
  assert.equal(bulletList(items), "\n  - cat\\nFORGED: ok\n  - dog\\x1b[2J\\x07\\r");
});
