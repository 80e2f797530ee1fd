/**
 * Honest framing of a report: a title that says what data and which runs it shows, the reasons its numbers may
 * mean nothing (a smoke run: synthetic fixtures, random initialisation, a handful of test images), and the
 * settings as a small table of what differs between runs, in words rather than camelCase.
 * @module
 */
import type { DataSource } from "../data/mod.ts";
import { formatAp, plural } from "./notation.ts";
import type { RunData } from "./run_dir.ts";

/** What the report knows about the evaluated data. */
export interface DatasetInfo {
  /** How the data is named in the title, e.g. "Penn-Fudan pedestrians". */
  name: string;
  /** The synthetic fixture dataset (fixtures/PennFudanPed), not real photographs. */
  synthetic: boolean;
}

/** Text in the fixture dataset's readme.txt (fixtures/generate.ts writes it). */
const SYNTHETIC_MARK = /synthetic fixture|not real data/i;

/**
 * Names a prepared dataset from its source: synthetic when its readme says so (the committed fixtures) or its
 * path is the fixtures folder (or its image folder), else the Penn-Fudan release — or, for a COCO dataset
 * (`category` given, not `person` of Penn-Fudan), "<category> images".
 * @param root the layout's folder prefix inside the source (dataset.json `source.root`, e.g. "PennFudanPed/")
 * @param category the dataset's category when it comes from a COCO file (dataset.json origin.layout "coco")
 */
export function describeDataset(
  source: Pick<DataSource, "has" | "read">,
  root: string,
  path = "",
  category?: string,
): DatasetInfo {
  const readme = `${root}readme.txt`;
  const text = source.has(readme) ? new TextDecoder().decode(source.read(readme)).slice(0, 2000) : "";
  const synthetic = SYNTHETIC_MARK.test(text) || /(^|\/)fixtures\/PennFudanPed(\/PNGImages)?\/?$/.test(path);
  return synthetic
    ? { name: "the synthetic fixture images", synthetic }
    : { name: category === undefined ? "Penn-Fudan pedestrians" : `the ${category} images`, synthetic };
}

/** The category the runs were scored on (ap.json settings.category.name of the first run; `person` if none). */
export function reportCategory(runs: readonly RunData[]): string {
  return runs[0]?.ap.settings.category.name ?? "person";
}

/** The noun for one object of the report's category: "pedestrian" for `person` (Penn-Fudan), else the name. */
export function objectNoun(runs: readonly RunData[]): string {
  const c = reportCategory(runs);
  return c === "person" ? "pedestrian" : c;
}

/** `noun` in the plural ("pedestrians", "buses", "cars"). */
export function pluralNoun(noun: string): string {
  return /(s|x|z|ch|sh)$/.test(noun) ? `${noun}es` : `${noun}s`;
}

/** The page title from the data and the runs, e.g. "Person detection on Penn-Fudan pedestrians: original VOC
 * detector vs fine-tuned (50 test images)". */
export function reportTitle(runs: readonly RunData[], data?: DatasetInfo): string {
  const originals = runs.filter((r) => r.kind === "original").length;
  const tuned = runs.filter((r) => r.kind === "finetuned").length;
  const tunedText = tuned === 1 ? "fine-tuned model" : `${tuned} fine-tuned models`;
  const who = originals && tuned
    ? `original VOC detector vs ${tunedText.replace(/ model$/, "")}`
    : originals
    ? "original VOC detector only"
    : tuned
    ? `${tunedText} only`
    : "no runs";
  const nImages = Math.max(0, ...runs.map((r) => r.ap.n_images));
  const category = reportCategory(runs);
  const where = data?.name ?? (runs[0] ? `COCO category "${category}"` : "no data");
  const what = category.charAt(0).toUpperCase() + category.slice(1);
  return `${what} detection on ${where}: ${who} (${plural(nImages, "test image")})`;
}

/** An "original" detector below this AP@0.5 on person cannot be the trained VOC model (which scores far higher). */
export const UNTRAINED_AP50 = 0.05;
/** Fewer test images than this make the report a smoke run whatever the data. */
export const SMOKE_MAX_TEST_IMAGES = 10;

/** Why the numbers of this report do not answer the question (empty: a real experiment). */
export function smokeReasons(runs: readonly RunData[], data?: DatasetInfo): string[] {
  const reasons: string[] = [];
  if (data?.synthetic) {
    reasons.push(
      "the images are the synthetic fixtures (coloured stick figures), not Penn-Fudan photographs",
    );
  }
  const scratch = runs.filter((r) => r.start?.kind === "scratch").map((r) => r.name);
  if (scratch.length) {
    reasons.push(`${scratch.join(", ")} started from a random initialisation, not the VOC detector`);
  }
  const nImages = Math.max(0, ...runs.map((r) => r.ap.n_images));
  if (runs.length && nImages < SMOKE_MAX_TEST_IMAGES) {
    reasons.push(`only ${plural(nImages, "test image")}: far too few to measure AP`);
  }
  for (const r of runs.filter((r) => r.kind === "original" && r.ap.ap50 >= 0 && r.ap.ap50 < UNTRAINED_AP50)) {
    reasons.push(
      `the original VOC detector ${r.name} scores AP@0.5 = ${formatAp(r.ap.ap50)} on these ${
        pluralNoun(objectNoun(runs))
      }, where a ` +
        `trained VOC SSD300 finds most of them: its weights are probably not the published trained ones`,
    );
  }
  const limited = runs.filter((r) => typeof r.ap.settings.limit === "number").map((r) => r.name);
  if (limited.length) reasons.push(`${limited.join(", ")} scored only part of the test split (--limit)`);
  return reasons;
}

