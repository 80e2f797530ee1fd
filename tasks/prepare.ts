/**
 * `deno task prepare --out <run dir> [--data <zip|dir|url>] [--test-size 50] [--seed 0] [--preview N]`
 * `deno task prepare --out <run dir> --data instances.json --images DIR [--category NAME] [...]`
 *
 * Reads the Penn-Fudan release (official zip or directory, or the course's pre-split layout), derives boxes from
 * the instance masks, cross-checks them with Annotation/*.txt, splits train/test (seeded; or kept from a
 * pre-split layout) — or, with `--images`, reads one category of a COCO instances file (crowd annotations become
 * ignore regions) — and writes into the run directory (lib/data/prepare.ts):
 * - `dataset.json` — the validated dataset artifact (lib/data → DatasetSchema)
 * - `annotations.coco.json` — COCO ground truth of the test split
 * - `preview/<name>.png` — with `--preview N`: N images with their mask overlays and boxes
 * as one set (lib/core/run_folder.ts: all of them or, on any failure, the previous set untouched), holding --out's
 * lock for the whole run. Without `--data`, downloads the official zip into a cache directory (`--cache-dir`, default ~/.cache/…).
 * On bad input it prints one error listing every problem and writes nothing.
 * @module
 */
import {
  checkInputFiles,
  type CliSpec,
  MAX_PIXELS_FLAG,
  parseFlags,
  runTask,
  UsageError,
} from "../lib/cli/mod.ts";
import { lockRunFolder, terminalText, withoutTrailingSlash } from "../lib/core/mod.ts";
import {
  DATASET_URL_ENV,
  defaultCacheDir,
  formatPrepareSummary,
  openCocoInput,
  openPrepareInput,
  PENN_FUDAN_URL,
  prepareRunDir,
  type PrepareSummary,
} from "../lib/data/mod.ts";

const CLI = {
  task: "prepare",
  usage: [
    "--out DIR [--data ZIP|DIR|URL] [--test-size N] [--seed N] [--preview N] [flags]",
    "--out DIR --data INSTANCES.json --images DIR [--category NAME] [flags]",
  ],
  summary:
    `Reads the Penn-Fudan release (boxes from the instance masks) or one category of a COCO instances file
(--images), splits train/test and writes dataset.json, annotations.coco.json (test split) and preview PNGs into
--out. Writes nothing on bad input.`,
  flags: {
    data: {
      kind: "string",
      value: "ZIP|DIR|URL",
      description:
        `PennFudanPed.zip, a directory, or a URL (default: $${DATASET_URL_ENV} or ${PENN_FUDAN_URL})`,
    },
    images: {
      kind: "string",
      value: "DIR",
      description: "with --data INSTANCES.json: the folder the COCO file_names are in (PNG or JPEG)",
    },
    category: {
      kind: "string",
      value: "NAME",
      description: "COCO input: the category to train on (needed when the file has several)",
    },
    out: { kind: "string", value: "DIR", required: true, description: "run directory to write" },
    "test-size": {
      kind: "integer",
      min: 1,
      description: "test images of the seeded split (default 50; smaller datasets keep the 50/170 fraction)",
    },
    seed: { kind: "integer", min: 0, max: 0xffffffff, default: 0, description: "split seed" },
    preview: {
      kind: "integer",
      min: 0,
      default: 0,
      description: "preview PNGs with mask overlays and boxes",
    },
    "cache-dir": {
      kind: "string",
      value: "DIR",
      description: "download cache (default $SSD_CACHE_DIR or ~/.cache/ssd300-pennfudan)",
    },
    "decode-images": {
      kind: "boolean",
      description: "decode every image fully (default: check structure and checksums; masks are decoded)",
    },
    "drop-degenerate": {
      kind: "boolean",
      description:
        "drop instances with a zero-width/height box or under 4 mask pixels, with a warning (default: refuse)",
    },
    "max-pixels": MAX_PIXELS_FLAG,
    quiet: { kind: "boolean", short: "q", description: "no progress on stderr" },
  },
} as const satisfies CliSpec;

/** Runs the prepare task with command-line `args`; returns what it wrote. */
export async function runPrepare(args: string[]): Promise<PrepareSummary> {
  const f = parseFlags(CLI, args);
  if (f.images !== undefined && (f.data === undefined || !/\.json$/i.test(f.data))) {
    throw new UsageError("--images needs --data INSTANCES.json (a COCO instances file)");
  }
  if (f.category !== undefined && f.images === undefined) {
    throw new UsageError(
      "--category applies to a COCO instances file: give --data INSTANCES.json --images DIR",
    );
  }
  if (f.data !== undefined && !/^https?:\/\//.test(f.data)) await checkInputFiles(f, ["data", "images"]);
  const out = withoutTrailingSlash(f.out);
  await using folder = await lockRunFolder(out, "prepare"); // one writer; released (and an empty --out removed) at the end
  const input = f.images !== undefined
    ? await openCocoInput(f.data!, f.images, { quiet: f.quiet })
    : await openPrepareInput(f.data, { cacheDir: f.cacheDir ?? defaultCacheDir(), quiet: f.quiet });
  if (f.testSize !== undefined && !input.presplit && f.testSize >= input.imageCount) {
    throw new UsageError(
      `--test-size ${f.testSize}: ${input.path} has ${input.imageCount} images (at most ${
        input.imageCount - 1
      })`,
    );
  }
  return await prepareRunDir(input, { ...f, out, previews: f.preview, folder });
}

async function main(args: string[]): Promise<void> {
  const s = await runPrepare(args);
  for (const w of s.dataset.warnings) {
    console.error(`warning: ${terminalText(w.file, { keepNewlines: false })}: ${w.message}`);
  }
  console.log(formatPrepareSummary(s));
}

if (import.meta.main) await runTask("prepare", main);
