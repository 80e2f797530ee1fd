import assert from "node:assert/strict";
import {
  adjustBrightness,
  augmentSample,
  boxesWithCentreInside,
  cropTo,
  expand,
  EXPAND_FILL,
  flipHorizontal,
  photometricDistort,
  randomCrop,
} from "../../lib/data/augment.ts";
import type { RgbImage } from "../../lib/image/codec.ts";
import { Rng, shuffled } from "../../lib/core/rng.ts";

/** A deterministic test image with distinct pixel values. */
function testImage(width: number, height: number, seed = 1): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
  return { width, height, data };
}

/** Random valid pixel boxes inside a w×h image. */
function testBoxes(w: number, h: number, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const x0 = rng.uniform(0, w - 4), y0 = rng.uniform(0, h - 4);
    out.set([x0, y0, rng.uniform(x0 + 2, w), rng.uniform(y0 + 2, h)], i * 4);
  }
  return out;
}

function assertBoxesValid(boxes: Float32Array, img: RgbImage, what: string): void {
  for (let i = 0; i < boxes.length; i += 4) {
    const [x0, y0, x1, y1] = boxes.subarray(i, i + 4);
    assert.ok(
      x0 >= 0 && y0 >= 0 && x1 <= img.width && y1 <= img.height,
      `${what}: box ${i / 4} [${boxes.subarray(i, i + 4)}] outside ${img.width}×${img.height}`,
    );
    assert.ok(x1 > x0 && y1 > y0, `${what}: box ${i / 4} has no positive size`);
  }
  assert.equal(img.data.length, img.width * img.height * 3, `${what}: image data length`);
}

Deno.test("Rng is deterministic per seed, resumable from its state, and shuffled() permutes", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  for (let i = 0; i < 1000; i++) {
    a.next();
    assert.ok(a.state().every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff), "state is uint32");
  }
  const resumed = new Rng(a.state());
  assert.deepEqual(
    Array.from({ length: 5 }, () => resumed.next()),
    Array.from({ length: 5 }, () => a.next()),
  );
  const items = Array.from({ length: 20 }, (_, i) => i);
  const s = shuffled(items, new Rng(1));
  assert.deepEqual([...s].sort((x, y) => x - y), items);
  assert.notDeepEqual(s, items);
  assert.deepEqual(items, Array.from({ length: 20 }, (_, i) => i), "input not mutated");
});

Deno.test("flipHorizontal() twice is the identity, and mirrors boxes", () => {
  const img = testImage(17, 9);
  const boxes = new Float32Array([1, 2, 5, 8, 10, 0, 17, 9]);
  const once = flipHorizontal(img, boxes);
  assert.deepEqual([...once.boxes], [12, 2, 16, 8, 0, 0, 7, 9]);
  // pixel (0, y) moves to (16, y)
  assert.deepEqual([...once.image.data.subarray(16 * 3, 17 * 3)], [...img.data.subarray(0, 3)]);
  const twice = flipHorizontal(once.image, once.boxes);
  assert.deepEqual(twice.image, img);
  assert.deepEqual([...twice.boxes], [...boxes]);
});

Deno.test("expand() keeps the image intact on a mean-filled canvas and boxes inside", () => {
  const img = testImage(20, 10);
  const rng = new Rng(3);
  const boxes = testBoxes(20, 10, 3, rng);
  for (let trial = 0; trial < 20; trial++) {
    const r = expand(img, boxes, rng);
    assert.ok(r.image.width >= 20 && r.image.height >= 10 && r.image.width < 80 && r.image.height < 40);
    assertBoxesValid(r.boxes, r.image, "expand");
    // the original pixels are where the boxes moved: the shift of box 0
    const dx = Math.round(r.boxes[0] - boxes[0]), dy = Math.round(r.boxes[1] - boxes[1]);
    assert.ok(Math.abs(r.boxes[0] - boxes[0] - dx) < 1e-3 && Math.abs(r.boxes[3] - boxes[3] - dy) < 1e-3);
    for (let y = 0; y < 10; y++) {
      const row = r.image.data.subarray(
        ((dy + y) * r.image.width + dx) * 3,
        ((dy + y) * r.image.width + dx + 20) * 3,
      );
      assert.deepEqual([...row], [...img.data.subarray(y * 60, (y + 1) * 60)]);
    }
    if (dx > 0) assert.deepEqual([...r.image.data.subarray(0, 3)], [...EXPAND_FILL], "fill colour");
  }
});

