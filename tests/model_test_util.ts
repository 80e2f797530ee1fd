/**
 * Helpers shared by the model owner's tests: golden files from ../shared/golden (FAIL when missing under CI,
 * skip otherwise) and small assertions.
 */
import assertModule from "node:assert/strict";

export const GOLDEN_DIR = new URL("../../shared/golden/", import.meta.url);

export function assert(cond: unknown, message?: string): asserts cond {
  assertModule.ok(cond, message);
}
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assertModule.deepStrictEqual(actual, expected, message);
}

/** True when the golden folder is readable; under CI a missing folder throws, otherwise the test is skipped. */
export function haveGolden(t: Deno.TestContext | undefined, file = ""): boolean {
  try {
    Deno.statSync(new URL(file, GOLDEN_DIR));
    return true;
  } catch {
    if (Deno.env.get("CI")) throw new Error(`golden file missing: ${new URL(file, GOLDEN_DIR).pathname}`);
    console.warn(`skipping ${t?.name ?? "check"}: ${new URL(file, GOLDEN_DIR).pathname} not found`);
    return false;
  }
}

/** Reads a raw little-endian float32 golden, or undefined (skip) when absent outside CI. */
export async function goldenF32(
  t: Deno.TestContext | undefined,
  file: string,
): Promise<Float32Array | undefined> {
  if (!haveGolden(t, file)) return undefined;
  const bytes = await Deno.readFile(new URL(file, GOLDEN_DIR));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Reads golden.json, or undefined (skip) when absent outside CI. */
export async function goldenJson(
  t: Deno.TestContext | undefined,
): Promise<Record<string, unknown> | undefined> {
  if (!haveGolden(t, "golden.json")) return undefined;
  return JSON.parse(await Deno.readTextFile(new URL("golden.json", GOLDEN_DIR)));
}

/** max |a − b| and ‖a − b‖ / ‖b‖ (relative Frobenius error). */
export function compareArrays(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { maxAbs: number; relFro: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxAbs = 0, num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i] - expected[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += expected[i] * expected[i];
  }
  return { maxAbs, relFro: Math.sqrt(num / den) };
}
