import assert from "node:assert/strict";
import { mulberry32 } from "../../lib/core/mod.ts";
import { defaultTestSize, seededSplit } from "../../lib/data/split.ts";

const KEYS = Array.from({ length: 170 }, (_, i) => `img${String(i).padStart(3, "0")}`);

Deno.test("seededSplit() gives 120/50 for 170 images, disjoint, covering, sorted", () => {
  const { train, test } = seededSplit(KEYS, 50, 0);
  assert.equal(train.length, 120);
  assert.equal(test.length, 50);
  assert.deepEqual([...train, ...test].sort(), [...KEYS].sort());
  assert.deepEqual(train, [...train].sort());
  assert.deepEqual(test, [...test].sort());
});

Deno.test("seededSplit() is deterministic, independent of input order, and changes with the seed", () => {
  const a = seededSplit(KEYS, 50, 7);
  const b = seededSplit([...KEYS].reverse(), 50, 7);
  assert.deepEqual(a, b);
  const c = seededSplit(KEYS, 50, 8);
  assert.notDeepEqual(a.test, c.test);
});

Deno.test("seededSplit() does not mutate its input", () => {
  const keys = [...KEYS].reverse();
  const before = [...keys];
  seededSplit(keys, 10, 1);
  assert.deepEqual(keys, before);
});

Deno.test("seededSplit() rejects bad test sizes, seeds and duplicate keys", () => {
  for (const size of [0, 170, 171, 2.5, -1]) {
    assert.throws(() => seededSplit(KEYS, size, 0), RangeError, `size ${size}`);
  }
  for (const seed of [-1, 1.5, 2 ** 32]) {
    assert.throws(() => seededSplit(KEYS, 5, seed), RangeError, `seed ${seed}`);
  }
  assert.throws(() => seededSplit(["a", "a", "b"], 1, 0), /unique/);
});

Deno.test("mulberry32() is uniform enough: every image lands in test about test/n of the time over seeds", () => {
  const counts = new Map(KEYS.map((k) => [k, 0]));
  const seeds = 400;
  for (let s = 0; s < seeds; s++) {
    for (const k of seededSplit(KEYS, 50, s).test) counts.set(k, counts.get(k)! + 1);
  }
  const expected = (seeds * 50) / 170; // ≈ 117.6, binomial sd ≈ 9.1
  for (const [k, n] of counts) assert.ok(Math.abs(n - expected) < 45, `${k}: ${n} times in test`);
  const r = mulberry32(123);
  for (let i = 0; i < 1000; i++) {
    const v = r();
    assert.ok(v >= 0 && v < 1);
  }
});

Deno.test("defaultTestSize() is 50 for the release and keeps the 50/170 fraction for small datasets", () => {
  assert.equal(defaultTestSize(170), 50);
  assert.equal(defaultTestSize(12), 4);
  assert.equal(defaultTestSize(2), 1);
});
