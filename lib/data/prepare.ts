/**
 * `deno task prepare` as a library: open the Penn-Fudan release (a zip, a directory, or a download into the
 * cache) or a COCO instances file with its image directory, build and validate the dataset, and write the run directory — `dataset.json`, `annotations.coco.json`
 * (COCO ground truth of the test split) and, when asked, preview PNGs with mask overlays and boxes. Nothing is
 * written unless the whole dataset is valid; the files are committed as one set (lib/core/run_folder.ts), so a
 * failure (a full disk, a crash) leaves the previous set as it was.
 * @module
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import { Progress } from "../progress/mod.ts";
import {
  FileReadError,
  OutputNames,
  READ_LIMITS,
  readRegularFile,
  type RunFolder,
  sha256Hex,
  terminalText,
  withRunFolder,
  writeFileAtomic,
  writeJsonArtifact,
} from "../core/mod.ts";
import { decodeImage, decodeMask, drawBoxes, encodePng, overlayMask } from "../image/mod.ts";
import { buildDataset } from "./build.ts";
import { type CocoGroundTruth, CocoGroundTruthSchema, toCocoGroundTruth } from "./coco_ground_truth.ts";
import { buildCocoDataset, parseCocoInstances } from "./coco_instances.ts";
import { categoryName, type Dataset, DatasetSchema } from "./dataset.ts";
import { downloadToCache, PENN_FUDAN_URL } from "./download.ts";
import { discoverLayout } from "./layout.ts";
import { DatasetError } from "./problems.ts";
import { type DataSource, openDirectorySource, openZipBytes, SourceError } from "./source.ts";

const say = (line: string) => console.error(line);

/** Environment variable that replaces the official download URL when no --data is given (a mirror). */
export const DATASET_URL_ENV = "SSD_DATASET_URL";

/** The opened input of a prepare run, and what dataset.json records about it. */
export interface PrepareInput {
  source: DataSource;
  path: string;
  url: string | null;
  sha256: string | null;
  /** images found (before any check), for validating `--test-size` up front */
  imageCount: number;
  /** whether the source brings its own train/test split (then `--test-size` does not apply) */
  presplit: boolean;
  /** A COCO instances file (`source` is then its image directory, `path` that directory's absolute path). */
  coco?: { gt: CocoGroundTruth; path: string; sha256: string };
}

/** What a prepare run wrote. */
export interface PrepareSummary {
  datasetPath: string;
  cocoPath: string;
  previews: string[];
  dataset: Dataset;
  seconds: number;
}

async function absolutePath(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  }
}

/**
 * Opens `data` (a zip or directory path, or an http(s) URL; undefined: $SSD_DATASET_URL or the official release),
 * downloading into `cacheDir` with progress when it is a URL.
 * @throws DatasetError (unreadable path or archive), DownloadError
 */
export async function openPrepareInput(
  data: string | undefined,
  opts: { cacheDir: string; quiet?: boolean },
): Promise<PrepareInput> {
  let url: string | null = null;
  let zipPath: string;
  if (data === undefined || /^https?:\/\//.test(data)) {
    url = data ?? (Deno.env.get(DATASET_URL_ENV) || PENN_FUDAN_URL);
    let progress: Progress | undefined;
    const result = await downloadToCache(url, {
      cacheDir: opts.cacheDir,
      offlineHint: "Offline? Pass --data <PennFudanPed.zip or directory> to use a local copy " +
        "(e.g. --data ../shared/data/PennFudanPed.zip).",
      onProgress: (p) => {
        progress ??= new Progress("download", p.total, { unit: "MiB", scale: 1048576, quiet: opts.quiet });
        progress.update(p.received);
      },
    });
    progress?.finish();
    if (!opts.quiet) console.error(`download: ${result.fromCache ? "using cached" : "saved"} ${result.path}`);
    zipPath = result.path;
  } else {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(data);
    } catch (e) {
      throw new DatasetError([{ file: data, message: `cannot open --data: ${(e as Error).message}` }]);
    }
    zipPath = data;
    if (info.isDirectory) {
      const path = await absolutePath(data);
      const source = await openDirectorySource(path, { onNote: opts.quiet ? undefined : say });
      return withCount({ source, path, url: null, sha256: null });
    }
  }
  const path = await absolutePath(zipPath);
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(path, READ_LIMITS.archive);
  } catch (e) {
    if (e instanceof FileReadError) throw new DatasetError([{ file: zipPath, message: e.reason }]);
    throw e;
  }
  const sha256 = await sha256Hex(bytes);
  try {
    return withCount({ source: openZipBytes(bytes, path), path, url, sha256 });
  } catch (e) {
    if (e instanceof SourceError) throw new DatasetError([{ file: e.file, message: e.reason }]);
    throw e;
  }
}

/**
 * Opens a COCO instances file `annotations` and the image directory `images` its `file_name`s are relative to.
 * @throws DatasetError (unreadable or invalid file, unreadable directory)
 */
export async function openCocoInput(
  annotations: string,
  images: string,
  opts: { quiet?: boolean } = {},
): Promise<PrepareInput> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(annotations, READ_LIMITS.json);
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    throw new DatasetError([{ file: annotations, message: `cannot read --data: ${e.reason}` }]);
  }
  const gt = parseCocoInstances(new TextDecoder().decode(bytes), annotations);
  const path = await absolutePath(images);
  let source: DataSource;
  try {
    source = await openDirectorySource(path, { onNote: opts.quiet ? undefined : say });
  } catch (e) {
    if (e instanceof SourceError) throw new DatasetError([{ file: e.file, message: e.reason }]);
    throw e;
  }
  const coco = { gt, path: await absolutePath(annotations), sha256: await sha256Hex(bytes) };
  return { source, path, url: null, sha256: null, imageCount: gt.images.length, presplit: false, coco };
}

