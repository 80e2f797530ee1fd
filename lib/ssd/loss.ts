/**
 * MultiBox loss of the reference (`MultiBoxLoss`): prior matching, hard-negative mining, cross-entropy over
 * positives and hard negatives plus α × L1 (not smooth L1) over the positives' offsets.
 *
 * Built for gradient accumulation with bounded memory: matching does not depend on the predictions, so
 * {@link buildTargets} runs first for the whole batch and fixes the total number of positives N. A micro-batch's
 * share of the loss is then (its CE sum + α · its L1 sum / 4) / N ({@link multiboxLossPart}); the shares of all
 * micro-batches add up to exactly the full-batch loss, and so do their gradients. Hard-negative mining is per
 * image, so it is unaffected by how images are grouped into micro-batches.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { cxcyToXyxy, encodeOffsets, iouMatrix, xyxyToCxcy } from "./boxes.ts";
import { BACKGROUND_CLASS } from "./classes.ts";

/** Priors whose best IoU is below this become background (the reference's `threshold=0.5`). */
export const MATCH_THRESHOLD = 0.5;
/** Hard negatives per positive, per image (the reference's `neg_pos_ratio=3`). */
export const NEG_POS_RATIO = 3;
/** Weight of the localisation loss (the reference's `alpha=1.`). */
export const LOC_LOSS_WEIGHT = 1;
/**
 * Smallest width/height (fractional) of a matched ground-truth box in the offset encoding: a zero side would be
 * log(0) = −∞ (`cxcy_to_gcxgcy`) and a non-finite loss. Data validation refuses such boxes (lib/data
 * `MIN_BOX_SIDE_PX`); this guard keeps one that slips through (e.g. from a hand-made dataset) finite. 1e-4 is
 * 0.03 input pixels of SSD300, far below any real box, so real targets are unchanged.
 */
export const MIN_TARGET_SIDE = 1e-4;

/** Ground truth of one image: fractional xyxy boxes and their class ids (≥ 1). */
export interface GroundTruth {
  /** Float32Array [nObjects * 4], fractional (x_min, y_min, x_max, y_max) */
  boxes: Float32Array;
  /** class id per object, 1..nClasses-1 */
  labels: ArrayLike<number>;
}

/** Regression and classification targets of one image. */
export interface ImageTargets {
  /** Float32Array [nPriors * 4] encoded offsets; 0 for background priors (never used there) */
  trueLocs: Float32Array;
  /** Int32Array [nPriors] class per prior, 0 = background */
  trueClasses: Int32Array;
  /** number of priors with a class ≠ 0 */
  nPositives: number;
}

/** Options of the loss; defaults are the reference's. */
export interface LossOptions {
  threshold?: number;
  negPosRatio?: number;
  alpha?: number;
  /**
   * Where hard negatives are mined (same selection either way): `host` reads the cross-entropies back
   * synchronously ({@link hardNegatives}), `device` selects them with tensor ops ({@link hardNegativesOnDevice}:
   * nothing read back). Default: `device` on the WebGPU backend (no synchronous reads), else `host`.
   */
  mining?: "host" | "device";
}

/** Index and value of the largest of the `n` values `a[start + i · stride]`; the first on ties (as torch's max). */
function argmaxStrided(a: Float32Array, start: number, stride: number, n: number): [number, number] {
  let best = a[start], arg = 0;
  for (let i = 1; i < n; i++) {
    const v = a[start + i * stride];
    if (v > best) {
      best = v;
      arg = i;
    }
  }
  return [arg, best];
}

/**
 * Matches priors to ground-truth objects for one image (the reference's per-image loop in `MultiBoxLoss.forward`):
 * IoU objects × priors; each prior takes its best object; each object is then forced onto its best prior with
 * overlap 1 (in object order, so when two objects share a best prior the later one wins, as torch's
 * `object_for_each_prior[prior_for_each_object] = range(n_objects)`); priors with overlap < threshold are
 * background. Ties in the arg-max go to the lowest index. An image without objects is all background.
 * @param gt fractional xyxy boxes and labels
 * @param priorsCxcy Float32Array [nPriors * 4] fractional (cx, cy, w, h)
 */
