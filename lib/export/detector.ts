/**
 * A small detector API over an exported SSD300 graph model, in the shape of tfjs-models' coco-ssd:
 *
 * ```ts
 * // a folder or a model.json URL; a path resolves against the working directory in Deno
 * const detector = await loadDetector("model/");
 * const found = await detector.detect(image, { maxBoxes: 20, minScore: 0.5 });
 * // → [{ bbox: [x, y, width, height], class: "person", score: 0.93 }, …] in the image's pixels
 * detector.dispose();
 * ```
 *
 * The same code runs in Deno and in the browser (web/ bundles it): the model is loaded with tfjs-converter's
 * unmodified `loadGraphModel`; the image is prepared exactly as `deno task detect` does (lib/image
 * `preprocessForSsd`: Pillow BILINEAR to 300×300, /255, ImageNet mean/std) and the graph's own detection
 * outputs (decode, softmax, per-class NMS with `NonMaxSuppressionV5`, top-k) do the rest. Uses whatever TF.js
 * backend is active; no tensor outlives a call. Before anything is loaded, model.json is read (bounded) and
 * checked by lib/export/model_json.ts `checkModelJson` — the same check `deno task serve` makes — and every
 * shard must have exactly the size its manifest implies.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type GraphModel, loadGraphModel } from "@tensorflow/tfjs-converter";
import { concatBytes } from "../core/bytes.ts";
import type { RgbImage } from "../image/codec.ts";
import { preprocessForSsd } from "../ssd/preprocess.ts";
import {
  checkModelJson,
  DetectorModelError,
  MAX_MODEL_JSON_BYTES,
  MODEL_JSON,
  type ShardFile,
  type SsdMetadata,
} from "./model_json.ts";
import { GRAPH_INPUTS, GRAPH_OUTPUTS } from "./ssd_graph.ts";

export { DetectorModelError };

/**
 * One detected object, as coco-ssd returns it: `bbox` = [x, y, width, height] in the input image's pixels.
 */
export interface DetectedObject {
  bbox: [number, number, number, number];
  class: string;
  score: number;
}

/** Thresholds of {@link Detector.detect}; absent ones take the model's defaults (`deno task detect`'s). */
export interface DetectorOptions {
  /** keep at most this many detections over all classes, best first (default 200) */
  maxBoxes?: number;
  /** keep boxes whose class score is > minScore (default 0.2) */
  minScore?: number;
  /** NMS: suppress a box whose IoU with a better box of its class reaches maxOverlap (default 0.45) */
  maxOverlap?: number;
}

/** An 8-bit image with 3 (RGB) or 4 (RGBA, e.g. `ImageData`) channels per pixel, row-major. */
export interface PixelImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/**
 * What `detect` accepts: a decoded image (lib/image `decodeImage`, `ImageData`), a [height, width, 3|4]
 * tensor of 0–255 values, or in the browser anything `drawImage` takes (`HTMLImageElement`, canvas, video,
 * `ImageBitmap`).
 */
export type DetectorInput = PixelImage | tf.Tensor3D | CanvasImageSourceLike;

/**
 * The part of a DOM `CanvasImageSource` we use (kept structural so that Deno type-checks without the DOM
 * lib).
 */
export interface CanvasImageSourceLike {
  width?: number | { baseVal: { value: number } };
  height?: number | { baseVal: { value: number } };
  naturalWidth?: number;
  naturalHeight?: number;
  videoWidth?: number;
  videoHeight?: number;
}

/** A loaded detector. */
export interface Detector {
  /** class names, index = class id (0 = background, never returned) */
  readonly classes: readonly string[];
  readonly metadata: SsdMetadata;
  /** the underlying tfjs-converter model (e.g. for `execute(image, ["locs", "scores"])`) */
  readonly model: GraphModel;
  detect(image: DetectorInput, options?: DetectorOptions): Promise<DetectedObject[]>;
  dispose(): void;
}

/**
 * The `model.json` URL for a folder or file URL or path: adds `model.json` to a folder; resolves a relative
 * path against the page (browser) or the working directory (Deno).
 */
export function modelJsonUrl(modelUrl: string): string {
  const file = /\.json$/i.test(modelUrl) ? modelUrl : `${modelUrl.replace(/\/*$/, "")}/${MODEL_JSON}`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(file)) return file;
  const g = globalThis as { location?: { href: string }; Deno?: { cwd(): string } };
  if (g.location) return new URL(file, g.location.href).href;
  if (g.Deno) return new URL(file, `file://${g.Deno.cwd()}/`).href;
  return file;
}

