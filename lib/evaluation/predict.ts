/**
 * Detection over many images (`deno task detect --images`): the image list from a folder, a glob or a list
 * file; batched detection with progress; and the output folder — `images.json` (COCO `images` + `categories`:
 * ids, files, sizes), `detections.coco.json` (COCO results against those ids: image_id, category_id = class id,
 * bbox [x, y, w, h] in original pixels, score) and `annotated/<file>.jpg` (boxes drawn; the names by lib/core
 * `OutputNames`: inside the folder, unique, never an input's path), committed as one set (lib/core/run_folder.ts);
 * with a shard, one slice of the list (lib/evaluation/shards.ts; merged by lib/evaluation/merge_shards.ts). The
 * per-batch step is one function of the batch's images ({@link PredictOptions.detectBatch}, default lib/ssd
 * `detectImages`), so that another engine (e.g. a worker pool) can run it.
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { z } from "zod";
import { Progress } from "../progress/mod.ts";
import {
  bulletList,
  FileReadError,
  inlineList,
  InputError,
  type OutputFiles,
  OutputNames,
  READ_LIMITS,
  readRegularFile,
  readRegularTextFile,
  type RunFolder,
  walkFiles,
  withRunFolder,
  writeFileAtomic,
  writeJsonArtifact,
} from "../core/mod.ts";
import { type EngineInfo, startRunner } from "../engine/mod.ts";
import { decodeImage, drawBoxes, encodeJpeg, encodePng, inspectImage, type RgbImage } from "../image/mod.ts";
import {
  classColor,
  detectImages,
  detectInImage,
  type Detection,
  DetectionsJsonSchema,
  type DetectOptions,
  modelClassNames,
  type PixelDetection,
  preprocessForSsd,
  type SsdModel,
  toPixelDetections,
} from "../ssd/mod.ts";
import { type CocoResult, CocoResultsSchema, fractionalXyxyToPixelXywh } from "./coco_files.ts";
import { type Shard, ShardInfoSchema, shardRange } from "./shards.ts";

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const GLOB_CHARS = /[*?[]/;

/** `images.json`: the COCO image-info file of a `detect --images` run (as COCO's image_info_test files). */
export const ImagesJsonSchema = z.object({
  images: z.array(z.object({
    /** 1-based, in list order; the image_id of detections.coco.json. */
    id: z.number().int().positive(),
    /** Path relative to the input folder (glob: its fixed prefix; list: the list file's folder). */
    file_name: z.string().min(1),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    /** The path as read. */
    path: z.string().min(1),
    /** The annotated image written, relative to the output folder. */
    annotated: z.string().min(1),
  })),
  /** The model's classes but background: id = class id, name. */
  categories: z.array(z.object({ id: z.number().int().positive(), name: z.string() })),
  /** A `--shard K/N` run: which slice of the full list `images` is (ids stay positions in the full list). */
  shard: ShardInfoSchema.optional(),
});
export type ImagesJson = z.infer<typeof ImagesJsonSchema>;

/** No image matched `--images`, or one cannot be read. */
export class ImageListError extends InputError {
  override name = "ImageListError";
}

/** One input image: the path to read and its name relative to the input's base folder. */
export interface ImageInput {
  path: string;
  fileName: string;
}

/**
 * The PNG/JPEG files below `dir` (lib/core `walkFiles`: no cycles, no symlinks out of `dir`, each file once),
 * names relative to it; `onNote` hears of the links out of it that were skipped.
 */
async function walkImages(
  dir: string,
  maxDepth: number,
  onNote?: (line: string) => void,
): Promise<ImageInput[]> {
  const { files, outside } = await walkFiles(dir, { maxDepth });
  if (outside.length > 0) {
    onNote?.(
      `${dir}: skipped ${outside.length} symlink(s) leading out of the folder: ${inlineList(outside)}`,
    );
  }
  return files.filter((f) => IMAGE_EXT.test(f)).map((f) => ({ path: join(dir, f), fileName: f }));
}

