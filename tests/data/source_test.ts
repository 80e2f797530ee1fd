import assert from "node:assert/strict";
import { openDirectorySource, openSource, openZipBytes, SourceError } from "../../lib/data/mod.ts";
import { sampleZip } from "../helpers.ts";

const enc = new TextEncoder();

Deno.test("openZipBytes() lists files (not directories) and reads stored and deflated entries", () => {
  const src = openZipBytes(sampleZip(), "sample.zip");
  assert.equal(src.kind, "zip");
  assert.deepEqual(src.list(), ["root/a.txt", "root/sub/b.bin"]);
  assert.equal(new TextDecoder().decode(src.read("root/a.txt")), "hello hello hello hello");
  assert.deepEqual(src.read("root/sub/b.bin"), Uint8Array.from({ length: 300 }, (_, i) => i % 7));
  assert.ok(src.has("root/a.txt") && !src.has("root/missing"));
  assert.throws(
    () => src.read("root/missing"),
    (e) => e instanceof SourceError && /sample\.zip:root\/missing/.test(e.message),
  );
});

Deno.test("openZipBytes() rejects a truncated zip and non-zip bytes, naming the file", () => {
  const zip = sampleZip();
  assert.throws(
    () => openZipBytes(zip.slice(0, zip.length - 30), "cut.zip"),
    (e) => e instanceof SourceError && e.file === "cut.zip" && /truncated/.test(e.message),
  );
  assert.throws(() => openZipBytes(enc.encode("just text, no zip here at all"), "text.zip"), SourceError);
});

Deno.test("DataSource.read() detects a corrupted entry by its CRC-32", () => {
  const zip = sampleZip();
  const src = openZipBytes(zip, "ok.zip");
  assert.equal(src.read("root/sub/b.bin").length, 300);
  // Flip one byte of the stored entry's data (the stored 300-byte run 0..6 repeated starts after its local header).
  const bad = zip.slice();
  const name = enc.encode("root/sub/b.bin");
  let at = -1;
  for (let i = 0; i < bad.length - name.length && at < 0; i++) {
    if (name.every((b, k) => bad[i + k] === b)) at = i;
  }
  bad[at + name.length + 10] ^= 0xff;
  const corrupt = openZipBytes(bad, "bad.zip");
  assert.throws(() => corrupt.read("root/sub/b.bin"), /CRC-32 mismatch/);
});

Deno.test("openDirectorySource() lists files recursively, skipping hidden ones, and reads them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/x/y`, { recursive: true });
    await Deno.writeTextFile(`${dir}/x/y/z.txt`, "zz");
    await Deno.writeTextFile(`${dir}/top.txt`, "t");
    await Deno.writeTextFile(`${dir}/.hidden`, "h");
    const src = await openSource(dir);
    assert.equal(src.kind, "directory");
    assert.deepEqual(src.list(), ["top.txt", "x/y/z.txt"]);
    assert.equal(new TextDecoder().decode(src.read("x/y/z.txt")), "zz");
    assert.throws(() => src.read(".hidden"), SourceError);
    await assert.rejects(() => openDirectorySource(`${dir}/nope`), SourceError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
