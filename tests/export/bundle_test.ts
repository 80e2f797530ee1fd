/**
 * The page bundle: web/main.ts and the lib/ modules it reaches must bundle for the browser. Browser-facing
 * modules (lib/export/detector.ts, lib/export/ssd_graph.ts, lib/ssd/preprocess.ts, lib/image/codec.ts, …)
 * import files directly, not a folder's `mod.ts`, because one also reaches Deno-only code (`node:path`,
 * Deno.readFile). This runs in seconds; the full page test (tests/tasks/serve_test.ts) needs Chromium.
 */
import assert from "node:assert/strict";
import { bundleWebApp } from "../../lib/export/serve.ts";

Deno.test({
  name: "bundleWebApp() bundles the page for the browser without reaching node: built-ins",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const js = await bundleWebApp();
    assert(js.length > 100_000, `bundle of ${js.length} bytes`);
    assert(!/from\s*"node:/.test(js), "the bundle imports a node: built-in");
    assert(js.includes("loadGraphModel") || js.includes("graph-model"), "tfjs-converter is in the bundle");
  },
});
