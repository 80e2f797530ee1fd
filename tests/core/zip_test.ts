import assert from "node:assert/strict";
import { readZipDirectory, readZipEntry, ZipFormatError } from "../../lib/core/mod.ts";
import { sampleZip } from "../helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A zip64 archive (zip64 end record and locator, sizes and offsets in zip64 extra fields) built by hand. */
const ZIP64 = Uint8Array.from(
  atob(
    "UEsDBC0AAAAAAAAAAACQZFFwEgAAABIAAAAMAAAAYS9zdG9yZWQudHh0emlwNjQgc3RvcmVkIGVudHJ5UEsDBC0AAAAIAAAAAAAH1m+QDgAA" +
      "ALQAAAAOAAAAYS9kZWZsYXRlZC50eHRLSU3LSSxJTVFIGToMAFBLAQItAC0AAAAAAAAAAACQZFFw//////////8MABwAAAAAAAAAAAAA" +
      "AP////9hL3N0b3JlZC50eHQBABgAEgAAAAAAAAASAAAAAAAAAAAAAAAAAAAAUEsBAi0ALQAAAAgAAAAAAAfWb5D//////////w4AHAAA" +
      "AAAAAAAAAAAA/////2EvZGVmbGF0ZWQudHh0AQAYALQAAAAAAAAADgAAAAAAAAA8AAAAAAAAAFBLBgYsAAAAAAAAAC0ALQAAAAAAAAAA" +
      "AAIAAAAAAAAAAgAAAAAAAACuAAAAAAAAAHYAAAAAAAAAUEsGBwAAAAAkAQAAAAAAAAEAAABQSwUGAAAAAP///////////////wAA",
  ),
  (c) => c.charCodeAt(0),
);

Deno.test("readZipDirectory() lists files (not directories); readZipEntry() reads stored and deflated ones", () => {
  const zip = sampleZip();
  const entries = readZipDirectory(zip);
  assert.deepEqual([...entries.keys()], ["root/a.txt", "root/sub/b.bin"]);
  assert.equal(dec.decode(readZipEntry(zip, entries.get("root/a.txt")!)), "hello hello hello hello");
  const stored = readZipEntry(zip, entries.get("root/sub/b.bin")!);
  assert.deepEqual(stored, Uint8Array.from({ length: 300 }, (_, i) => i % 7));
  assert.equal(stored.buffer, zip.buffer, "a stored entry is a view into the archive, not a copy");
});

Deno.test("readZipDirectory() reads zip64 end records and extra fields", () => {
  const entries = readZipDirectory(ZIP64);
  assert.deepEqual([...entries.keys()], ["a/stored.txt", "a/deflated.txt"]);
  assert.equal(entries.get("a/deflated.txt")!.size, 180);
  assert.equal(dec.decode(readZipEntry(ZIP64, entries.get("a/stored.txt")!)), "zip64 stored entry");
  assert.equal(dec.decode(readZipEntry(ZIP64, entries.get("a/deflated.txt")!)), "deflated ".repeat(20));
});

Deno.test("readZipDirectory() rejects non-zip and truncated bytes as a damaged archive (entry null)", () => {
  const zip = sampleZip();
  for (
    const bytes of [
      enc.encode("just text, no zip here at all"),
      zip.slice(0, zip.length - 30),
      zip.slice(0, 10),
    ]
  ) {
    assert.throws(
      () => readZipDirectory(bytes),
      (e) =>
        e instanceof ZipFormatError && e.entry === null &&
        /^truncated or corrupt zip archive: no end-of-central-directory record \(not a zip archive, or truncated\)$/
          .test(e.message),
    );
  }
  const badDirectory = zip.slice();
  const cd = new DataView(badDirectory.buffer).getUint32(badDirectory.length - 6, true); // EOCD: directory offset
  badDirectory[cd] ^= 0xff;
  assert.throws(() => readZipDirectory(badDirectory), /central directory entry 0 at byte \d+/);
});

Deno.test("readZipEntry() names the entry: CRC-32 mismatch, bad local header", () => {
  const zip = sampleZip();
  const entries = readZipDirectory(zip);
  const b = entries.get("root/sub/b.bin")!;
  const flipped = zip.slice();
  flipped[b.localHeaderOffset + 30 + "root/sub/b.bin".length + 10] ^= 0xff; // a byte of the stored data
  assert.throws(
    () => readZipEntry(flipped, b),
    (e) =>
      e instanceof ZipFormatError && e.entry === "root/sub/b.bin" &&
      /is corrupt: CRC-32 mismatch/.test(e.message),
  );
  assert.throws(
    () => readZipEntry(zip, { ...b, localHeaderOffset: b.localHeaderOffset + 1 }),
    /zip entry root\/sub\/b\.bin has no valid local header at byte \d+/,
  );
  assert.throws(() => readZipEntry(zip, { ...b, method: 12 }), /unsupported compression method 12/);
  assert.throws(() => readZipEntry(zip, { ...b, encrypted: true }), /is encrypted/);
});
