/**
 * Test helper: locates the read-only shared material (../shared relative to the project root). Tests that need it
 * must fail, not skip, when the `CI` environment variable is set (the material is always there in CI).
 */

/** Absolute path of a file under the shared directory, e.g. `sharedPath("data/PennFudanPed.zip")`. */
export function sharedPath(relative: string): string {
  return new URL(`../../shared/${relative}`, import.meta.url).pathname;
}

/** Whether the shared file exists. */
export function sharedExists(relative: string): boolean {
  try {
    Deno.statSync(sharedPath(relative));
    return true;
  } catch {
    return false;
  }
}

/**
 * `ignore` flag for Deno.test: true (skip) only when the file is missing AND we are not in CI. In CI a missing file
 * is not ignored, so the test runs and fails on reading it.
 */
export function ignoreWithoutShared(...relatives: string[]): boolean {
  if (Deno.env.get("CI")) return false;
  return !relatives.every(sharedExists);
}
