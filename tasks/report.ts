/**
 * `deno task report --runs <run dir>… --out report.html` — the self-contained hypothesis report (lib/report).
 * A run directory holds ap.json (required), detections.coco.json, gt.coco.json, and optionally train-log.json
 * and run.json; the verdict is a paired bootstrap of each fine-tuned run against the original detector; the
 * gallery draws test images of the dataset with ground truth, detections and the errors at IoU 0.75. The folder of
 * --out is locked while the report is built (lib/core/run_folder.ts), and the page replaces the old one at once.
 * @module
 */
import { checkInputFiles, type CliSpec, parseFlags, runTask, UsageError } from "../lib/cli/mod.ts";
import { MAX_PIXELS_FLAG } from "../lib/cli/common_flags.ts";
import {
  checkOutputFile,
  InputError,
  lockOutputFiles,
  terminalText,
  writeFileAtomic,
} from "../lib/core/mod.ts";
import { openDatasetSource, readDataset, toCocoGroundTruth } from "../lib/data/mod.ts";
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED } from "../lib/evaluation/mod.ts";
import {
  buildReport,
  type DatasetInfo,
  describeDataset,
  loadRunDir,
  type ReportOptions,
} from "../lib/report/mod.ts";

const CLI = {
  task: "report",
  usage: ["--runs RUN_DIR [RUN_DIR…] --out report.html [--dataset dataset.json] [flags]"],
  summary:
    `One self-contained HTML page comparing evaluation runs: the verdict (paired bootstrap), the AP table,
PR and training curves, and a gallery of test images. More run directories may follow as plain arguments.`,
  positionals: true,
  flags: {
    runs: { kind: "list", value: "DIR", description: "run directories (ap.json required; repeatable)" },
    out: { kind: "string", value: "FILE", required: true, description: "the HTML file to write" },
    dataset: {
      kind: "string",
      value: "FILE",
      description: "dataset.json of the gallery (default: the runs')",
    },
    gallery: { kind: "integer", min: 0, default: 6, description: "test images in the gallery (0: none)" },
    "gallery-min-score": {
      kind: "number",
      min: 0,
      max: 1,
      default: 0.3,
      description: "draw detections with at least this score (the error view's operating point)",
    },
    labels: { kind: "integer", min: 0, default: 3, description: "scores shown on the N highest detections" },
    "max-boxes": { kind: "integer", min: 0, default: 10, description: "detections drawn per gallery image" },
    bootstrap: {
      kind: "integer",
      min: 0,
      default: BOOTSTRAP_RESAMPLES,
      description: "resamples of the comparison",
    },
    "bootstrap-seed": { kind: "integer", min: 0, default: BOOTSTRAP_SEED, description: "their seed" },
    "max-pixels": MAX_PIXELS_FLAG,
    title: {
      kind: "string",
      value: "TEXT",
      description: "title of the page (default: from the data and runs)",
    },
  },
} as const satisfies CliSpec;

/** The split the runs were evaluated on (ap.json settings.split), for runs without gt.coco.json. */
function split(runs: { ap: { settings: Record<string, unknown> } }[]): "train" | "test" {
  return runs.some((r) => r.ap.settings.split === "train") ? "train" : "test";
}

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  const dirs = [...f.runs, ...f.positionals];
  if (dirs.length === 0) throw new UsageError("--runs needs at least one run directory");
  await checkInputFiles(f, ["dataset"]);
  await checkOutputFile(f.out); // a directory fails now, not after the gallery
  await using output = await lockOutputFiles("report", [f.out]); // its folder's lock, for the whole run
  const given = f.dataset === undefined ? undefined : await readDataset(f.dataset); // a bad one fails first
  const runs = [];
  for (const dir of dirs) runs.push(await loadRunDir(dir));
  const names = runs.map((r) => `${terminalText(r.name, { keepNewlines: false })} (${r.kind})`);
  console.error(`report: ${runs.length} run(s): ${names.join(", ")}`);

  let images: ReportOptions["images"];
  let dataset: DatasetInfo | undefined;
  const datasetPath = f.dataset ?? runs.find((r) => r.dataset)?.dataset;
  if (f.gallery > 0 && !datasetPath) {
    throw new UsageError("the gallery needs the images: pass --dataset dataset.json (or --gallery 0)");
  }
  if (datasetPath) {
    const data = given ?? await readDataset(datasetPath);
    const source = await openDatasetSource(data, datasetPath);
    const category = data.origin.layout === "coco" ? data.classes[1] : undefined;
    dataset = describeDataset(source, data.origin.root, data.origin.path, category);
    const byId = new Map(data.images.map((im) => [im.id, im]));
    const read = (id: number) => {
      const im = byId.get(id);
      if (!im) throw new InputError(`image ${id} of the runs' gt.coco.json is not in ${datasetPath}`);
      return source.readImage(im);
    };
    images = { read, groundTruth: toCocoGroundTruth(data, split(runs)) };
  }
  const t0 = performance.now();
  const html = buildReport(runs, {
    title: f.title,
    dataset,
    resamples: f.bootstrap,
    seed: f.bootstrapSeed,
    images,
    gallery: { count: f.gallery, minScore: f.galleryMinScore, maxLabels: f.labels, maxBoxes: f.maxBoxes },
  });
  console.error(`report: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await writeFileAtomic(output.staged(f.out), html);
  await output.commit();
  console.error(`report: wrote ${f.out} (${(html.length / 1024).toFixed(0)} KiB)`);
}

if (import.meta.main) await runTask("report", main);
