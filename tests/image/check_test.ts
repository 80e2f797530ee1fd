import assert from "node:assert/strict";
import { decodeCheckAll, encodePng, inspectImage } from "../../lib/image/mod.ts";
import { pngFromParts } from "../helpers.ts";

Deno.test("decodeCheckAll() lists every image that does not decode, a broken zlib stream with valid CRCs too", async () => {
  const good = encodePng({ width: 4, height: 3, data: new Uint8Array(36).fill(90) });
  // IDAT: a zlib header, then bytes that are no valid deflate block (BTYPE 11 is reserved); every chunk CRC right.
  const brokenZlib = pngFromParts(4, 3, Uint8Array.of(0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0x00, 0x11));
  assert.equal(inspectImage(brokenZlib, "b.png").width, 4, "the structure check alone passes it");
  const entries = [
    { name: "a.png", kind: "image" as const, read: () => good },
    { name: "b.png", kind: "image" as const, read: () => brokenZlib },
    { name: "c.png", kind: "image" as const, read: () => good },
    { name: "d.png", kind: "image" as const, read: () => new TextEncoder().encode("text") },
    {
      name: "e.png",
      kind: "image" as const,
      read: (): Uint8Array => {
        throw new Error("gone");
      },
    },
  ];
  const seen: number[] = [];
  const failures = await decodeCheckAll(entries, { workers: 2, onDone: (done) => seen.push(done) });
  assert.deepEqual(failures.map((f) => f.name), ["b.png", "d.png", "e.png"]);
  assert.match(failures[0].reason, /not a valid PNG/);
  assert.match(failures[1].reason, /unknown signature/);
  assert.match(failures[2].reason, /cannot read: gone/);
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  assert.deepEqual(await decodeCheckAll([]), []);
});
