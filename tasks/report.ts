/**
 * `deno task report --runs <run dir>… --out report.html` — the self-contained hypothesis report (lib/report.ts).
 *
 *   --runs DIR [DIR…]        run directories (ap.json required; see lib/report.ts for the layout); more run dirs
 *                            may follow as plain arguments
 *   --out FILE               the HTML file to write
 *   --dataset FILE           dataset.json for the gallery images (default: the runs' run.json / ap.json settings)
 *   --gallery N              test images in the gallery (default 6; 0: no gallery)
 *   --gallery-min-score S    draw detections with score ≥ S (default 0.3); the error view's operating point
 *   --labels N               scores on the N highest detections per gallery image (default 3)
 *   --max-boxes N            at most N detections drawn per gallery image, the highest scores (default 10)
 *   --bootstrap B            resamples of the paired comparison (default 1000)
 *   --bootstrap-seed S       their seed (default 0)
 *   --title TEXT             (default: from the data and the runs)
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../lib/core/artifacts.ts";
import { openDatasetSource, readDataset, toCocoGroundTruth } from "../lib/data/mod.ts";
import {
  buildReport,
  type DatasetInfo,
  describeDataset,
  loadRunDir,
  type ReportOptions,
} from "../lib/report/mod.ts";

const USAGE =
  "usage: deno task report --runs RUN_DIR [RUN_DIR…] --out report.html [--dataset dataset.json] " +
  "[--gallery 6] [--gallery-min-score 0.3] [--labels 3] [--max-boxes 10] [--bootstrap 1000] [--bootstrap-seed 0] [--title TEXT]";

/** Wrong command-line arguments. */
class UsageError extends Error {
  override name = "UsageError";
}

function intArg(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new UsageError(`--${name}: expected an integer ≥ 0 (got ${value})`);
  }
  return n;
}

/** The split the runs were evaluated on (ap.json settings.split), for runs without gt.coco.json. */
function split(runs: { ap: { settings: Record<string, unknown> } }[]): "train" | "test" {
  return runs.some((r) => r.ap.settings.split === "train") ? "train" : "test";
}

/** Runs `parse` (a `parseArgs` call), reporting its errors (unknown option, missing value) as usage errors. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = asUsage(() =>
    parseArgs({
      args,
      options: {
        runs: { type: "string", multiple: true },
        out: { type: "string" },
        dataset: { type: "string" },
        gallery: { type: "string" },
        "gallery-min-score": { type: "string" },
        labels: { type: "string" },
        "max-boxes": { type: "string" },
        bootstrap: { type: "string" },
        "bootstrap-seed": { type: "string" },
        title: { type: "string" },
        help: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    })
  );
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const dirs = [...(values.runs ?? []), ...positionals];
  if (dirs.length === 0) throw new UsageError("--runs needs at least one run directory");
  if (!values.out) throw new UsageError("--out FILE is required");
  const galleryCount = intArg("gallery", values.gallery, 6);
  const minScore = values["gallery-min-score"] === undefined ? 0.3 : Number(values["gallery-min-score"]);
  if (!Number.isFinite(minScore)) throw new UsageError(`--gallery-min-score: expected a number`);
  const maxLabels = intArg("labels", values.labels, 3);
  const maxBoxes = intArg("max-boxes", values["max-boxes"], 10);
  const resamples = intArg("bootstrap", values.bootstrap, 1000);
  const seed = intArg("bootstrap-seed", values["bootstrap-seed"], 0);

  const runs = [];
  for (const dir of dirs) runs.push(await loadRunDir(dir));
  console.error(`report: ${runs.length} run(s): ${runs.map((r) => `${r.name} (${r.kind})`).join(", ")}`);

  let images: ReportOptions["images"];
  let dataset: DatasetInfo | undefined;
  const datasetPath = values.dataset ?? runs.find((r) => r.dataset)?.dataset;
  if (galleryCount > 0 && !datasetPath) {
    throw new UsageError("the gallery needs the images: pass --dataset dataset.json (or --gallery 0)");
  }
  if (datasetPath) {
    const data = await readDataset(datasetPath);
    const source = await openDatasetSource(data, datasetPath);
    dataset = describeDataset(source, data.origin.root, data.origin.path);
    const byId = new Map(data.images.map((im) => [im.id, im]));
    images = {
      read: (id) => {
        const im = byId.get(id);
        if (!im) throw new RangeError(`image ${id} of the runs' gt.coco.json is not in ${datasetPath}`);
        return source.readImage(im);
      },
      groundTruth: toCocoGroundTruth(data, split(runs)),
    };
  }
  const t0 = performance.now();
  const html = buildReport(runs, {
    title: values.title,
    dataset,
    resamples,
    seed,
    images,
    gallery: { count: galleryCount, minScore, maxLabels, maxBoxes },
  });
  console.error(`report: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await writeFileAtomic(values.out, html);
  console.error(`report: wrote ${values.out} (${(html.length / 1024).toFixed(0)} KiB)`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    if (e instanceof UsageError) console.error(USAGE);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
