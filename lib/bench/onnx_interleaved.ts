/**
 * Our engine against ONNX Runtime round by round (`deno task bench --onnx-rounds N`): the same model, images,
 * batch, thresholds and threads, the two engines alternating inside every round so that a slow spell of the
 * machine hits both. The bench's 2-class model, and optionally a user's checkpoint (`--checkpoint`, e.g. the
 * 21-class VOC model, whose 21 score columns make detection the larger share).
 * @module
 */
import { z } from "zod";
import { type EngineInfo, startRunner } from "../engine/mod.ts";
import { composeOnnxModel, OnnxSsd } from "../export/mod.ts";
import type { SsdModel } from "../ssd/mod.ts";
import { median } from "./timing.ts";
import {
  BENCH_DETECT,
  benchImages,
  calibrateCandidates,
  createSsd300Bench,
  disposeParams,
} from "./workload.ts";

/** The phases timed, in the order they alternate within a round. */
const PHASES = ["ours_forward", "onnxruntime_forward", "ours_inference", "onnxruntime_inference"] as const;

/** One model's interleaved figures in bench.json's `onnx_interleaved`. */
export const InterleavedRowSchema = z.object({
  /** which model: "bench 2-class model" or the checkpoint's path, its classes and the batch */
  model: z.string(),
  num_classes: z.number().int().positive(),
  batch_size: z.number().int().positive(),
  /** composeOnnxModel (float32) in memory, and ONNX Runtime's session creation, ms */
  setup_ms: z.object({ build: z.number().nonnegative(), session: z.number().nonnegative() }),
  /** ms per image of every round, per phase: ours/ORT × forward (raw outputs) / inference (+ detection) */
  runs_ms_per_image: z.record(z.enum(PHASES), z.array(z.number().positive()).min(1)),
});
export type InterleavedRow = z.infer<typeof InterleavedRowSchema>;

/**
 * Times `model` in our engine and in ONNX Runtime for `rounds` rounds after one warm-up of each.
 * @param images NHWC float32 300×300×3 images, one batch
 * @param classNames background first; the model's class count
 */
export async function compareWithOnnxRuntime(
  label: string,
  model: SsdModel,
  classNames: string[],
  images: readonly Float32Array[],
  engine: EngineInfo,
  rounds: number,
): Promise<InterleavedRow> {
  const runner = await startRunner(model, engine);
  let ort: OnnxSsd | undefined;
  try {
    let t0 = performance.now();
    const { bytes } = composeOnnxModel(model, { quantize: "none", classNames, source: label });
    const build = performance.now() - t0;
    t0 = performance.now();
    ort = await OnnxSsd.create(bytes, engine.workers * engine.threads);
    const session = performance.now() - t0;
    const runs = Object.fromEntries(
      PHASES.map((p) => [p, [] as number[]]),
    ) as InterleavedRow["runs_ms_per_image"];
    const n = images.length;
    const time = async (phase: keyof typeof runs, fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      runs[phase].push((performance.now() - t) / n);
    };
    const o = ort;
    await runner.forward(images), await o.forward(images); // warm-up
    await runner.detect(images, BENCH_DETECT), await o.detect(images, BENCH_DETECT);
    for (let r = 0; r < rounds; r++) {
      await time("ours_forward", () => runner.forward(images));
      await time("onnxruntime_forward", () => o.forward(images));
      await time("ours_inference", () => runner.detect(images, BENCH_DETECT));
      await time("onnxruntime_inference", () => o.detect(images, BENCH_DETECT));
    }
    return {
      model: label,
      num_classes: classNames.length,
      batch_size: n,
      setup_ms: { build, session },
      runs_ms_per_image: runs,
    };
  } finally {
    await runner.close();
    await ort?.release();
  }
}

/** A model besides the bench's own, e.g. a user's checkpoint. */
export interface InterleavedModel {
  label: string;
  model: SsdModel;
  /** background first, one per class of the model */
  classNames: string[];
}

/**
 * The interleaved comparison of `deno task bench --onnx-rounds N`: the bench's 2-class model (calibrated as in
 * the bench), then each of `others`, on `batchSize` bench images.
 */
export async function interleaveWithOnnxRuntime(
  engine: EngineInfo,
  o: {
    rounds: number;
    batchSize: number;
    others?: readonly InterleavedModel[];
    progress?: (line: string) => void;
  },
): Promise<InterleavedRow[]> {
  const images = benchImages(o.batchSize, 0);
  const bench = createSsd300Bench();
  const rows: InterleavedRow[] = [];
  try {
    await calibrateCandidates(bench, images);
    o.progress?.(`ours vs ONNX Runtime interleaved: bench 2-class model, ${o.rounds} rounds`);
    rows.push(
      await compareWithOnnxRuntime(
        "bench 2-class model",
        bench,
        ["background", "person"],
        images,
        engine,
        o.rounds,
      ),
    );
  } finally {
    disposeParams(bench);
  }
  for (const other of o.others ?? []) {
    o.progress?.(`ours vs ONNX Runtime interleaved: ${other.label}, ${o.rounds} rounds`);
    rows.push(
      await compareWithOnnxRuntime(other.label, other.model, other.classNames, images, engine, o.rounds),
    );
  }
  return rows;
}

/** The summary lines of one row: median and minimum ms per image per phase. */
export function formatInterleaved(row: InterleavedRow): string[] {
  const lines = [
    `ours vs ONNX Runtime, interleaved, ${row.model} (${row.num_classes} classes, batch ${row.batch_size}): ` +
    `model.onnx in memory ${row.setup_ms.build.toFixed(0)} ms, session ${row.setup_ms.session.toFixed(0)} ms`,
  ];
  for (const [phase, v] of Object.entries(row.runs_ms_per_image)) {
    lines.push(
      `  ${phase.padEnd(22)} median ${median(v).toFixed(0)}, min ${Math.min(...v).toFixed(0)} ms/img  [${
        v.map((x) => x.toFixed(0)).join(" ")
      }]`,
    );
  }
  return lines;
}
