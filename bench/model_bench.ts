/**
 * Inference timing of ssdForward (+ detectObjects) on the chosen backend.
 *   deno run -A tests/model_bench.ts [--backend wasm] [--batches 1,4] [--iters 3] [--classes 21]
 * Prints ms/image per batch size (median over iterations, after one warm-up run that packs the weights).
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, isBackendChoice } from "../lib/engine/backend.ts";
import { detectObjects } from "../lib/ssd/mod.ts";
import { createSsd300, disposeModel, ssdForward } from "../lib/ssd/model.ts";
import { N_PRIORS } from "../lib/ssd/priors.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "wasm" },
    batches: { type: "string", default: "1,4" },
    iters: { type: "string", default: "3" },
    classes: { type: "string", default: "21" },
  },
});
if (!isBackendChoice(values.backend)) throw new Error(`bad --backend ${values.backend}`);
const name = await initBackend(values.backend);
console.error(
  `backend ${name}; wasm simd ${tf.env().getBool("WASM_HAS_SIMD_SUPPORT")}, threads ${
    tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT")
  }`,
);
const nClasses = Number(values.classes);
const model = createSsd300(nClasses, 1);
/** CPU time of this process (user + system) in ms, from /proc/self/stat (clock ticks of 10 ms); NaN elsewhere. */
function cpuMs(): number {
  try {
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15 of proc(5))
  } catch {
    return NaN;
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const batch of values.batches.split(",").map(Number)) {
  const images = tf.randomNormal([batch, 300, 300, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const fwd: number[] = [], det: number[] = [], cpu: number[] = [];
  for (let it = 0; it <= Number(values.iters); it++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    const { locs, scores } = ssdForward(model, images);
    const l = locs.dataSync() as Float32Array, s = scores.dataSync() as Float32Array;
    const t1 = performance.now();
    const c1 = cpuMs();
    for (let i = 0; i < batch; i++) {
      detectObjects(
        l.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4),
        s.subarray(i * N_PRIORS * nClasses, (i + 1) * N_PRIORS * nClasses),
        nClasses,
        { minScore: 0.2, maxOverlap: 0.45, topK: 200 },
      );
    }
    const t2 = performance.now();
    tf.dispose([locs, scores]);
    if (it === 0) {
      console.error(`batch ${batch}: warm-up ${(t1 - t0).toFixed(0)} ms`);
      continue;
    }
    fwd.push((t1 - t0) / batch);
    cpu.push((c1 - c0) / batch);
    det.push((t2 - t1) / batch);
  }
  console.log(
    `batch ${batch}: forward ${median(fwd).toFixed(0)} ms/image wall, ${
      median(cpu).toFixed(0)
    } ms/image CPU, detectObjects ${median(det).toFixed(1)} ms/image (median of ${fwd.length}; all forward ${
      fwd.map((v) => v.toFixed(0)).join(", ")
    })`,
  );
  images.dispose();
}
disposeModel(model);
