import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import {
  decodeImage,
  decodeMask,
  DEFAULT_MAX_IMAGE_PIXELS,
  encodePng,
  getMaxImagePixels,
  ImageTooLargeError,
  inspectImage,
  readImageHeader,
  setMaxImagePixels,
} from "../../lib/image/mod.ts";
import { pngFromParts } from "../helpers.ts";

/** A PNG whose IHDR claims 60000×60000 (3.6·10⁹ pixels) but that holds a few bytes: refused from the header. */
const bomb = () => pngFromParts(60000, 60000, Uint8Array.of(0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01));

Deno.test("readImageHeader() reads PNG IHDR and JPEG SOF sizes without decoding", () => {
  const png = encodePng({ width: 7, height: 5, data: new Uint8Array(7 * 5 * 3) });
  assert.deepEqual(readImageHeader(png), { format: "png", width: 7, height: 5 });
  const jpg = jpeg.encode({ width: 9, height: 4, data: new Uint8Array(9 * 4 * 4) }, 90).data;
  assert.deepEqual(readImageHeader(new Uint8Array(jpg)), { format: "jpeg", width: 9, height: 4 });
  assert.deepEqual(readImageHeader(bomb()), { format: "png", width: 60000, height: 60000 });
  assert.equal(readImageHeader(new TextEncoder().encode("not an image at all")), null);
});

Deno.test("decodeImage(), decodeMask() and inspectImage() refuse a 60000×60000 header before any decode", () => {
  assert.equal(getMaxImagePixels(), DEFAULT_MAX_IMAGE_PIXELS);
  const t0 = performance.now();
  for (const decode of [decodeImage, decodeMask, inspectImage]) {
    assert.throws(() => decode(bomb(), "PedMasks/bomb_mask.png"), (e: unknown) => {
      assert.ok(e instanceof ImageTooLargeError);
      assert.match(e.message, /^PedMasks\/bomb_mask\.png: image is 60000×60000 = 3600000000 pixels/);
      assert.match(e.message, /--max-pixels/);
      return true;
    });
  }
  assert.ok(performance.now() - t0 < 1000, "refused from the header, not after decoding");
});

Deno.test("setMaxImagePixels() changes the limit for PNG and JPEG", () => {
  const png = encodePng({ width: 20, height: 10, data: new Uint8Array(200 * 3) });
  const jpg = new Uint8Array(jpeg.encode({ width: 20, height: 10, data: new Uint8Array(800) }, 90).data);
  try {
    setMaxImagePixels(199);
    assert.throws(
      () => decodeImage(png, "a.png"),
      /a\.png: image is 20×10 = 200 pixels, over the limit of 199/,
    );
    assert.throws(() => decodeImage(jpg, "b.jpg"), /b\.jpg: image is 20×10 = 200 pixels/);
    setMaxImagePixels(200);
    assert.equal(decodeImage(png, "a.png").width, 20);
    assert.equal(decodeImage(jpg, "b.jpg").height, 10);
    assert.throws(() => setMaxImagePixels(0), RangeError);
  } finally {
    setMaxImagePixels(DEFAULT_MAX_IMAGE_PIXELS);
  }
});