Deno.test("randomCrop() keeps exactly the boxes whose centres remain inside, clipped to the crop", () => {
  const img = testImage(60, 40);
  const rng = new Rng(5);
  let cropped = 0;
  for (let trial = 0; trial < 60; trial++) {
    const boxes = testBoxes(60, 40, 1 + rng.int(5), rng);
    const r = randomCrop(img, boxes, rng);
    const expected = boxesWithCentreInside(boxes, r.rect);
    if (r.rect[2] - r.rect[0] === 60 && r.rect[3] - r.rect[1] === 40 && r.keep.length === boxes.length / 4) {
      assert.deepEqual([...r.boxes], [...boxes], "uncropped");
      continue;
    }
    cropped++;
    assert.deepEqual(r.keep, expected);
    assert.ok(r.keep.length >= 1, "at least one box survives");
    assert.equal(r.image.width, r.rect[2] - r.rect[0]);
    assertBoxesValid(r.boxes, r.image, "crop");
    // the crop's pixels come from the rectangle
    const [l, t] = r.rect;
    assert.deepEqual([...r.image.data.subarray(0, 3)], [
      ...img.data.subarray((t * 60 + l) * 3, (t * 60 + l) * 3 + 3),
    ]);
  }
  assert.ok(cropped > 20, `only ${cropped} of 60 trials cropped`);
});

Deno.test("cropTo() drops a box whose centre leaves the crop even when most of it stays", () => {
  const img = testImage(10, 10);
  // box 0 centre (2.5, 5) outside [3, 0, 10, 10]; box 1 centre (6, 5) inside
  const r = cropTo(img, new Float32Array([0, 0, 5, 10, 4, 2, 8, 8]), [3, 0, 10, 10]);
  assert.deepEqual(r.keep, [1]);
  assert.deepEqual([...r.boxes], [1, 2, 5, 8]);
  assert.throws(() => cropTo(img, new Float32Array(0), [0, 0, 11, 5]), /bad rectangle/);
});

Deno.test("photometricDistort() changes colours only, deterministically per seed", () => {
  const img = testImage(16, 16);
  const a = photometricDistort(img, new Rng(9)), b = photometricDistort(img, new Rng(9));
  assert.deepEqual(a, b);
  assert.equal(a.width, 16);
  assert.deepEqual(adjustBrightness(img, 1), img);
  assert.ok(adjustBrightness(img, 2).data.every((v, i) => v === Math.min(255, img.data[i] * 2)));
});

Deno.test("augmentSample() is seeded, keeps boxes valid and does not mutate its inputs", () => {
  const img = testImage(50, 30);
  const imgCopy = { ...img, data: img.data.slice() };
  const rng0 = new Rng(11);
  for (let trial = 0; trial < 30; trial++) {
    const boxes = testBoxes(50, 30, 1 + rng0.int(4), rng0);
    const boxesCopy = boxes.slice();
    const seed = rng0.nextUint32();
    const r = augmentSample(img, boxes, new Rng(seed));
    assert.deepEqual(augmentSample(img, boxes, new Rng(seed)), r, "same seed, same result");
    assert.ok(r.boxes.length >= 4, "at least one box");
    assert.equal(r.keep.length, r.boxes.length / 4);
    assert.ok(r.keep.every((k) => k >= 0 && k < boxes.length / 4));
    assertBoxesValid(r.boxes, r.image, "augmentSample");
    assert.deepEqual(img, imgCopy);
    assert.deepEqual(boxes, boxesCopy);
  }
  const none = augmentSample(img, new Float32Array([1, 1, 5, 5]), new Rng(1), {
    photometric: false,
    expand: false,
    crop: false,
    flip: false,
  });
  assert.deepEqual(none.image, img);
  assert.notEqual(none.image.data, img.data, "a copy");
});
