/**
 * Training-step throughput of SSD300 (forward, MultiBox loss, backward through convWithGrad, SGD step) on random
 * inputs with realistic boxes, plus a per-kernel profile of one step.
 * Run: deno run -A tests/train_bench.ts [--batch 4] [--micro 2] [--steps 2] [--backend wasm] [--workers 1] [--native-conv] [--profile]
 * Reports wall ms/image and process CPU ms/image (robust to other processes on a shared machine).
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { initBackend, isBackendChoice } from "../lib/engine/backend.ts";
import { createSsd300, disposeModel } from "../lib/ssd/model.ts";
import { Optimizer } from "../lib/train/optim.ts";
import { createPriorsCxcy } from "../lib/ssd/priors.ts";
import { Rng } from "../lib/core/rng.ts";
import { type LossAndGradients, lossAndGradients, type TrainSample } from "../lib/train/mod.ts";
import { modelParamData, poolLossAndGradients, SsdWorkerPool } from "../lib/engine/pool.ts";
import { enableNativeConv, nativeConvWithGrad } from "../lib/engine/onednn.ts";

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "4" },
    micro: { type: "string", default: "2" },
    steps: { type: "string", default: "2" },
    backend: { type: "string", default: "wasm" },
    profile: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
    "native-conv": { type: "boolean", default: false },
  },
});
if (!isBackendChoice(values.backend!)) throw new RangeError(`--backend: unknown '${values.backend}'`);
await initBackend(values.backend);
const batch = Number(values.batch), micro = Number(values.micro), steps = Number(values.steps);

function cpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

const rng = new Rng(1);
const samples: TrainSample[] = Array.from({ length: batch }, () => {
  const image = new Float32Array(300 * 300 * 3).map(() => rng.uniform(-2, 2));
  const boxes = new Float32Array(
    [0.1, 0.2, 0.35, 0.9, 0.5, 0.3, 0.7, 0.95].map((v) => v + rng.uniform(-0.05, 0.05)),
  );
  return { image, gt: { boxes, labels: [1, 1] } };
});
const model = createSsd300(2, 3);
const priorsCxcy = createPriorsCxcy();
const opt = new Optimizer({ kind: "sgd", momentum: 0.9 });
const workers = Number(values.workers);
const native = values["native-conv"];
if (native && workers === 1) console.log("oneDNN:", JSON.stringify(enableNativeConv(2)));
const pool = workers > 1
  ? await SsdWorkerPool.create({
    workers,
    backend: values.backend === "cpu" ? "cpu" : "wasm",
    nClasses: 2,
    params: await modelParamData(model),
    nativeConv: native,
  })
  : undefined;
const step = async () => {
  let r: LossAndGradients;
  if (pool) {
    await pool.setWeights(new Map([...model.params].map(([k, v]) => [k, v.dataSync() as Float32Array])));
    r = await poolLossAndGradients(pool, samples, { priorsCxcy, microBatch: micro });
  } else {
    r = lossAndGradients(model, samples, {
      priorsCxcy,
      microBatch: micro,
      conv: native ? nativeConvWithGrad : undefined,
    });
  }
  opt.step(model.params, r.grads, 1e-3);
  for (const g of r.grads.values()) g.dispose();
  return r.loss;
};

await step(); // warm-up (kernel setup, heap growth)
const walls: number[] = [], cpus: number[] = [];
for (let i = 0; i < steps; i++) {
  const w0 = performance.now(), c0 = cpuMs();
  await step();
  walls.push(performance.now() - w0);
  cpus.push(cpuMs() - c0);
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  `training step, batch ${batch} (micro ${micro}), ${values.backend}${
    native ? " + oneDNN" : ""
  }, ${workers} worker(s): ` +
    `${(median(walls) / batch).toFixed(0)} ms/image wall, ${
      (median(cpus) / batch).toFixed(0)
    } ms/image CPU ` +
    `(median of ${steps}; CPU = all threads of the process, workers included); peak RSS ${
      (Deno.memoryUsage().rss / 2 ** 20).toFixed(0)
    } MiB`,
);

if (values.profile) {
  const prof = await tf.profile(async () => {
    await step();
  });
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.n++;
    byKernel.set(k.name, e);
  }
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(`kernel profile of one step (${total.toFixed(0)} ms in kernels):`);
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
    console.log(
      `  ${name.padEnd(24)} ${e.ms.toFixed(0).padStart(7)} ms ${
        (100 * e.ms / total).toFixed(1).padStart(5)
      }%  ×${e.n}`,
    );
  }
}
await pool?.close();
opt.dispose();
disposeModel(model);
