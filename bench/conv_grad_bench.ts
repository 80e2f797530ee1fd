/**
 * Throughput of convWithGrad's forward, dW and dX on SSD300 layer shapes (batch 1 by default).
 * Run: deno run -A tests/conv_grad_bench.ts [--batch 1] [--backend wasm]
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { initBackend, isBackendChoice } from "../lib/engine/backend.ts";
import { conv2dFilterGrad, conv2dInputGrad, convForward, convOutSize } from "../lib/engine/conv_grad.ts";
import type { ConvOptions } from "../lib/ssd/model.ts";

const { values } = parseArgs({
  options: { batch: { type: "string", default: "1" }, backend: { type: "string", default: "wasm" } },
});
if (!isBackendChoice(values.backend!)) throw new RangeError(`--backend: unknown '${values.backend}'`);
await initBackend(values.backend);
const n = Number(values.batch);

const LAYERS: { name: string; hw: number; cin: number; cout: number; k: number; o: ConvOptions }[] = [
  { name: "conv1_2", hw: 300, cin: 64, cout: 64, k: 3, o: { stride: 1, pad: 1, dilation: 1, relu: true } },
  { name: "conv2_2", hw: 150, cin: 128, cout: 128, k: 3, o: { stride: 1, pad: 1, dilation: 1, relu: true } },
  { name: "conv3_3", hw: 75, cin: 256, cout: 256, k: 3, o: { stride: 1, pad: 1, dilation: 1, relu: true } },
  { name: "conv4_3", hw: 38, cin: 512, cout: 512, k: 3, o: { stride: 1, pad: 1, dilation: 1, relu: true } },
  {
    name: "conv6 (d6)",
    hw: 19,
    cin: 512,
    cout: 1024,
    k: 3,
    o: { stride: 1, pad: 6, dilation: 6, relu: true },
  },
  {
    name: "conv7 (1x1)",
    hw: 19,
    cin: 1024,
    cout: 1024,
    k: 1,
    o: { stride: 1, pad: 0, dilation: 1, relu: true },
  },
  {
    name: "conv8_2 (s2)",
    hw: 19,
    cin: 256,
    cout: 512,
    k: 3,
    o: { stride: 2, pad: 1, dilation: 1, relu: true },
  },
];

/** CPU time of this process in ms (utime + stime from /proc, 10 ms ticks): robust to other processes on a shared CPU. */
function cpuMs(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Mean CPU ms per call over `reps` calls after a warm-up (WASM runs on one thread). */
function time(f: () => tf.Tensor, reps = 3): number {
  f().dispose(); // warm-up
  const t0 = cpuMs();
  for (let i = 0; i < reps; i++) {
    const r = f();
    r.dataSync();
    r.dispose();
  }
  return (cpuMs() - t0) / reps;
}

let totalFlops = 0, totalMs = 0;
for (const l of LAYERS) {
  const ho = convOutSize(l.hw, l.k, l.o);
  const x = tf.randomNormal([n, l.hw, l.hw, l.cin]) as tf.Tensor4D;
  const w = tf.randomNormal([l.k, l.k, l.cin, l.cout], 0, 0.05) as tf.Tensor4D;
  const b = tf.zeros([l.cout]) as tf.Tensor1D;
  const dy = tf.randomNormal([n, ho, ho, l.cout]) as tf.Tensor4D;
  const flops = 2 * n * ho * ho * l.cout * l.cin * l.k * l.k; // one pass (forward, dW or dX alike)
  const fwd = time(() => convForward(x, w, b, l.o));
  const dw = time(() => conv2dFilterGrad(x, dy, l.k, l.k, l.o));
  const dx = time(() => conv2dInputGrad(dy, w, x.shape, l.o));
  const g = (ms: number) => (flops / ms / 1e6).toFixed(1).padStart(5);
  console.log(
    `${l.name.padEnd(13)} ${(flops / 1e9).toFixed(2)} GFLOP/pass  fwd ${fwd.toFixed(0).padStart(5)} ms ${
      g(fwd)
    } GFLOP/s` +
      `  dW ${dw.toFixed(0).padStart(5)} ms ${g(dw)}  dX ${dx.toFixed(0).padStart(5)} ms ${g(dx)}`,
  );
  totalFlops += 2 * flops;
  totalMs += dw + dx;
  tf.dispose([x, w, b, dy]);
}
console.log(
  `gradients overall: ${(totalFlops / totalMs / 1e6).toFixed(1)} GFLOP/s (batch ${n}, ${values.backend})`,
);