export function matchPriors(
  gt: GroundTruth,
  priorsCxcy: Float32Array,
  threshold = MATCH_THRESHOLD,
): ImageTargets {
  const nPriors = priorsCxcy.length / 4;
  const nObjects = gt.boxes.length / 4;
  if (!Number.isInteger(nPriors) || !Number.isInteger(nObjects)) {
    throw new RangeError(
      `matchPriors: box arrays must hold multiples of 4 values (${gt.boxes.length}, ${priorsCxcy.length})`,
    );
  }
  if (gt.labels.length !== nObjects) {
    throw new RangeError(`matchPriors: ${nObjects} boxes but ${gt.labels.length} labels`);
  }
  for (let i = 0; i < nObjects; i++) {
    const l = gt.labels[i];
    if (!Number.isInteger(l) || l <= BACKGROUND_CLASS) {
      throw new RangeError(`matchPriors: label ${i} is ${l}, expected ≥ 1`);
    }
  }
  const trueClasses = new Int32Array(nPriors);
  const trueLocs = new Float32Array(nPriors * 4);
  if (nObjects === 0) return { trueLocs, trueClasses, nPositives: 0 };

  const overlap = iouMatrix(gt.boxes, cxcyToXyxy(priorsCxcy)); // [nObjects, nPriors]
  // best object for each prior (overlap.max(dim=0))
  const objectForPrior = new Int32Array(nPriors);
  const overlapForPrior = new Float32Array(nPriors);
  for (let p = 0; p < nPriors; p++) {
    const [o, best] = argmaxStrided(overlap, p, nPriors, nObjects); // column p of [nObjects, nPriors]
    objectForPrior[p] = o;
    overlapForPrior[p] = best;
  }
  // best prior for each object (overlap.max(dim=1)), then forced assignment, later objects overwriting earlier ones
  for (let o = 0; o < nObjects; o++) {
    const [p] = argmaxStrided(overlap, o * nPriors, 1, nPriors); // row o of [nObjects, nPriors]
    objectForPrior[p] = o;
    overlapForPrior[p] = 1;
  }
  // classes, and the matched box of every positive prior as (cx, cy, w, h)
  const matchedXyxy = new Float32Array(nPriors * 4);
  let nPositives = 0;
  for (let p = 0; p < nPriors; p++) {
    const o = objectForPrior[p];
    matchedXyxy.set(gt.boxes.subarray(o * 4, o * 4 + 4), p * 4);
    if (overlapForPrior[p] >= threshold) {
      trueClasses[p] = gt.labels[o];
      nPositives++;
    }
  }
  const matchedCxcy = xyxyToCxcy(matchedXyxy);
  for (let i = 0; i < matchedCxcy.length; i += 4) { // (cx, cy, w, h): clamp w and h
    matchedCxcy[i + 2] = Math.max(matchedCxcy[i + 2], MIN_TARGET_SIDE);
    matchedCxcy[i + 3] = Math.max(matchedCxcy[i + 3], MIN_TARGET_SIDE);
  }
  const encoded = encodeOffsets(matchedCxcy, priorsCxcy); // [nPriors * 4]
  for (let p = 0; p < nPriors; p++) {
    if (trueClasses[p] !== BACKGROUND_CLASS) trueLocs.set(encoded.subarray(p * 4, p * 4 + 4), p * 4);
  }
  return { trueLocs, trueClasses, nPositives };
}

/** Targets of a whole batch and its total number of positives (the loss's normaliser). */
export interface BatchTargets {
  targets: ImageTargets[];
  nPositivesTotal: number;
}

/** {@link matchPriors} for every image of a batch. */
export function buildTargets(
  batch: readonly GroundTruth[],
  priorsCxcy: Float32Array,
  opts: LossOptions = {},
): BatchTargets {
  const targets = batch.map((gt) => matchPriors(gt, priorsCxcy, opts.threshold ?? MATCH_THRESHOLD));
  return { targets, nPositivesTotal: targets.reduce((s, t) => s + t.nPositives, 0) };
}

/**
 * Selects the hard negatives of one image: the `negPosRatio × nPositives` non-positive priors with the highest
 * cross-entropy (the reference zeroes the positives' CE, sorts descending and keeps the first ranks; positives
 * picked that way contribute 0, so selecting among non-positives only gives the same sum).
 * @param ce Float32Array [nPriors] cross-entropy per prior
 * @returns Uint8Array [nPriors], 1 for a hard negative
 */
export function hardNegatives(
  ce: Float32Array,
  trueClasses: Int32Array,
  nPositives: number,
  negPosRatio = NEG_POS_RATIO,
) {
  const n = ce.length;
  const mask = new Uint8Array(n);
  const want = Math.min(negPosRatio * nPositives, n);
  if (want === 0) return mask;
  const candidates: number[] = [];
  for (let p = 0; p < n; p++) if (trueClasses[p] === BACKGROUND_CLASS) candidates.push(p);
  // descending CE; equal values by index (deterministic)
  candidates.sort((a, b) => ce[b] - ce[a] || a - b);
  for (let i = 0; i < Math.min(want, candidates.length); i++) mask[candidates[i]] = 1;
  return mask;
}

