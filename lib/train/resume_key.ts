/**
 * The resume key of a fine-tuning run: what determines its trajectory, so that a resume state is only continued
 * by the same run. It holds
 * - `dataset`: a SHA-256 over the dataset's content — classes, every image's id, file, size, split, boxes and
 *   crowd regions (validation scores against them, so they steer the best epoch and early stopping),
 *   the source's SHA-256 (zip) or, for a folder source (no SHA-256 recorded), the bytes of every TRAIN image —
 *   with a short summary (images, train images, boxes) so that a refusal says what changed;
 * - `start`: the starting model's kind and the SHA-256 of its file (weights.json, whose manifest carries its
 *   .bin's SHA-256; the .pth); `scratch` has none;
 * - every training setting but the horizon: `--epochs` and `--patience` may change between runs (a larger
 *   `--epochs` continues a finished or interrupted run; see {@link resumeKey}).
 * @module
 */
import { READ_LIMITS, readRegularFile, sha256Hex } from "../core/mod.ts";
import type { Dataset, OpenedDataset } from "../data/mod.ts";
import type { FinetuneOptions } from "./finetune_options.ts";

/** The dataset part of the key: `sha256:<hex> (N images, T train, B boxes)`. */
export async function datasetFingerprint(dataset: Dataset, source: OpenedDataset): Promise<string> {
  // crowd regions (COCO datasets) only when present, so that the keys of datasets without them stay as they were
  const images = dataset.images.map((im) => [
    im.id,
    im.file,
    im.width,
    im.height,
    im.split,
    im.boxes,
    ...(im.crowd?.length ? [im.crowd] : []),
  ]);
  const parts: string[] = [
    JSON.stringify({ classes: dataset.classes, origin: dataset.origin.sha256, images }),
  ];
  if (dataset.origin.sha256 === null) {
    for (const im of dataset.images) {
      if (im.split === "train") parts.push(await sha256Hex(source.read(im.file)));
    }
  }
  const hash = await sha256Hex(new TextEncoder().encode(parts.join("\n")));
  const nTrain = dataset.images.filter((im) => im.split === "train").length;
  const nBoxes = dataset.images.reduce((s, im) => s + im.boxes.length, 0);
  return `sha256:${hash} (${dataset.images.length} images, ${nTrain} train, ${nBoxes} boxes)`;
}

/** The starting-model part of the key: `<kind> sha256:<hex>` of its file, or `scratch seed <n>`. */
export async function startFingerprint(o: FinetuneOptions): Promise<string> {
  const { kind, path } = o.start;
  if (kind === "scratch" || path === null) return `scratch seed ${o.config.seed}`;
  return `${kind} sha256:${await sha256Hex(await readRegularFile(path, READ_LIMITS.model))}`;
}

/**
 * The resume key of run `o` (see the module doc). Not in it: `epochs` and `patience` (the horizon; with a
 * changed `--epochs` the learning-rate schedule is that of the new horizon from the resumed step on), and the
 * engine (`--backend`, `--conv`, `--workers`: the same arithmetic up to float rounding).
 */
export function resumeKey(o: FinetuneOptions, dataset: string, start: string): Record<string, unknown> {
  const { epochs: _epochs, patience: _patience, ...settings } = o.config;
  return { dataset, start, headInit: o.headInit, priorSet: o.priorSet, ...settings };
}