function withCount(input: Omit<PrepareInput, "imageCount" | "presplit">): PrepareInput {
  const scan = discoverLayout(input.source);
  return { ...input, imageCount: scan.items.length, presplit: scan.layout === "presplit" };
}

/** The input files (images, masks) of a folder source that lie inside `out`, relative to it. */
function inputsInside(input: PrepareInput, dataset: Dataset, out: string): string[] {
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return resolve(path);
    }
  };
  const root = real(out);
  const files = dataset.images.flatMap((im) => (im.mask === null ? [im.file] : [im.file, im.mask]));
  return files.map((f) => relative(root, real(join(input.path, f))))
    .filter((rel) => rel !== "" && !rel.startsWith("..") && !isAbsolute(rel));
}

const DATASET_FILE = "dataset.json";
const COCO_FILE = "annotations.coco.json";
const PREVIEW_DIR = "preview";

/** Options of {@link prepareRunDir}. */
export interface PrepareOptions {
  out: string;
  testSize?: number;
  seed?: number;
  /** preview PNGs to write (first images by id) */
  previews?: number;
  decodeImages?: boolean;
  /** drop instances with degenerate boxes (with a warning) instead of refusing them */
  dropDegenerate?: boolean;
  quiet?: boolean;
  /** COCO input: the category to keep (needed when the file has several). */
  category?: string;
  /** `out` locked by the caller (lib/core/run_folder.ts); else it is locked while the files are written */
  folder?: RunFolder;
}

/**
 * Builds the dataset of `input` (progress on stderr) and writes the run directory.
 * @throws DatasetError listing every problem of the input (nothing is written then), ArtifactError
 */
export async function prepareRunDir(input: PrepareInput, o: PrepareOptions): Promise<PrepareSummary> {
  const started = performance.now();
  const progress = new Progress("prepare", input.imageCount, { unit: "img", quiet: o.quiet });
  let dataset: Dataset;
  try {
    const build = {
      testSize: o.testSize,
      seed: o.seed,
      decodeImages: o.decodeImages,
      dropDegenerate: o.dropDegenerate,
      onProgress: (done: number) => progress.update(done),
    };
    dataset = input.coco
      ? buildCocoDataset(input.coco.gt, input.source, {
        ...build,
        annotations: { path: input.coco.path, sha256: input.coco.sha256 },
        imagesPath: input.path,
        category: o.category,
      })
      : buildDataset(input.source, {
        ...build,
        origin: { path: input.path, url: input.url, sha256: input.sha256 },
      });
  } finally {
    progress.finish();
  }
  const coco = toCocoGroundTruth(dataset, "test");
  return await withRunFolder(o.folder, o.out, "prepare", async (folder) => {
    const previews: string[] = [];
    // two images of one name (COCO folders) get two previews, and none lands on an input file inside --out
    const names = new OutputNames(inputsInside(input, dataset, o.out));
    for (const image of dataset.images.slice(0, o.previews ?? 0)) {
      const rgb = decodeImage(input.source.read(image.file), image.file);
      const base = image.mask === null
        ? rgb
        : overlayMask(rgb, decodeMask(input.source.read(image.mask), image.mask), 0.45);
      const drawn = drawBoxes(
        base,
        [
          ...image.boxes.map((box, i) => ({
            box: box as [number, number, number, number],
            label: `${categoryName(dataset)} ${image.instance_ids[i]}`,
            color: [230, 30, 30] as [number, number, number],
          })),
          ...(image.crowd ?? []).map((c) => ({
            box: c.box as [number, number, number, number],
            label: "crowd (ignored)",
            color: [160, 160, 160] as [number, number, number],
          })),
        ],
        { lineWidth: 2 },
      );
      const rel = names.take(`${image.name}.png`, { folder: PREVIEW_DIR });
      await writeFileAtomic(folder.staged(rel), encodePng(drawn));
      previews.push(folder.path(rel));
    }
    await writeJsonArtifact(folder.staged(COCO_FILE), CocoGroundTruthSchema, coco);
    await writeJsonArtifact(folder.staged(DATASET_FILE), DatasetSchema, dataset);
    await folder.commit({ replace: [PREVIEW_DIR] }); // previews of an earlier run that are not in this one go
    const [datasetPath, cocoPath] = [folder.path(DATASET_FILE), folder.path(COCO_FILE)];
    return { datasetPath, cocoPath, previews, dataset, seconds: (performance.now() - started) / 1000 };
  });
}

/** What `deno task prepare` prints: counts, layout, split and time, then the files written. */
export function formatPrepareSummary(s: PrepareSummary): string {
  const d = s.dataset;
  const seed = d.split.seed !== null ? `, seed ${d.split.seed}` : "";
  return [
    `prepared ${d.counts.images} images, ${d.counts.boxes} ${
      terminalText(d.classes[1], { keepNewlines: false })
    } boxes (${d.origin.layout} layout), ` +
    `split ${d.counts.train} train / ${d.counts.test} test (${d.split.method}${seed}) in ${
      s.seconds.toFixed(1)
    } s`,
    `wrote ${s.datasetPath}, ${s.cocoPath}${s.previews.length ? ` and ${s.previews.length} previews` : ""}`,
  ].join("\n");
}