/**
 * {@link hardNegatives} of every image of a micro-batch with tensor ops, reading nothing back: the same selection
 * (descending CE among the background priors, equal values by index). Per image, the k-th largest candidate CE t
 * (`topk`) splits the candidates into those above t (all taken) and those equal to t, of which the first
 * k − #above by index are taken (a cumulative sum). Not differentiated (the selection is piecewise constant): the
 * caller treats the mask as a constant.
 * @param ce [b, nPriors] cross-entropy per prior (≥ 0)
 * @param targets the b images' targets (positives are never candidates)
 * @returns [b, nPriors] float32, 1 for a hard negative
 */
export function hardNegativesOnDevice(
  ce: tf.Tensor2D,
  targets: readonly ImageTargets[],
  negPosRatio = NEG_POS_RATIO,
): tf.Tensor2D {
  const [b, nPriors] = ce.shape;
  const background = new Uint8Array(b * nPriors);
  const k = targets.map((t, i) => {
    let candidates = 0;
    for (let p = 0; p < nPriors; p++) {
      if (t.trueClasses[p] === BACKGROUND_CLASS) {
        background[i * nPriors + p] = 1;
        candidates++;
      }
    }
    return Math.min(negPosRatio * t.nPositives, nPriors, candidates);
  });
  const kMax = Math.max(0, ...k);
  if (kMax === 0) return tf.zeros([b, nPriors]);
  // one-hot of each image's k-th rank in the top-kMax list; rows of images without hard negatives stay 0
  const kth = new Float32Array(b * kMax);
  k.forEach((ki, i) => ki > 0 && (kth[i * kMax + ki - 1] = 1));
  return tf.tidy(() => {
    const isCandidate = tf.tensor2d(background, [b, nPriors], "bool");
    const cand = tf.where(isCandidate, ce, tf.fill([b, nPriors], -1)); // positives below every CE (≥ 0)
    const top = tf.topk(cand, kMax).values; // [b, kMax], descending
    const t = tf.sum(tf.mul(top, tf.tensor2d(kth, [b, kMax])), 1, true); // [b, 1]: the k-th largest
    const above = tf.greater(cand, t); // [b, nPriors]
    const ties = tf.logicalAnd(tf.equal(cand, t), isCandidate);
    const rank = tf.cumsum(tf.cast(ties, "float32"), 1); // 1, 2, … over the ties, by index
    const wanted = tf.sub(tf.tensor2d(k, [b, 1]), tf.sum(tf.cast(above, "float32"), 1, true)); // [b, 1]
    const picked = tf.logicalOr(above, tf.logicalAnd(ties, tf.lessEqual(rank, wanted)));
    const active = tf.tensor2d(k.map((ki) => (ki > 0 ? 1 : 0)), [b, 1]);
    return tf.mul(tf.cast(picked, "float32"), active) as tf.Tensor2D;
  });
}

/** The parts of a (micro-)batch's loss share, as differentiable scalars. */
export interface LossPart {
  /** (conf + α · loc) / N: sum these over micro-batches for the batch loss */
  loss: tf.Scalar;
  /** Σ CE over positives and hard negatives / N */
  conf: tf.Scalar;
  /** Σ |Δ offsets| over positives / (4 N) */
  loc: tf.Scalar;
}

/**
 * The share of the batch loss contributed by some images (a micro-batch), differentiable w.r.t. locs and scores.
 * With host mining ({@link LossOptions.mining}) it reads the cross-entropies back once (synchronously); with
 * device mining it reads nothing. Call it inside the function given to `tf.variableGrads`.
 * @param locs [b, nPriors, 4] predicted offsets
 * @param scores [b, nPriors, nClasses] class logits
 * @param targets the b images' targets (from {@link buildTargets} over the whole batch)
 * @param nPositivesTotal positives of the WHOLE batch (the normaliser); must be > 0
 */
