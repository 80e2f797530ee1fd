import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { crc32, sha256Hex } from "../../lib/core/mod.ts";

const enc = new TextEncoder();

Deno.test("crc32() matches the CRC-32 check value and fflate's zip headers", () => {
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926); // the standard check value
  assert.equal(crc32(new Uint8Array(0)), 0);
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff); // the 8-byte fast path and a tail
  const zip = zipSync({ "x": data }, { level: 0 });
  assert.equal(crc32(data), new DataView(zip.buffer).getUint32(14, true)); // CRC field of the local header
});

Deno.test("sha256Hex() hashes bytes as lowercase hex", async () => {
  assert.equal(
    await sha256Hex(enc.encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});