/** One shard's bytes (exactly `shard.bytes` of them), next to model.json at `modelUrl`. */
async function readShard(modelUrl: string, shard: ShardFile, i: number, n: number): Promise<ArrayBuffer> {
  const url = new URL(shard.name, modelUrl).href;
  const bytes = await readBounded(url, `weight shard ${i + 1} of ${n}`, shard.bytes, true);
  return bytes.buffer as ArrayBuffer;
}

/** RGB bytes of a 3- or 4-channel pixel image (alpha dropped). */
export function toRgbImage(image: PixelImage): RgbImage {
  const { width, height, data } = image;
  const n = width * height;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`detect: image size must be positive integers, got ${width}×${height}`);
  }
  if (data.length === n * 3) {
    return { width, height, data: data instanceof Uint8Array ? data : Uint8Array.from(data) };
  }
  if (data.length !== n * 4) {
    throw new RangeError(
      `detect: ${data.length} values for a ${width}×${height} image (expected 3 or 4 per pixel)`,
    );
  }
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    rgb[p * 3] = data[p * 4];
    rgb[p * 3 + 1] = data[p * 4 + 1];
    rgb[p * 3 + 2] = data[p * 4 + 2];
  }
  return { width, height, data: rgb };
}

async function tensorToRgb(t: tf.Tensor3D): Promise<RgbImage> {
  const [height, width, channels] = t.shape;
  if (channels !== 3 && channels !== 4) {
    throw new RangeError(`detect: a tensor image must be [height, width, 3|4], got [${t.shape.join(", ")}]`);
  }
  const values = await t.data();
  const bytes = new Uint8ClampedArray(values.length); // rounds and clamps to 0..255
  bytes.set(values);
  return toRgbImage({ width, height, data: bytes });
}

function side(v: number | { baseVal: { value: number } } | undefined): number {
  return typeof v === "number" ? v : v?.baseVal.value ?? 0;
}

/** Pixels of a DOM image source, via a canvas (browser only). */
function canvasToRgb(source: CanvasImageSourceLike): RgbImage {
  const width = source.naturalWidth || source.videoWidth || side(source.width);
  const height = source.naturalHeight || source.videoHeight || side(source.height);
  const g = globalThis as unknown as {
    OffscreenCanvas?: new (w: number, h: number) => {
      getContext(kind: "2d", o?: unknown): {
        drawImage(s: unknown, x: number, y: number): void;
        getImageData(x: number, y: number, w: number, h: number): PixelImage;
      } | null;
    };
  };
  if (!g.OffscreenCanvas) {
    throw new TypeError("detect: this runtime has no canvas; pass decoded pixels or a tensor");
  }
  const ctx = new g.OffscreenCanvas(width, height).getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new TypeError("detect: no 2d canvas context");
  ctx.drawImage(source, 0, 0);
  return toRgbImage(ctx.getImageData(0, 0, width, height));
}

function isPixelImage(x: DetectorInput): x is PixelImage {
  return "data" in x && typeof (x as PixelImage).width === "number" &&
    (x as PixelImage).data?.length !== undefined;
}

/** Converts any {@link DetectorInput} to RGB bytes. */
export function inputToRgb(image: DetectorInput): Promise<RgbImage> | RgbImage {
  if (image instanceof tf.Tensor) return tensorToRgb(image);
  if (isPixelImage(image)) return toRgbImage(image);
  return canvasToRgb(image);
}

/**
 * Fractional (x_min, y_min, x_max, y_max) → [x, y, width, height] in pixels of a width × height image: the
 * corners are scaled first, then subtracted (lib/evaluation `fractionalXyxyToPixelXywh`'s arithmetic).
 */
export function fractionalXyxyToBbox(
  box: ArrayLike<number>,
  width: number,
  height: number,
): DetectedObject["bbox"] {
  const x0 = box[0] * width, y0 = box[1] * height, x1 = box[2] * width, y1 = box[3] * height;
  return [x0, y0, x1 - x0, y1 - y0];
}

/** A `file:` URL's path, or undefined for other URLs. */
function filePath(url: string): string | undefined {
  return url.startsWith("file:") ? decodeURIComponent(new URL(url).pathname) : undefined;
}

/**
 * The bytes at `url`, at most `maxBytes` (`exact`: exactly that many). A `file:` URL in Deno must name a regular
 * file (not a FIFO or a device) of an acceptable size, checked before it is opened; any other response is read
 * as a stream and cut off past the limit.
 * @throws DetectorModelError naming the URL and the size
 */
