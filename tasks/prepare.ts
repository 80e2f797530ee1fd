/**
 * `deno task prepare --data <zip|dir|url> --out <run dir> [--test-size 50] [--seed 0] [--preview N]`
 *
 * Reads the Penn-Fudan release (official zip or directory, or the course's pre-split layout), derives boxes from the
 * instance masks, cross-checks them with Annotation/*.txt, splits train/test (seeded; or kept from a pre-split
 * layout), and writes into the run directory:
 * - `dataset.json` — the validated dataset artifact (lib/dataset.ts → DatasetSchema)
 * - `annotations.coco.json` — COCO ground truth of the test split
 * - `preview/<name>.png` — with `--preview N`: N images with their mask overlays and boxes
 * Without `--data`, downloads the official zip into a cache directory (`--cache-dir`, default ~/.cache/…).
 * On bad input it prints one error listing every problem and writes nothing.
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic, writeJsonArtifact } from "../lib/core/artifacts.ts";
import {
  buildDataset,
  CocoGroundTruthSchema,
  type Dataset,
  DatasetError,
  DatasetSchema,
  toCocoGroundTruth,
} from "../lib/data/mod.ts";
import {
  defaultCacheDir,
  DownloadError,
  downloadToCache,
  formatProgress,
  PENN_FUDAN_URL,
} from "../lib/data/download.ts";
import { drawBoxes, overlayMask } from "../lib/image/draw.ts";
import { decodeImage, decodeMask, encodePng } from "../lib/image/codec.ts";
import { type DataSource, openDirectorySource, openZipBytes, SourceError } from "../lib/data/source.ts";
import { sha256Hex } from "../lib/core/mod.ts";

const USAGE =
  `usage: deno task prepare --out <run dir> [--data <zip|dir|url>] [--test-size N] [--seed N] [--preview N]
                         [--cache-dir DIR] [--decode-images]
  --data          PennFudanPed.zip, a directory holding PennFudanPed/ (or Images/{train,test}), or an http(s) URL;
                  default: download $SSD_DATASET_URL or ${PENN_FUDAN_URL} into the cache
  --out           run directory: writes dataset.json, annotations.coco.json (test split), preview/*.png
  --test-size     test images of the seeded split (default 50; smaller datasets keep the 50/170 fraction)
  --seed          split seed (default 0)
  --preview       write N preview PNGs with mask overlays and boxes (default 0)
  --cache-dir     download cache (default $SSD_CACHE_DIR or ~/.cache/ssd300-pennfudan)
  --quiet         no progress lines on stderr
  --decode-images fully decode every image (default: check structure and checksums only; masks are always decoded)`;

/** Environment variable that replaces the official download URL when no --data is given (a mirror). */
export const DATASET_URL_ENV = "SSD_DATASET_URL";

/** Wrong command-line usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What `deno task prepare` did. */
export interface PrepareSummary {
  datasetPath: string;
  cocoPath: string;
  previews: string[];
  dataset: Dataset;
  seconds: number;
}

function parseNonNegInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`${flag} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise. */
function progressPrinter(label: string, quiet = false): (text: string, final?: boolean) => void {
  if (quiet) return () => {};
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let last = 0;
  return (text, final = false) => {
    const now = performance.now();
    if (!final && now - last < (tty ? 200 : 2000)) return;
    last = now;
    Deno.stderr.writeSync(
      encoder.encode(tty ? `\r${label}: ${text}\x1b[K${final ? "\n" : ""}` : `${label}: ${text}\n`),
    );
  };
}

async function absolutePath(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  }
}

/** Opens `--data` (or downloads it) and returns the source plus what dataset.json records about it. */
async function openData(
  data: string | undefined,
  cacheDir: string,
  quiet: boolean,
): Promise<{ source: DataSource; path: string; url: string | null; sha256: string | null }> {
  let url: string | null = null;
  let zipPath: string | null = null;
  if (data === undefined || /^https?:\/\//.test(data)) {
    url = data ?? (Deno.env.get(DATASET_URL_ENV) || PENN_FUDAN_URL);
    const show = progressPrinter("download", quiet);
    const result = await downloadToCache(url, {
      cacheDir,
      offlineHint: "Offline? Pass --data <PennFudanPed.zip or directory> to use a local copy " +
        "(e.g. --data ../shared/data/PennFudanPed.zip).",
      onProgress: (p) => show(formatProgress(p)),
    });
    show(result.fromCache ? `using cached ${result.path}` : `saved ${result.path}`, true);
    zipPath = result.path;
  } else {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(data);
    } catch (e) {
      throw new DatasetError([{ file: data, message: `cannot open --data: ${(e as Error).message}` }]);
    }
    if (info.isDirectory) {
      const path = await absolutePath(data);
      return { source: await openDirectorySource(path), path, url: null, sha256: null };
    }
    zipPath = data;
  }
  const path = await absolutePath(zipPath);
  const bytes = await Deno.readFile(path);
  const sha256 = await sha256Hex(bytes);
  try {
    return { source: openZipBytes(bytes, path), path, url, sha256 };
  } catch (e) {
    if (e instanceof SourceError) throw new DatasetError([{ file: e.file, message: e.reason }]);
    throw e;
  }
}

/**
 * Runs the prepare task with command-line `args`. Writes nothing unless the whole dataset is valid.
 * @throws UsageError, DatasetError (every input problem), DownloadError, ArtifactError.
 */
export async function runPrepare(args: string[]): Promise<PrepareSummary> {
  const started = performance.now();
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        data: { type: "string" },
        out: { type: "string" },
        "test-size": { type: "string" },
        seed: { type: "string" },
        preview: { type: "string" },
        "cache-dir": { type: "string" },
        "decode-images": { type: "boolean", default: false },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const { values } = parsed;
  if (values.help) throw new UsageError(USAGE);
  if (!values.out) throw new UsageError(`--out is required\n${USAGE}`);
  const testSize = parseNonNegInt("--test-size", values["test-size"]);
  const seed = parseNonNegInt("--seed", values.seed);
  const previewCount = parseNonNegInt("--preview", values.preview) ?? 0;
  const out = values.out.replace(/\/+$/, "") || "/";

  const { source, path, url, sha256 } = await openData(
    values.data,
    values["cache-dir"] ?? defaultCacheDir(),
    values.quiet,
  );
  const show = progressPrinter("prepare", values.quiet);
  const t0 = performance.now();
  const dataset = buildDataset(source, {
    origin: { path, url, sha256 },
    testSize,
    seed,
    decodeImages: values["decode-images"],
    onProgress: (done, total) => {
      const rate = done / Math.max(1e-3, (performance.now() - t0) / 1000);
      show(
        `${done}/${total} images (${rate.toFixed(0)}/s, ETA ${Math.ceil((total - done) / rate)} s)`,
        done === total,
      );
    },
  });
  const coco = toCocoGroundTruth(dataset, "test");

  const previews: string[] = [];
  for (const image of dataset.images.slice(0, previewCount)) {
    const rgb = decodeImage(source.read(image.file), image.file);
    const mask = decodeMask(source.read(image.mask), image.mask);
    const drawn = drawBoxes(
      overlayMask(rgb, mask, 0.45),
      image.boxes.map((box, i) => ({
        box: box as [number, number, number, number],
        label: `person ${image.instance_ids[i]}`,
        color: [230, 30, 30] as [number, number, number],
      })),
      { lineWidth: 2 },
    );
    const file = `${out}/preview/${image.name}.png`;
    await writeFileAtomic(file, encodePng(drawn));
    previews.push(file);
  }
  const cocoPath = `${out}/annotations.coco.json`;
  await writeJsonArtifact(cocoPath, CocoGroundTruthSchema, coco);
  // dataset.json last: its presence means the run directory is complete.
  const datasetPath = `${out}/dataset.json`;
  await writeJsonArtifact(datasetPath, DatasetSchema, dataset);
  return { datasetPath, cocoPath, previews, dataset, seconds: (performance.now() - started) / 1000 };
}

if (import.meta.main) {
  try {
    const s = await runPrepare(Deno.args);
    const d = s.dataset;
    console.log(
      `prepared ${d.counts.images} images, ${d.counts.boxes} boxes (${d.origin.layout} layout), split ` +
        `${d.counts.train} train / ${d.counts.test} test (${d.split.method}${
          d.split.seed !== null ? `, seed ${d.split.seed}` : ""
        }) in ${s.seconds.toFixed(1)} s`,
    );
    for (const w of d.warnings) console.error(`warning: ${w.file}: ${w.message}`);
    console.log(
      `wrote ${s.datasetPath}, ${s.cocoPath}${s.previews.length ? ` and ${s.previews.length} previews` : ""}`,
    );
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      Deno.exit(2);
    }
    if (e instanceof DatasetError || e instanceof DownloadError || e instanceof SourceError) {
      console.error(`prepare: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