/** Readable names of settings keys (training config, run.json, ap.json settings). */
const SETTING_NAMES: Record<string, string> = {
  lr: "learning rate",
  batchSize: "batch size (images per step)",
  microBatch: "micro-batch",
  weightDecay: "weight decay",
  warmup: "warm-up steps",
  freeze: "frozen layers",
  augment: "augmentation",
  shuffle: "shuffle",
  valFraction: "validation share of train",
  native_conv: "oneDNN convolutions",
  priorSet: "prior set",
  prior_set: "prior set",
  anchors: "prior set", // run.json / ap.json before the one-word rename
  min_score: "min score",
  max_overlap: "NMS IoU",
  top_k: "detections kept per image",
  split: "evaluated split",
  limit: "images scored (--limit)",
  n_classes: "classes",
};
/** Settings that do not change results (how fast, where, memory per pass): never shown. */
const HIDDEN = new Set([
  "workers",
  "backend",
  "native_conv",
  "microBatch",
  "batch_size",
  "detect_seconds",
  "mode",
  "dataset",
  "category",
]);

/** "batchSize" → "batch size", "top_k" → "top k", unless named in the table. */
export function settingName(key: string): string {
  return SETTING_NAMES[key] ?? key.replace(/_/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

function settingValue(v: unknown): string {
  if (v === undefined) return "–";
  if (v === null) return "none";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return JSON.stringify(v);
}

const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);

/** How a run's model came about, in words. */
export function startText(run: RunData): string {
  if (run.kind === "original") {
    const scored = typeof run.ap.settings.class === "string" ? run.ap.settings.class : "person";
    return `the VOC detector as published (21 classes, scored on ${scored})`;
  }
  const s = run.start;
  if (!s) return "fine-tuned (starting point not recorded)";
  const from = {
    checkpoint: `VOC checkpoint ${baseName(s.path ?? "")}`,
    weights: `earlier weights ${baseName(s.path ?? "")}`,
    imagenet: "ImageNet VGG16 backbone, random heads",
    scratch: "random initialisation",
  }[s.kind] ?? s.kind;
  const heads = s.headInit?.startsWith("voc-")
    ? `, heads from the VOC ${s.headInit.slice(4)} channels`
    : s.headInit === "random" && s.kind === "checkpoint"
    ? ", random heads"
    : "";
  return `fine-tuned from ${from}${heads}`;
}

/** The settings table: rows that differ between runs, and the settings every run shares. */
export interface SettingsTable {
  /** Column per run, in run order. */
  runs: string[];
  rows: { name: string; values: string[] }[];
  /** "name: value" of the settings equal in every run that has them. */
  common: string[];
}

/**
 * Builds the table. Training settings are compared among the fine-tuned runs (the original is not trained: "–");
 * detector and evaluation settings among all runs. A setting equal wherever it is present goes to `common`.
 */
export function settingsTable(runs: readonly RunData[]): SettingsTable {
  const candidates: SettingsTable["rows"] = [{ name: "model", values: runs.map(startText) }];
  const modelFile = (r: RunData) => {
    const f = r.ap.settings.weights ?? r.ap.settings.checkpoint ?? r.ap.settings.detections;
    return typeof f === "string" ? baseName(f) : undefined;
  };
  candidates.push({ name: "model file", values: runs.map((r) => settingValue(modelFile(r))) });
  const detectorKeys = [
    "min_score",
    "max_overlap",
    "top_k",
    "split",
    "limit",
    "priorSet",
    "prior_set",
    "anchors",
  ];
  const trainKeys = [...new Set(runs.flatMap((r) => Object.keys(r.trainingSettings ?? {})))]
    .filter((k) => !detectorKeys.includes(k));
  for (const key of detectorKeys) {
    candidates.push({ name: settingName(key), values: runs.map((r) => settingValue(r.ap.settings[key])) });
  }
  for (const key of trainKeys) {
    candidates.push({
      name: settingName(key),
      values: runs.map((r) => settingValue(r.trainingSettings?.[key])),
    });
  }
  const rows: SettingsTable["rows"] = [], common: string[] = [];
  const keys = ["model", "model file", ...detectorKeys, ...trainKeys];
  candidates.forEach((row, i) => {
    if (HIDDEN.has(keys[i])) return;
    const present = [...new Set(row.values.filter((v) => v !== "–"))];
    if (present.length === 0) return;
    if (row.name === "model" && runs.length === 1) rows.push(row);
    else if (present.length === 1) common.push(`${row.name}: ${present[0]}`);
    else rows.push(row);
  });
  return { runs: runs.map((r) => r.name), rows, common };
}
