/**
 * `deno task detect --backend webgpu` as a user runs it: on the golden crop image it gives the CPU engine's
 * detections (same labels, boxes IoU ≥ 0.99, scores within 1e-3) and names the adapter on its engine line; without
 * an adapter it stops with one line (exit 1); `--backend auto` never picks a software adapter. WebGPU is hidden
 * from a process with `DENO_WEBGPU_BACKEND=none` (no backend of wgpu's is enabled then).
 * Skipped without an adapter or the goldens; fails under CI.
 */
import assert from "node:assert/strict";
import { DetectionsJsonSchema } from "../../lib/ssd/mod.ts";
import { describeAdapter } from "../../lib/engine/webgpu.ts";
import {
  assertSameDetections,
  comparablePixelDetections,
  denoTask,
  FIXTURE_DIR,
  GOLDEN_DIR,
  haveGolden,
  requireWebGpu,
  webGpuForTests,
  withTempDir,
  xywhIou,
} from "../helpers.ts";

const GPU = await webGpuForTests();
const FIXTURE_IMAGE = `${FIXTURE_DIR}/PNGImages/FudanPed00001.png`;

/** The bar for the same detections on two engines. */
const MIN_IOU = 0.99;
const MAX_SCORE_DIFF = 1e-3;

/** The golden detect settings (golden.json `min_score=0.5,max_overlap=0.5,top_k=10`): 10 clearly separated boxes. */
const DETECT_FLAGS = ["--min-score", "0.5", "--max-overlap", "0.5", "--top-k", "10"];

Deno.test({
  name: `deno task detect --backend webgpu on the golden crop image gives the CPU engine's detections ` +
    `(labels, IoU ≥ ${MIN_IOU}, scores within ${MAX_SCORE_DIFF}) and names the adapter`,
  ignore: GPU.ignore,
  fn: async (t) => {
    const adapter = requireWebGpu(GPU);
    if (!haveGolden(t, "ssd300_voc.pth") || !haveGolden(t, "crop_FudanPed00001.png")) return;
    await withTempDir(async (dir) => {
      const image = new URL("crop_FudanPed00001.png", GOLDEN_DIR).pathname;
      const run = async (backend: string) => {
        const t0 = performance.now();
        const r = await denoTask("detect", [
          "--checkpoint",
          new URL("ssd300_voc.pth", GOLDEN_DIR).pathname,
          "--image",
          image,
          "--out",
          `${dir}/${backend}.png`,
          "--json",
          `${dir}/${backend}.json`,
          "--backend",
          backend,
          ...DETECT_FLAGS,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const json = DetectionsJsonSchema.parse(
          JSON.parse(await Deno.readTextFile(`${dir}/${backend}.json`)),
        );
        return { ...r, dets: json.detections, secs: (performance.now() - t0) / 1000 };
      };
      const cpu = await run("wasm");
      const gpu = await run("webgpu");
      assert.match(
        gpu.stderr,
        new RegExp(`^engine: WebGPU kernels on ${escape(describeAdapter(adapter))}`, "m"),
      );
      assert.equal(gpu.dets.length, 10);
      assert.deepEqual(gpu.dets.map((d) => d.label), cpu.dets.map((d) => d.label));
      assertSameDetections(
        comparablePixelDetections(gpu.dets),
        comparablePixelDetections(cpu.dets),
        MIN_IOU,
        MAX_SCORE_DIFF,
        "webgpu vs wasm",
      );
      const [g, c] = [comparablePixelDetections(gpu.dets), comparablePixelDetections(cpu.dets)];
      const worst = g.reduce((m, d, i) => Math.max(m, Math.abs(d.score - c[i].score)), 0);
      const minIou = g.reduce((m, d, i) => Math.min(m, xywhIou(d.bbox, c[i].bbox)), 1);
      console.error(
        `detect: wasm ${cpu.secs.toFixed(1)} s, webgpu ${gpu.secs.toFixed(1)} s; in order: max |Δscore| ${
          worst.toExponential(2)
        }, min IoU ${minIou.toFixed(6)}`,
      );
    });
  },
});

Deno.test("deno task detect --backend webgpu without an adapter stops with one line (exit 1); auto skips software adapters", async () => {
  await withTempDir(async (dir) => {
    // the engine starts before the model is read: an unreadable weights file comes second
    await Deno.writeTextFile(`${dir}/w.json`, "{}");
    const args = [
      "--weights",
      `${dir}/w.json`,
      "--image",
      FIXTURE_IMAGE,
      "--out",
      `${dir}/a.png`,
      "--json",
      `${dir}/a.json`,
    ];
    const none = await denoTask("detect", [...args, "--backend", "webgpu"], { DENO_WEBGPU_BACKEND: "none" });
    assert.equal(none.code, 1, none.stderr);
    const lines = none.stderr.trim().split("\n");
    assert.equal(lines.length, 1, none.stderr);
    assert.match(lines[0], /^detect: --backend webgpu: no WebGPU adapter found \(.*Vulkan.*Metal.*DX12\)$/);
    // auto: WebGPU only on a hardware adapter
    const auto = await denoTask("detect", [...args, "--backend", "auto"]);
    assert.equal(auto.code, 1, auto.stderr); // the weights file
    const engine = auto.stderr.split("\n").find((l) => l.startsWith("engine: "));
    if (GPU.adapter && !GPU.adapter.software) assert.match(engine!, /\(webgpu backend\)$/, auto.stderr);
    else assert.match(engine!, /\(wasm backend\)$/, auto.stderr);
  });
});

/** `s` with the regular-expression metacharacters escaped. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