/** Regex of a glob: `**` any folders, `*` any name part, `?` one character, `[…]` a class. */
function globRegex(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      re += glob[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += glob[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * The images `spec` names, sorted by path (a list file: in its order): a folder (PNG/JPEG files below it), a glob
 * (`photos/*.jpg`, `data/**\/*.png`; quote it so the shell does not expand it), a text file with one image path a
 * line (relative to the list's folder; `#` comments and blank lines skipped; a regular file of at most
 * `READ_LIMITS.list`), or one image file. Folders and globs are walked by lib/core `walkFiles` (cycles end, no
 * symlink leads out of the folder — `onNote` hears of those skipped —, each file once).
 * @throws ImageListError when nothing matches or the spec cannot be read
 */
export async function listImageInputs(
  spec: string,
  onNote?: (line: string) => void,
): Promise<ImageInput[]> {
  const out: ImageInput[] = [];
  if (GLOB_CHARS.test(spec)) {
    const parts = spec.split("/");
    const fixed = parts.findIndex((p) => GLOB_CHARS.test(p));
    const base = parts.slice(0, fixed).join("/") || (spec.startsWith("/") ? "/" : ".");
    const pattern = parts.slice(fixed);
    const depth = pattern.some((p) => p.includes("**")) ? Infinity : pattern.length - 1;
    let all: ImageInput[];
    try {
      all = await walkImages(base, depth, onNote);
    } catch (e) {
      if (!(e instanceof FileReadError)) throw e;
      throw new ImageListError(`--images ${spec}: cannot read ${e.file}: ${e.reason}`);
    }
    const re = globRegex(pattern.join("/"));
    out.push(...all.filter((im) => re.test(im.fileName)));
  } else {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(spec);
    } catch (e) {
      throw new ImageListError(`--images ${spec}: ${(e as Error).message}`);
    }
    if (info.isDirectory) {
      try {
        out.push(...await walkImages(spec, Infinity, onNote));
      } catch (e) {
        if (!(e instanceof FileReadError)) throw e;
        throw new ImageListError(`--images ${spec}: cannot read ${e.file}: ${e.reason}`);
      }
    } else if (IMAGE_EXT.test(spec)) out.push({ path: spec, fileName: spec.replace(/^.*\//, "") });
    else {
      const base = dirname(spec);
      let text: string;
      try {
        text = await readRegularTextFile(spec, READ_LIMITS.list);
      } catch (e) {
        if (!(e instanceof FileReadError)) throw e;
        throw new ImageListError(`--images ${spec}: cannot read the list: ${e.reason}`);
      }
      for (const raw of text.split(/\r?\n/)) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) continue;
        out.push({ path: isAbsolute(line) ? line : join(base, line), fileName: line });
      }
    }
  }
  if (out.length === 0) throw new ImageListError(`--images ${spec}: no PNG or JPEG image found`);
  return out;
}

/** Options of {@link predictImages}. */
export interface PredictOptions extends DetectOptions {
  /** Output folder. */
  out: string;
  /** `out` locked by the caller (lib/core/run_folder.ts); else it is locked while the run writes */
  folder?: RunFolder;
  batchSize: number;
  /** The per-batch step: images → per image its fractional detections. Default: lib/ssd `detectImages`. */
  detectBatch?: (images: RgbImage[]) => Detection[][] | Promise<Detection[][]>;
  quiet?: boolean;
  /** Only this slice of `inputs` (lib/evaluation/shards.ts `shardRange`); ids and annotated names stay those of
   * the full list, and images.json records the shard. */
  shard?: Shard;
}

/** What {@link predictImages} wrote. */
export interface PredictSummary {
  imagesJson: string;
  detectionsJson: string;
  images: ImagesJson;
  detections: CocoResult[];
  seconds: number;
}

/** The folder of annotated copies inside the output folder. */
const ANNOTATED_DIR = "annotated";

/**
 * The annotated copy of each input: `annotated/<file_name, extension .jpg>`, inside the output folder whatever the
 * name (`..`, absolute paths), unique (a collision gets `-2`, …) and never the path of an input file that lies in
 * the output folder.
 */
function annotatedNames(inputs: readonly ImageInput[], out: string): string[] {
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path); // a link into --out is the file it points to
    } catch {
      return resolve(path);
    }
  };
  const root = real(out);
  const inOut = inputs.map((im) => relative(root, real(im.path)))
    .filter((rel) => rel !== "" && !rel.startsWith("..") && !isAbsolute(rel));
  const names = new OutputNames(inOut);
  return inputs.map((im) => names.take(im.fileName, { folder: ANNOTATED_DIR, ext: ".jpg" }));
}

/**
 * Runs `model` over `inputs` (or `o.shard`'s slice of them) in batches (progress on stderr) and writes the output
 * folder. Every input is checked first (readable PNG/JPEG); all problems are listed together and nothing is written
 * then.
 * @throws ImageListError listing every unreadable image
 */
