/**
 * Run directories, as the report reads them. A run directory holds:
 * - `ap.json` (required) — `deno task ap` output: AP@0.5, AP@0.75, AP@[.5:.95], AR@100, their 95% bootstrap
 *   intervals, the PR curves, settings (incl. `dataset`, `checkpoint`/`weights`, detector parameters, and for a
 *   finetune run's weights `weights_choice` best|last and `best_epoch`);
 * - `detections.coco.json` and `gt.coco.json` — the per-image data (written by `deno task ap --dataset`; for
 *   `--annotations/--detections` runs the files named in ap.json's settings are used): needed for the paired
 *   comparison of runs and for the gallery;
 * - `train-log.json` — optional training curves `{ steps: [{epoch, step, loss}], epochs: [{epoch, train_loss,
 *   val_loss, val_ap75}] }` (`step` counts optimiser steps over the whole run);
 * - `run.json` — optional (lib/train/run_json.ts: `deno task finetune` writes it; a hand-written
 *   `{ name, kind: "original" | "finetuned", description, dataset, start, settings }` is read too): display name,
 *   role, starting point and training settings.
 * @module
 */
import { readJsonArtifact, withoutTrailingSlash } from "../core/mod.ts";
// the schema files themselves, not lib/train/mod.ts: the report stays free of TF.js
import type { BestEpoch } from "../train/best.ts";
import { readRunJson, type RunJson, type RunNote } from "../train/run_json.ts";
import { readTrainingLog, type TrainingLog } from "../train/train_log.ts";
import {
  type ApJson,
  ApJsonSchema,
  type CocoResult,
  cocoToEvalInputs,
  evaluatePerImage,
  type PerImageEval,
  readCocoGtFile,
  readCocoResults,
} from "../evaluation/mod.ts";
import type { CocoGroundTruth } from "../data/mod.ts";

/** Everything the report shows about one run. */
export interface RunData {
  dir: string;
  name: string;
  kind: "original" | "finetuned";
  description?: string;
  /** which weights of a finetune run ap.json scored: its best epoch (best/, `best_epoch`) or the last */
  weights?: { which: "best" | "last"; bestEpoch?: number };
  ap: ApJson;
  detections?: CocoResult[];
  groundTruth?: CocoGroundTruth;
  trainLog?: TrainingLog;
  /** run.json `best`: the best validation epoch by the run's `--select` metric (absent: none recorded) */
  best?: BestEpoch;
  /** Training settings: run.json settings, else train-log settings. */
  trainingSettings?: Record<string, unknown>;
  /** How training started (run.json `source`, `head_init`). */
  start?: { kind: string; path?: string | null; headInit?: string };
  /** dataset.json path, resolved relative to the run directory when it comes from a relative run.json entry. */
  dataset?: string;
}

/** Whether `path` is an existing file. */
const exists = (path: string): Promise<boolean> => Deno.stat(path).then((s) => s.isFile, () => false);

function resolveFrom(dir: string, path: string): string {
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

/** The first of `candidates` that exists: `dir/name`, else the path an ap.json setting names (as given, then
 * relative to the run directory). */
async function findFile(dir: string, name: string, setting: unknown): Promise<string | undefined> {
  const candidates = [`${dir}/${name}`];
  if (typeof setting === "string") candidates.push(setting, resolveFrom(dir, setting));
  for (const c of candidates) if (await exists(c)) return c;
  return undefined;
}

/** The `weights_choice` / `best_epoch` that `deno task ap` records for a finetune run's weights. */
function weightsOf(ap: ApJson): RunData["weights"] {
  const which = ap.settings.weights_choice;
  if (which !== "best" && which !== "last") return undefined;
  const epoch = ap.settings.best_epoch;
  return { which, ...(typeof epoch === "number" ? { bestEpoch: epoch } : {}) };
}

/**
 * Reads a run directory (layout in the module doc). Only `ap.json` is required.
 * @throws ArtifactError naming the file and field when a present file is malformed or ap.json is missing.
 */
export async function loadRunDir(dir: string): Promise<RunData> {
  const d = withoutTrailingSlash(dir);
  const ap = await readJsonArtifact(`${d}/ap.json`, ApJsonSchema);
  const run: RunJson | RunNote = (await exists(`${d}/run.json`)) ? await readRunJson(`${d}/run.json`) : {};
  const trainLog = (await exists(`${d}/train-log.json`))
    ? await readTrainingLog(`${d}/train-log.json`)
    : undefined;
  const gtFile = await findFile(d, "gt.coco.json", ap.settings.annotations);
  const groundTruth = gtFile ? await readCocoGtFile(gtFile) : undefined;
  const detFile = await findFile(d, "detections.coco.json", ap.settings.detections);
  const detections = detFile
    ? await readCocoResults(detFile, groundTruth && new Set(groundTruth.images.map((im) => im.id)))
    : undefined;
  const kind = run.kind ?? (ap.settings.n_classes === 21 ? "original" : "finetuned");
  const datasetSetting = run.dataset ??
    (typeof ap.settings.dataset === "string" ? ap.settings.dataset : undefined);
  return {
    dir: d,
    name: run.name ?? d.slice(d.lastIndexOf("/") + 1),
    kind,
    description: run.description,
    weights: weightsOf(ap),
    ap,
    detections,
    groundTruth,
    trainLog,
    best: (run as Partial<RunJson>).best ?? undefined,
    trainingSettings: run.settings ?? trainLog?.settings,
    start: run.start && { kind: run.start.kind, path: run.start.path, headInit: run.head_init },
    dataset: datasetSetting && (run.dataset ? resolveFrom(d, datasetSetting) : datasetSetting),
  };
}

/** The run's evaluation split by test image (for the paired bootstrap), or undefined without per-image data. */
export function perImageEvalOf(run: RunData): PerImageEval | undefined {
  if (!run.groundTruth || !run.detections) return undefined;
  const { imageIds, gts, dets } = cocoToEvalInputs(
    run.groundTruth,
    run.detections,
    run.ap.settings.category.id,
  );
  return evaluatePerImage(gts, dets, { imageIds });
}