async function readBounded(url: string, what: string, maxBytes: number, exact = false): Promise<Uint8Array> {
  const path = filePath(url);
  const where = path ?? url;
  const wrongSize = (size: string) =>
    new DetectorModelError(
      `${where}: ${what} is ${size} bytes, ${exact ? "the manifest says" : "over the limit of"} ${maxBytes}`,
    );
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (path !== undefined && deno) {
    const info = await deno.stat(path).catch(() => null);
    if (!info) throw new DetectorModelError(`${where}: ${what} is missing`);
    if (!info.isFile) throw new DetectorModelError(`${where}: ${what} is not a regular file`);
    if (exact ? info.size !== maxBytes : info.size > maxBytes) throw wrongSize(String(info.size));
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DetectorModelError(`${where}: cannot read ${what} (${(e as Error).message})`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new DetectorModelError(`${where}: cannot read ${what} (HTTP ${res.status})`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw wrongSize(`more than ${maxBytes}`);
    }
    chunks.push(r.value);
  }
  if (exact && size !== maxBytes) throw wrongSize(String(size));
  return concatBytes(chunks);
}

/**
 * Loads an exported SSD300 (`deno task export`) and wraps it as a {@link Detector}: model.json is read (at most
 * {@link MAX_MODEL_JSON_BYTES}) and checked (`checkModelJson`: schema, manifest, the SSD300 metadata), every
 * shard is read and must have exactly its manifest size; then tfjs-converter's unmodified `loadGraphModel`
 * builds the model from these bytes.
 * @param modelUrl folder or `model.json` URL (http(s): or file:), or a path (relative to the page or cwd)
 * @throws DetectorModelError naming the file and the problem (bad model.json, a shard missing or of another size)
 */
export async function loadDetector(modelUrl: string): Promise<Detector> {
  const url = modelJsonUrl(modelUrl);
  const where = filePath(url) ?? url;
  const text = new TextDecoder().decode(await readBounded(url, "the model file", MAX_MODEL_JSON_BYTES));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DetectorModelError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const { model: modelJson, shards } = checkModelJson(json, where);
  const buffers: ArrayBuffer[] = [];
  for (const [i, shard] of shards.entries()) buffers.push(await readShard(url, shard, i, shards.length));
  const artifacts = tf.io.getModelArtifactsForJSONSync(
    modelJson as unknown as tf.io.ModelJSON,
    tf.io.getWeightSpecs(modelJson.weightsManifest as tf.io.WeightsManifestConfig),
    buffers,
  );
  let model: GraphModel;
  try {
    model = await loadGraphModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new DetectorModelError(`${where}: tfjs-converter cannot build the graph (${(e as Error).message})`);
  }
  const metadata = modelJson.userDefinedMetadata.ssd300;
  const defaults = metadata.detect_defaults;
  const size = metadata.input.size;

  async function detect(image: DetectorInput, options: DetectorOptions = {}): Promise<DetectedObject[]> {
    const maxBoxes = options.maxBoxes ?? defaults.top_k;
    const minScore = options.minScore ?? defaults.min_score;
    const maxOverlap = options.maxOverlap ?? defaults.max_overlap;
    if (!(Number.isInteger(maxBoxes) && maxBoxes >= 1)) {
      throw new RangeError(`maxBoxes must be ≥ 1, got ${maxBoxes}`);
    }
    if (!(minScore >= 0 && minScore < 1)) throw new RangeError(`minScore must be in [0, 1), got ${minScore}`);
    if (!(maxOverlap >= 0 && maxOverlap <= 1)) {
      throw new RangeError(`maxOverlap must be in [0, 1], got ${maxOverlap}`);
    }
    const rgb = await inputToRgb(image);
    const feeds = {
      [GRAPH_INPUTS.image]: tf.tensor4d(preprocessForSsd(rgb), [1, size, size, 3]),
      [GRAPH_INPUTS.minScore]: tf.scalar(minScore, "float32"),
      [GRAPH_INPUTS.maxOverlap]: tf.scalar(maxOverlap, "float32"),
      [GRAPH_INPUTS.topK]: tf.scalar(maxBoxes, "int32"),
    };
    let outputs: tf.Tensor[] = [];
    try {
      outputs = await model.executeAsync(feeds, [
        GRAPH_OUTPUTS.boxes,
        GRAPH_OUTPUTS.detectionScores,
        GRAPH_OUTPUTS.classes,
      ]) as tf.Tensor[];
      const [boxes, scores, classes] = await Promise.all(outputs.map((t) => t.data()));
      return Array.from(scores, (score, k) => ({
        bbox: fractionalXyxyToBbox(boxes.subarray(k * 4, k * 4 + 4), rgb.width, rgb.height),
        class: metadata.classes[classes[k]] ?? `class_${classes[k]}`,
        score,
      }));
    } finally {
      tf.dispose(outputs);
      tf.dispose(Object.values(feeds));
    }
  }

  return { classes: metadata.classes, metadata, model, detect, dispose: () => model.dispose() };
}
