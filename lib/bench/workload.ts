/**
 * The `deno task bench` workload (mirrored by lib/bench/bench_torch.py): SSD300 for background + person with
 * random weights and person logits shifted down (calibrated so that detection sees a trained detector's
 * candidate count), random images, three random boxes per image, and the work per image in GFLOP.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { mulberry32 } from "../core/mod.ts";
import type { ParamData } from "../engine/mod.ts";
import { type DetectOptions, SSD_INPUT_FLOATS, stackImages } from "../ssd/mod.ts";
import { createSsd300, ssdForward, type SsdModel } from "../ssd/model.ts";
import { buildTargets, type ImageTargets } from "../ssd/loss.ts";
import { createPriorsCxcy } from "../ssd/priors.ts";

/** GFLOP of one SSD300 forward per image: Σ over its 35 convolutions of 2·k²·Cin·Cout·H_out·W_out (the
 * per-layer profile's `gflop` column sums to this, tests/tasks/bench_test.ts), 2 classes. */
export const SSD300_FORWARD_GFLOP = 60.9;
/** GFLOP of one training step per image: forward + backward ≈ 3 × forward (dX and dW each cost a forward). */
export const SSD300_TRAIN_GFLOP = 3 * SSD300_FORWARD_GFLOP;

/** Subtracted from every person (class 1) logit bias, as lib/bench/bench_torch.py's PERSON_LOGIT_SHIFT: a trained
 * detector calls most priors background, so detection then sees a realistic number of candidates. */
export const PERSON_LOGIT_SHIFT = 3;
/** Detection candidates per image (priors above min_score before NMS) that both benches calibrate to, as a trained
 * detector at min_score 0.01 has a few hundred; lib/bench/bench_torch.py uses the same number. */
export const BENCH_CANDIDATES_PER_IMAGE = 200;
/** Classes of the benchmarked model (background, person). */
export const BENCH_CLASSES = 2;
/** detect_objects parameters of the benchmark (the reference's evaluation settings, as bench_torch.py). */
export const BENCH_DETECT: DetectOptions = { minScore: 0.01, maxOverlap: 0.45, topK: 200 };
/** SGD of the benchmark (bench_torch.py: lr 1e-4, momentum 0.9). */
export const BENCH_SGD = { lr: 1e-4, momentum: 0.9 };

/** Lowers the person logit bias of every classification head by `shift` (in place). */
export function shiftPersonLogits(model: SsdModel, shift = PERSON_LOGIT_SHIFT): void {
  for (const [name, v] of model.params) {
    if (!/^pred_convs\.cl_.*\.bias$/.test(name)) continue;
    tf.tidy(() => {
      const c = model.nClasses;
      const mask = tf.tensor1d(Array.from({ length: v.size }, (_, i) => (i % c === 1 ? shift : 0))); // [boxes·C]
      v.assign(tf.sub(v, mask));
    });
  }
}

/** Deterministic standard-normal-ish images (Box–Muller), each NHWC [300 * 300 * 3], like torch.randn inputs. */
export function benchImages(n: number, seed = 0): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const a = new Float32Array(SSD_INPUT_FLOATS);
    for (let i = 0; i < a.length; i++) {
      a[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    }
    return a;
  });
}

/** Three random fractional xyxy boxes per image, as bench_torch.py: corner in [0, .5), side in [.1, .5). */
export function benchBoxes(n: number, seed = 1): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const b = new Float32Array(12);
    for (let k = 0; k < 3; k++) {
      const x0 = rand() * 0.5, y0 = rand() * 0.5;
      b.set([x0, y0, x0 + 0.1 + rand() * 0.4, y0 + 0.1 + rand() * 0.4], k * 4);
    }
    return b;
  });
}

/** Targets of the benchmark batch (lib/ssd/loss.ts matching, person class) and its total positive count. */
export function benchTargets(
  boxes: readonly Float32Array[],
): { targets: ImageTargets[]; nPositivesTotal: number } {
  return buildTargets(
    boxes.map((b) => ({ boxes: b, labels: new Array(b.length / 4).fill(1) })),
    createPriorsCxcy(),
  );
}

/** A model with these parameters (fresh variables). */
export function modelFromParams(nClasses: number, params: Map<string, ParamData>): SsdModel {
  const vars = new Map<string, tf.Variable>();
  for (const [name, p] of params) {
    vars.set(name, tf.tidy(() => tf.variable(tf.tensor(p.data, p.shape), true)));
  }
  return { nClasses, params: vars };
}

export function disposeParams(model: SsdModel): void {
  for (const v of model.params.values()) v.dispose();
}

/** The benchmark's model: SSD300 for background + person, seed 0, person logits shifted down. */
export function createSsd300Bench(): SsdModel {
  const model = createSsd300(BENCH_CLASSES, 0);
  shiftPersonLogits(model);
  return model;
}

/**
 * Shifts the person logits further so that exactly `perImage` priors per image (on average over `images`) score
 * above `BENCH_DETECT.minScore`: random weights give each side a different score distribution, so both benches
 * calibrate to the same candidate count and their detection steps do the same amount of NMS work.
 * @returns the extra shift applied
 */
export async function calibrateCandidates(
  model: SsdModel,
  images: readonly Float32Array[],
  perImage = BENCH_CANDIDATES_PER_IMAGE,
): Promise<number> {
  const margin = tf.tidy(() => {
    const x = tf.tensor4d(stackImages(images), [images.length, 300, 300, 3]);
    const { scores } = ssdForward(model, x); // [B, 8732, 2]
    const [bg, person] = tf.split(scores, 2, 2);
    return tf.sub(person, bg);
  });
  const margins = (await margin.data()) as Float32Array; // [B·8732] person − background logit
  margin.dispose();
  const sorted = Float32Array.from(margins).sort().reverse();
  const k = Math.min(sorted.length - 1, perImage * images.length);
  const logitMin = Math.log(BENCH_DETECT.minScore / (1 - BENCH_DETECT.minScore));
  // between the k-th and (k+1)-th margins: those k stay above min_score
  const shift = (sorted[k - 1] + sorted[k]) / 2 - logitMin;
  shiftPersonLogits(model, shift);
  return shift;
}
