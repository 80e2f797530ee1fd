/**
 * The ONNX Runtime side of `deno task bench`: the benchmark's model exported as model.onnx in memory
 * (lib/export `composeOnnxModel`, float32) and timed in ONNX Runtime's CPU provider on the same images, batch,
 * thresholds and thread count as our engine, in the same run: `forward` fetches the raw outputs, `inference`
 * the graph's own detections (decode, softmax, NMS and top-k inside ONNX Runtime), the NCHW conversion of the
 * input included in both.
 * @module
 */
import { z } from "zod";
import type { ParamData } from "../engine/mod.ts";
import { composeOnnxModel, OnnxRuntimeUnavailableError, onnxRuntimeVersion, OnnxSsd } from "../export/mod.ts";
import { type PhaseTiming, timeBatches } from "./timing.ts";
import { BENCH_CLASSES, BENCH_DETECT, disposeParams, modelFromParams } from "./workload.ts";

const PhaseSchema = z.object({
  ms_per_image: z.number().positive(),
  runs_ms_per_image: z.array(z.number().positive()).min(1),
});

/** bench.json's `onnxruntime`. */
export const OnnxRuntimeFiguresSchema = z.object({
  /** onnxruntime-node's version */
  version: z.string(),
  /** intra-op threads (= our engine's workers × threads) */
  threads: z.number().int().positive(),
  batch_size: z.number().int().positive(),
  /** size of the float32 model.onnx timed */
  model_bytes: z.number().int().positive(),
  forward: PhaseSchema,
  inference: PhaseSchema,
  detections_per_image: z.number().nonnegative(),
});
export type OnnxRuntimeFigures = z.infer<typeof OnnxRuntimeFiguresSchema>;

/**
 * Times ONNX Runtime on the benchmark's model and images.
 * @returns its figures, or the reason it was skipped (the runtime does not load)
 */
export async function runOnnxRuntimeBench(
  params: Map<string, ParamData>,
  images: readonly Float32Array[],
  o: { threads: number; reps: number; warmup: number; progress?: (line: string) => void },
): Promise<{ onnxruntime: OnnxRuntimeFigures | null; reason: string | null }> {
  const model = modelFromParams(BENCH_CLASSES, params);
  let bytes: Uint8Array;
  try {
    bytes =
      composeOnnxModel(model, { quantize: "none", classNames: ["background", "person"], source: "bench" })
        .bytes;
  } finally {
    disposeParams(model);
  }
  let ssd: OnnxSsd;
  try {
    ssd = await OnnxSsd.create(bytes, o.threads);
  } catch (e) {
    if (e instanceof OnnxRuntimeUnavailableError) return { onnxruntime: null, reason: e.message };
    throw e;
  }
  try {
    const n = images.length;
    const dets = await ssd.detect(images, BENCH_DETECT);
    const time = (phase: string, fn: () => Promise<void>): Promise<PhaseTiming> => (
      o.progress?.(`ONNX Runtime: ${phase}`), timeBatches(fn, n, o.reps, o.warmup, o.progress)
    );
    const forward = await time("forward", async () => void await ssd.forward(images));
    const inference = await time("inference", async () => void await ssd.detect(images, BENCH_DETECT));
    return {
      onnxruntime: {
        version: await onnxRuntimeVersion(),
        threads: o.threads,
        batch_size: n,
        model_bytes: bytes.byteLength,
        forward,
        inference,
        detections_per_image: dets.reduce((s, d) => s + d.filter((x) => x.classId !== 0).length, 0) / n,
      },
      reason: null,
    };
  } finally {
    await ssd.release();
  }
}