export async function predictImages(
  model: SsdModel,
  inputs: readonly ImageInput[],
  o: PredictOptions,
): Promise<PredictSummary> {
  // annotated names over the full list, so that a shard names its files as the unsharded run does
  const annotated = annotatedNames(inputs, o.out);
  const { start: first, end } = o.shard
    ? shardRange(inputs.length, o.shard)
    : { start: 0, end: inputs.length };
  const selected = inputs.slice(first, end);
  const problems: string[] = [];
  const sizes: { width: number; height: number }[] = [];
  for (const im of selected) {
    try {
      sizes.push(inspectImage(await readRegularFile(im.path, READ_LIMITS.image), im.path));
    } catch (e) {
      problems.push(`${im.path}: ${(e as { reason?: string }).reason ?? (e as Error).message}`);
    }
  }
  if (problems.length) {
    throw new ImageListError(`${problems.length} unreadable image(s):${bulletList(problems)}`);
  }
  const names = modelClassNames(model);
  const detectBatch = o.detectBatch ?? ((imgs: RgbImage[]) => detectImages(model, imgs, o));
  const images: ImagesJson["images"] = selected.map((im, k) => ({
    id: first + k + 1,
    file_name: im.fileName,
    width: sizes[k].width,
    height: sizes[k].height,
    path: im.path,
    annotated: annotated[first + k],
  }));
  return await withRunFolder(o.folder, o.out, "detect", async (folder) => {
    const detections: CocoResult[] = [];
    const progress = new Progress("detect", images.length, { unit: "img", quiet: o.quiet });
    const t0 = performance.now();
    try {
      for (let start = 0; start < images.length; start += o.batchSize) {
        const batch = images.slice(start, start + o.batchSize);
        const rgb = await Promise.all(
          batch.map(async (im) => decodeImage(await readRegularFile(im.path, READ_LIMITS.image), im.path)),
        );
        const perImage = await detectBatch(rgb);
        for (const [k, im] of batch.entries()) {
          const dets = perImage[k].filter((d) => d.classId > 0);
          for (const d of dets) {
            detections.push({
              image_id: im.id,
              category_id: d.classId,
              bbox: fractionalXyxyToPixelXywh(d.box, im.width, im.height),
              score: d.score,
            });
          }
          const drawn = toPixelDetections(dets, im.width, im.height, names).map((d) => ({
            box: d.box,
            label: `${d.label} ${d.score.toFixed(2)}`,
            color: classColor(d.class_id),
          }));
          await writeFileAtomic(folder.staged(im.annotated), encodeJpeg(drawBoxes(rgb[k], drawn)));
        }
        progress.update(start + batch.length);
      }
    } finally {
      progress.finish();
    }
    const seconds = (performance.now() - t0) / 1000;
    const info: ImagesJson = {
      images,
      categories: names.slice(1).map((name, i) => ({ id: i + 1, name })),
      ...(o.shard ? { shard: { ...o.shard, images: inputs.length } } : {}),
    };
    await writeJsonArtifact(folder.staged(IMAGES_JSON), ImagesJsonSchema, info);
    await writeJsonArtifact(folder.staged(DETECTIONS_JSON), CocoResultsSchema, detections);
    // one set: the annotated copies of an earlier run into this folder that are not in this one go
    await folder.commit({ replace: [ANNOTATED_DIR] });
    const [imagesJson, detectionsJson] = [folder.path(IMAGES_JSON), folder.path(DETECTIONS_JSON)];
    return { imagesJson, detectionsJson, images: info, detections, seconds };
  });
}

const IMAGES_JSON = "images.json";
const DETECTIONS_JSON = "detections.coco.json";

/**
 * {@link predictImages} with every batch on `engine`'s runner (lib/engine/setup.ts: its workers split a batch).
 */
export async function predictImagesOn(
  engine: EngineInfo,
  model: SsdModel,
  inputs: readonly ImageInput[],
  o: Omit<PredictOptions, "detectBatch">,
): Promise<PredictSummary> {
  const runner = await startRunner(model, engine);
  try {
    const detectBatch = (imgs: RgbImage[]) => runner.detect(imgs.map(preprocessForSsd), o);
    return await predictImages(model, inputs, { ...o, detectBatch });
  } finally {
    await runner.close();
  }
}

/**
 * One image (`deno task detect --image`): its detections in original pixels (the model's class names), the image
 * with labelled boxes at `o.out` (a JPEG when it ends in .jpg/.jpeg, else a PNG) and `detections.json` at
 * `o.json` (`{ image, width, height, detections }`), both committed together (`o.outputs`: their folders, locked
 * by the caller; the JSON's last).
 * @param image the path as given (recorded in the JSON) and its decoded RGB pixels
 * @returns the detections and the detection time (ms)
 */
export async function predictImage(
  model: SsdModel,
  image: { path: string; rgb: RgbImage },
  o: DetectOptions & { out: string; json: string; outputs: OutputFiles },
): Promise<{ detections: PixelDetection[]; ms: number }> {
  const { rgb } = image;
  const t0 = performance.now();
  const detections = toPixelDetections(
    await detectInImage(model, rgb, o),
    rgb.width,
    rgb.height,
    modelClassNames(model),
  );
  const ms = performance.now() - t0;
  const boxes = detections.map((d) => ({
    box: d.box,
    label: `${d.label} ${d.score.toFixed(2)}`,
    color: classColor(d.class_id),
  }));
  const drawn = drawBoxes(rgb, boxes);
  const bytes = /\.jpe?g$/i.test(o.out) ? encodeJpeg(drawn) : encodePng(drawn);
  await writeFileAtomic(o.outputs.staged(o.out), bytes);
  await writeJsonArtifact(o.outputs.staged(o.json), DetectionsJsonSchema, {
    image: image.path,
    width: rgb.width,
    height: rgb.height,
    detections,
  });
  await o.outputs.commit();
  return { detections, ms };
}
