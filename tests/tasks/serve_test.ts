/**
 * `deno task serve` with the golden VOC model exported, opened in Debian's headless Chromium (driven by
 * playwright-core in tests/web/chromium_page.ts, no browser download): `/?image=/images/<fixture>` gives the
 * detections of `deno task detect` on the same image, the canvas shows the boxes, and every request the page
 * makes stays on the local server. Skipped without Chromium or ../shared locally; under CI (env CI set) it
 * runs
 * and fails instead.
 */
import assert from "node:assert/strict";
import {
  assertSameDetections,
  comparablePixelDetections,
  detectOneImageArgs,
  FIXTURE_DIR,
  ignoreWithoutShared,
  sharedPath,
} from "../helpers.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import { exportClassNames, exportGraphModel } from "../../lib/export/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { loadCheckpointFile } from "../../lib/interop/mod.ts";
import { classColor, DetectionsJsonSchema, disposeModel } from "../../lib/ssd/mod.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const ROOT = new URL("../../", import.meta.url).pathname;
const IMAGE = "FudanPed00001.png";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Reads the child's stdout until the server prints its URL. */
async function serverUrl(child: Deno.ChildProcess, timeoutMs: number): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel(), timeoutMs);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`deno task serve ended before listening: ${text}`);
      text += value;
      const m = /serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (m) return m[1];
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

Deno.test("deno task serve rejects a folder without model.json (exit 1, one line)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", "serve", "--model", dir, "--port", "0"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.deepEqual(r.code, 1, err);
    assert(/serve: --model .*: no model\.json \(export one with deno task export\)/.test(err), err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "deno task serve: the page in headless Chromium detects what deno task detect does, and draws it",
  ignore: !Deno.env.get("CI") && (!haveChromium || ignoreWithoutShared("golden/ssd300_voc.pth")),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!haveChromium) throw new Error(`${CHROMIUM} is required in CI (apt-get install chromium)`);
    const dir = await Deno.makeTempDir({ prefix: "serve_test_" });
    const checkpoint = sharedPath("golden/ssd300_voc.pth");
    let server: Deno.ChildProcess | undefined;
    try {
      await initBackend("wasm", null);
      const model = await loadCheckpointFile(checkpoint);
      try {
        await exportGraphModel(model, `${dir}/model`, {
          quantize: "none",
          classNames: exportClassNames(21, checkpoint),
          source: "ssd300_voc.pth",
        });
      } finally {
        disposeModel(model);
      }
      const det = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "detect",
          "--checkpoint",
          checkpoint,
          ...detectOneImageArgs(dir, `${FIXTURE_DIR}/PNGImages/${IMAGE}`),
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.deepEqual(det.code, 0, new TextDecoder().decode(det.stderr));
      const expected = DetectionsJsonSchema.parse(
        JSON.parse(await Deno.readTextFile(`${dir}/detections.json`)),
      );
      assert(expected.detections.length > 0);

      server = new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "serve",
          "--model",
          `${dir}/model`,
          "--images",
          `${FIXTURE_DIR}/PNGImages`,
          "--port",
          "0",
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const origin = await serverUrl(server, 120_000);

      const shotPath = `${dir}/canvas.png`;
      const driver = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}tests/web/chromium_page.ts`,
          `${origin}/?image=/images/${IMAGE}`,
          shotPath,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.deepEqual(driver.code, 0, new TextDecoder().decode(driver.stderr));
      const page = JSON.parse(new TextDecoder().decode(driver.stdout));
      assert.deepEqual(page.state, "done", `${page.status} ${page.errors}`);
      const result = JSON.parse(page.detections);
      // with --disable-gpu Chromium's only WebGPU adapter is SwiftShader, a fallback one: never picked unasked
      assert(["webgl", "wasm", "cpu"].includes(result.backend), `backend ${result.backend}`);
      assert(result.ms > 0, `ms ${result.ms}`);
      console.log(
        `page: backend ${result.backend}, ${result.ms.toFixed(0)} ms, ${result.detections.length} detections`,
      );
      assertSameDetections(
        result.detections,
        comparablePixelDetections(expected.detections),
        0.99,
        1e-3,
        "page vs deno task detect",
      );
      // ?backend=webgpu: the same detections on Chromium's WebGPU (its software adapter, SwiftShader, here)
      const gpuPage = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}tests/web/chromium_page.ts`,
          `${origin}/?backend=webgpu&image=/images/${IMAGE}`,
          `${dir}/gpu.png`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.deepEqual(gpuPage.code, 0, new TextDecoder().decode(gpuPage.stderr));
      const onGpu = JSON.parse(new TextDecoder().decode(gpuPage.stdout));
      assert.deepEqual(onGpu.state, "done", `${onGpu.status} ${onGpu.errors}`);
      const gpuResult = JSON.parse(onGpu.detections);
      assert.deepEqual(gpuResult.backend, "webgpu");
      console.log(
        `page: backend webgpu, ${gpuResult.ms.toFixed(0)} ms, ${gpuResult.detections.length} detections`,
      );
      assertSameDetections(
        gpuResult.detections,
        comparablePixelDetections(expected.detections),
        0.99,
        1e-3,
        "page on webgpu vs deno task detect",
      );
      const requests: string[] = page.requests;
      const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u));
      assert.deepEqual(foreign, [], "requests outside the local server");
      assert(
        requests.some((u) => u.startsWith(`${origin}/model/group1-shard1of`)),
        "weights came from /model/",
      );

      // the canvas shows the image and the boxes in the person colour
      const shot = decodeImage(await Deno.readFile(shotPath), shotPath);
      const [r, g, b] = classColor(15);
      let boxPixels = 0, sum = 0, sum2 = 0;
      const n = shot.width * shot.height;
      for (let p = 0; p < n; p++) {
        const [pr, pg, pb] = shot.data.subarray(p * 3, p * 3 + 3);
        if (Math.abs(pr - r) + Math.abs(pg - g) + Math.abs(pb - b) < 30) boxPixels++;
        const y = 0.299 * pr + 0.587 * pg + 0.114 * pb;
        sum += y;
        sum2 += y * y;
      }
      assert(shot.width >= 300, `canvas ${shot.width}×${shot.height}`);
      assert(boxPixels / n > 0.01, `box-coloured share ${(boxPixels / n).toFixed(4)}`);
      assert(sum2 / n - (sum / n) ** 2 > 100, "not blank");
    } finally {
      if (server) {
        try {
          server.kill("SIGTERM");
        } catch {
          // already exited (its own error is the one to see)
        }
        await server.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