export function multiboxLossPart(
  locs: tf.Tensor3D,
  scores: tf.Tensor3D,
  targets: readonly ImageTargets[],
  nPositivesTotal: number,
  opts: LossOptions = {},
): LossPart {
  const [b, nPriors, nClasses] = scores.shape;
  if (locs.shape[0] !== b || locs.shape[1] !== nPriors || locs.shape[2] !== 4 || targets.length !== b) {
    throw new RangeError(
      `multiboxLossPart: locs [${locs.shape}], scores [${scores.shape}] and ${targets.length} targets disagree`,
    );
  }
  if (!(nPositivesTotal > 0)) {
    throw new RangeError(
      `multiboxLossPart: the batch has ${nPositivesTotal} positive priors (no ground-truth boxes?)`,
    );
  }
  const alpha = opts.alpha ?? LOC_LOSS_WEIGHT;
  const negPosRatio = opts.negPosRatio ?? NEG_POS_RATIO;
  return tf.tidy(() => {
    const classes = new Int32Array(b * nPriors);
    const trueLocs = new Float32Array(b * nPriors * 4);
    const posMask4 = new Float32Array(b * nPriors * 4);
    targets.forEach((t, i) => {
      if (t.trueClasses.length !== nPriors) {
        throw new RangeError(
          `multiboxLossPart: targets of image ${i} have ${t.trueClasses.length} priors, not ${nPriors}`,
        );
      }
      classes.set(t.trueClasses, i * nPriors);
      trueLocs.set(t.trueLocs, i * nPriors * 4);
      for (let p = 0; p < nPriors; p++) {
        if (t.trueClasses[p] !== BACKGROUND_CLASS) {
          posMask4.fill(1, (i * nPriors + p) * 4, (i * nPriors + p) * 4 + 4);
        }
      }
    });
    // cross-entropy per prior: −log softmax(scores)[true class]
    // one-hot built here: the WASM backend's OneHot returns integer bit patterns for dtype float32 (tfjs 4.22)
    const oneHotData = new Float32Array(b * nPriors * nClasses);
    for (let i = 0; i < b * nPriors; i++) {
      if (classes[i] >= nClasses) {
        throw new RangeError(`multiboxLossPart: class ${classes[i]} ≥ nClasses ${nClasses}`);
      }
      oneHotData[i * nClasses + classes[i]] = 1;
    }
    const oneHot = tf.tensor2d(oneHotData, [b * nPriors, nClasses]); // [b·nPriors, C]
    const logp = tf.logSoftmax(tf.reshape(scores, [b * nPriors, nClasses])); // [b·nPriors, C]
    const ce = tf.neg(tf.sum(tf.mul(logp, oneHot), 1)); // [b·nPriors]
    // positives and hard negatives (mined on the values; the selection itself is not differentiated)
    const mining = opts.mining ?? (tf.getBackend() === "webgpu" ? "device" : "host");
    let conf: tf.Scalar;
    if (mining === "device") {
      const positives = new Float32Array(b * nPriors);
      for (let i = 0; i < b * nPriors; i++) positives[i] = classes[i] !== BACKGROUND_CLASS ? 1 : 0;
      // a custom gradient of 0 keeps topk & co. off the autodiff tape (TF.js has no TopK gradient)
      const negatives = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const x = args[0] as tf.Tensor;
        return {
          value: hardNegativesOnDevice(tf.reshape(x, [b, nPriors]) as tf.Tensor2D, targets, negPosRatio),
          gradFunc: () => tf.zerosLike(x),
        };
      })(ce);
      const confMask = tf.add(tf.tensor1d(positives), tf.reshape(negatives, [b * nPriors]));
      conf = tf.div(tf.sum(tf.mul(ce, confMask)), nPositivesTotal) as tf.Scalar;
    } else {
      const ceValues = ce.dataSync() as Float32Array;
      const confMask = new Float32Array(b * nPriors);
      targets.forEach((t, i) => {
        const off = i * nPriors;
        const neg = hardNegatives(
          ceValues.subarray(off, off + nPriors),
          t.trueClasses,
          t.nPositives,
          negPosRatio,
        );
        for (let p = 0; p < nPriors; p++) {
          confMask[off + p] = t.trueClasses[p] !== BACKGROUND_CLASS || neg[p] ? 1 : 0;
        }
      });
      conf = tf.div(tf.sum(tf.mul(ce, tf.tensor1d(confMask))), nPositivesTotal) as tf.Scalar;
    }
    // L1 over the positives' offsets, mean over all 4·N positive elements of the batch (nn.L1Loss)
    const diff = tf.abs(tf.sub(locs, tf.tensor3d(trueLocs, [b, nPriors, 4]))); // [b, nPriors, 4]
    const loc = tf.div(
      tf.sum(tf.mul(diff, tf.tensor3d(posMask4, [b, nPriors, 4]))),
      4 * nPositivesTotal,
    ) as tf.Scalar;
    const loss = tf.add(conf, tf.mul(loc, alpha)) as tf.Scalar;
    return { loss, conf, loc };
  });
}

/**
 * The full MultiBox loss of a batch (the reference's `MultiBoxLoss(priors)(locs, scores, boxes, labels)`).
 * @param locs [B, nPriors, 4]; scores [B, nPriors, nClasses]
 * @param gts fractional xyxy boxes and labels per image
 */
export function multiboxLoss(
  locs: tf.Tensor3D,
  scores: tf.Tensor3D,
  gts: readonly GroundTruth[],
  priorsCxcy: Float32Array,
  opts: LossOptions = {},
): LossPart {
  const { targets, nPositivesTotal } = buildTargets(gts, priorsCxcy, opts);
  return multiboxLossPart(locs, scores, targets, nPositivesTotal, opts);
}
