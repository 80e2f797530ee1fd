import assert from "node:assert/strict";
import { join, normalize, relative } from "node:path";
import { OutputNames, publicPath, safeSegments, withoutTrailingSlash } from "../../lib/core/paths.ts";

/** Whether `rel` joined to an output folder stays inside it. */
function inside(rel: string): boolean {
  const out = "/o/out";
  const r = relative(out, normalize(join(out, rel)));
  return r !== "" && !r.startsWith("..") && !r.startsWith("/");
}

Deno.test("withoutTrailingSlash() keeps one spelling of a folder", () => {
  assert.equal(withoutTrailingSlash("runs/x//"), "runs/x");
  assert.equal(withoutTrailingSlash("/"), "/");
});

Deno.test("safeSegments() keeps `..`, absolute paths, backslashes, control characters and dot names inside", () => {
  assert.deepEqual(safeSegments("a/../../../photos/p.jpg"), ["a", "photos", "p.jpg"]);
  assert.deepEqual(safeSegments("/etc/passwd"), ["etc", "passwd"]);
  assert.deepEqual(safeSegments("..\\..\\windows\\x.png"), ["windows", "x.png"]);
  assert.deepEqual(safeSegments("a\u0000b\u001b[31m\u0007.png"), ["a_b_[31m_.png"]);
  assert.deepEqual(safeSegments(".ssd300/lock"), ["_ssd300", "lock"]);
  assert.deepEqual(safeSegments("../.."), []);
  const long = safeSegments("é".repeat(500))[0];
  assert.ok(new TextEncoder().encode(long).length <= 160 && long === "é".repeat(80));
  assert.equal(safeSegments(Array(40).fill("d").join("/") + "/f.png").length, 13);
});

Deno.test("OutputNames.take() gives hostile names paths inside the folder, never ours, never hidden", () => {
  const names = new OutputNames();
  const hostile = [
    "a/../../../photos/p.jpg",
    "/etc/passwd",
    "../../../../root/.bashrc",
    "..",
    "/",
    "",
    ".ssd300/staging/x.png",
    "x\n.png",
    "C:\\Users\\me\\p.png",
  ];
  for (const name of hostile) {
    const rel = names.take(name, { folder: "annotated", ext: ".jpg" });
    assert.ok(inside(rel), `${JSON.stringify(name)} → ${rel}`);
    assert.ok(rel.startsWith("annotated/"), rel);
    assert.ok(!rel.split("/").some((s) => s.startsWith(".")), rel);
    assert.ok(![...rel].some((c) => c.charCodeAt(0) < 0x20), rel);
  }
  assert.equal(names.take("a/../../../photos/q.jpg", { ext: ".jpg" }), "a/photos/q.jpg");
});

Deno.test("OutputNames.take() suffixes collisions: same base name, letter case, Unicode forms, file vs folder", () => {
  const names = new OutputNames();
  const flat = (n: string) => names.take(n.replace(/^.*\//, ""), { folder: "preview", ext: ".png" });
  assert.equal(flat("x/a.png"), "preview/a.png");
  assert.equal(flat("y/a.png"), "preview/a-2.png");
  assert.equal(flat("z/A.PNG"), "preview/A-3.png");
  assert.equal(flat("a-2.png"), "preview/a-2-2.png");
  const n2 = new OutputNames();
  assert.equal(n2.take("caf\u00e9.jpg"), "café.jpg");
  assert.equal(n2.take("cafe\u0301.jpg"), "café-2.jpg"); // NFD spelling of the same name
  const n3 = new OutputNames();
  assert.equal(n3.take("p/a.jpg", { ext: ".jpg" }), "p/a.jpg");
  assert.equal(n3.take("p/a.jpg/b.png", { ext: ".jpg" }), "p/a.jpg-2/b.jpg"); // a folder where a file is
  assert.equal(n3.take("p/a.jpg/c.png", { ext: ".jpg" }), "p/a.jpg-2/c.jpg"); // the same folder again
  assert.equal(n3.take("p", { ext: ".jpg" }), "p.jpg");
  assert.equal(n3.take("p.png"), "p.png"); // free: p is a folder, not p.png
  assert.equal(n3.take("p/a.png", { ext: ".jpg" }), "p/a-2.jpg");
});

Deno.test("OutputNames reserves given paths (input files inside the output folder)", () => {
  const names = new OutputNames(["annotated/a.jpg", "../outside.png"]);
  assert.equal(names.take("a.png", { folder: "annotated", ext: ".jpg" }), "annotated/a-2.jpg");
});

Deno.test("publicPath() names a staged file by where it is committed", () => {
  assert.equal(publicPath("/x/run/.ssd300/staging/preview/a.png"), "/x/run/preview/a.png");
  assert.equal(publicPath(".ssd300/staging/a.json"), "a.json");
  assert.equal(publicPath("/x/run/a.json"), "/x/run/a.json");
});
