/**
 * Path text the tasks derive from what users type: one spelling of a folder however many slashes end it.
 * @module
 */

/** `dir` without trailing slashes (`runs/x//` → `runs/x`); the root stays `/`. */
export function withoutTrailingSlash(dir: string): string {
  return dir.replace(/\/+$/, "") || "/";
}
