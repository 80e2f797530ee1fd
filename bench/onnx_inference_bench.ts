/**
 * Our engine against ONNX Runtime for inference, interleaved round by round on the same images, batch 4, the
 * same threads (ours: the default engine of lib/engine/setup.ts; ONNX Runtime: as many intra-op threads as our
 * workers × threads use): forward (`locs`, `scores`) and inference (forward + detection at `deno task ap`'s
 * thresholds, min score 0.01) on the bench's 2-class model and, when ../shared has it, the golden 21-class VOC
 * checkpoint; also the time to build model.onnx in memory and its session.
 *   deno run -A bench/onnx_inference_bench.ts [--rounds 8]
 * Prints median and minimum ms per image per phase, and every round.
 */
import { parseArgs } from "node:util";
import { initEngine, startRunner } from "../lib/engine/mod.ts";
import { composeOnnxModel, exportClassNames, OnnxSsd } from "../lib/export/mod.ts";
import { loadCheckpointFile } from "../lib/interop/mod.ts";
import { median } from "../lib/bench/timing.ts";
import { BENCH_DETECT, benchImages, calibrateCandidates, createSsd300Bench } from "../lib/bench/workload.ts";
import type { SsdModel } from "../lib/ssd/mod.ts";

const { values } = parseArgs({ args: Deno.args, options: { rounds: { type: "string", default: "8" } } });
const rounds = Number(values.rounds);
const info = await initEngine({ use: "infer" });
const BATCH = 4;
const images = benchImages(BATCH, 0);

async function compare(label: string, model: SsdModel, names: string[]): Promise<void> {
  const runner = await startRunner(model, info);
  let t0 = performance.now();
  const { bytes } = composeOnnxModel(model, { quantize: "none", classNames: names, source: "bench" });
  const build = performance.now() - t0;
  t0 = performance.now();
  const ort = await OnnxSsd.create(bytes, info.workers * info.threads);
  console.log(
    `${label}: model.onnx in memory ${build.toFixed(0)} ms, session ${
      (performance.now() - t0).toFixed(0)
    } ms`,
  );
  const runs: Record<string, number[]> = {
    "ours forward": [],
    "ORT forward": [],
    "ours inference": [],
    "ORT inference": [],
  };
  const time = async (phase: string, fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    runs[phase].push((performance.now() - t) / BATCH);
  };
  await runner.forward(images), await ort.forward(images); // warm-up
  await runner.detect(images, BENCH_DETECT), await ort.detect(images, BENCH_DETECT);
  for (let r = 0; r < rounds; r++) {
    await time("ours forward", () => runner.forward(images));
    await time("ORT forward", () => ort.forward(images));
    await time("ours inference", () => runner.detect(images, BENCH_DETECT));
    await time("ORT inference", () => ort.detect(images, BENCH_DETECT));
  }
  for (const [phase, v] of Object.entries(runs)) {
    console.log(
      `  ${phase.padEnd(15)} median ${median(v).toFixed(0)}, min ${Math.min(...v).toFixed(0)} ms/img  [${
        v.map((x) => x.toFixed(0)).join(" ")
      }]`,
    );
  }
  await runner.close();
  await ort.release();
}

const bench = createSsd300Bench();
await calibrateCandidates(bench, images);
await compare("bench 2-class model", bench, ["background", "person"]);
const golden = new URL("../../shared/golden/ssd300_voc.pth", import.meta.url).pathname;
try {
  await compare("golden 21-class VOC", await loadCheckpointFile(golden), exportClassNames(21, "voc"));
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
  console.log(`(no ${golden}: the 21-class comparison is skipped)`);
}
