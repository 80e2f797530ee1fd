/**
 * Running an exported `model.onnx` with ONNX Runtime (`onnxruntime-node`, npm 1.30: its CPU library for Linux
 * x64/arm64, macOS arm64 and Windows x64/arm64 ships inside the package; the package's install script only
 * fetches the CUDA providers, which are not used, so it need not run). The runtime is imported on first use,
 * so that a machine where its native library does not load still runs everything else; such a failure is an
 * {@link OnnxRuntimeUnavailableError} naming the reason.
 *
 * {@link OnnxSsd} runs the model on preprocessed images (lib/ssd `preprocessForSsd`, NHWC, as our engine takes
 * them): raw outputs (`forward`) and the graph's own detections (`detect`, the shape of lib/ssd `detectObjects`'
 * results); {@link loadOnnxDetector} wraps a model file as the detector API of lib/export/detector.ts (images
 * in, boxes in pixels out), which `export --evaluate` scores.
 * @module
 */
import type * as Ort from "onnxruntime-node";
import { InputError } from "../core/errors.ts";
import { READ_LIMITS, readRegularFile } from "../core/read_file.ts";
import type { RgbImage } from "../image/codec.ts";
import type { Detection, DetectOptions } from "../ssd/postprocess.ts";
import { preprocessForSsd, SSD_INPUT_SIDE } from "../ssd/preprocess.ts";
import {
  type DetectedObject,
  type DetectorInput,
  type DetectorOptions,
  fractionalXyxyToBbox,
  inputToRgb,
} from "./detector.ts";
import type { SsdMetadata } from "./model_json.ts";
import { readOnnxMetadata } from "./onnx_export.ts";
import { ONNX_INPUTS, ONNX_OUTPUTS } from "./onnx_graph.ts";

/** ONNX Runtime could not be loaded on this machine (its native library, or the package). */
export class OnnxRuntimeUnavailableError extends InputError {
  override name = "OnnxRuntimeUnavailableError";
}

let runtime: Promise<typeof Ort> | undefined;

/**
 * The `onnxruntime-node` module, imported once.
 * @throws OnnxRuntimeUnavailableError when it does not load
 */
export function loadOnnxRuntime(): Promise<typeof Ort> {
  runtime ??= import("onnxruntime-node").then(
    (m) => m as typeof Ort,
    (e) => {
      runtime = undefined;
      throw new OnnxRuntimeUnavailableError(
        `ONNX Runtime (npm onnxruntime-node) could not be loaded: ${(e as Error).message.split("\n")[0]}`,
      );
    },
  );
  return runtime;
}

/** The loaded runtime's version, e.g. "1.30.0". */
export async function onnxRuntimeVersion(): Promise<string> {
  return (await loadOnnxRuntime()).env.versions.node ?? "unknown";
}

/** Values of one preprocessed image, HWC [300, 300, 3]. */
const IMAGE_VALUES = SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3;

/** n preprocessed NHWC images → one NCHW [n, 3, 300, 300] batch, as the ONNX graph takes it. */
export function nhwcToNchw(images: readonly Float32Array[]): Float32Array {
  const plane = SSD_INPUT_SIDE * SSD_INPUT_SIDE;
  const out = new Float32Array(images.length * IMAGE_VALUES);
  images.forEach((im, b) => {
    if (im.length !== IMAGE_VALUES) {
      throw new RangeError(`image ${b}: ${im.length} values, expected 300 × 300 × 3`);
    }
    const base = b * IMAGE_VALUES;
    for (let p = 0; p < plane; p++) {
      out[base + p] = im[p * 3];
      out[base + plane + p] = im[p * 3 + 1];
      out[base + 2 * plane + p] = im[p * 3 + 2];
    }
  });
  return out;
}

/** An ONNX Runtime session of an exported SSD300 with its metadata. */
export class OnnxSsd {
  private constructor(
    private readonly ort: typeof Ort,
    readonly session: Ort.InferenceSession,
    readonly metadata: SsdMetadata,
    /** intra-op threads of the session */
    readonly threads: number,
  ) {}

  /**
   * A session of `bytes` (a model.onnx of `deno task export`) on `threads` CPU threads.
   * @throws OnnxRuntimeUnavailableError when the runtime does not load
   * @throws DetectorModelError when the model is not an export of this tool; ONNX Runtime's error when it
   *   refuses it
   */
  static async create(bytes: Uint8Array, threads: number): Promise<OnnxSsd> {
    const ort = await loadOnnxRuntime();
    const metadata = readOnnxMetadata(bytes);
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: no warnings on the user's stderr
    });
    return new OnnxSsd(ort, session, metadata, threads);
  }

  get nClasses(): number {
    return this.metadata.classes.length;
  }

  #feeds(images: readonly Float32Array[], opts: DetectOptions): Record<string, Ort.Tensor> {
    const T = this.ort.Tensor;
    return {
      [ONNX_INPUTS.image]: new T("float32", nhwcToNchw(images), [
        images.length,
        3,
        SSD_INPUT_SIDE,
        SSD_INPUT_SIDE,
      ]),
      [ONNX_INPUTS.minScore]: new T("float32", Float32Array.of(opts.minScore), []),
      [ONNX_INPUTS.maxOverlap]: new T("float32", Float32Array.of(opts.maxOverlap), []),
      [ONNX_INPUTS.topK]: new T("int64", BigInt64Array.of(BigInt(opts.topK)), []),
    };
  }

  /**
   * The network's raw outputs.
   * @param images preprocessed, each NHWC [300 * 300 * 3]
   * @returns locs [n * 8732 * 4] offsets, scores [n * 8732 * C] logits
   */
  async forward(images: readonly Float32Array[]): Promise<{ locs: Float32Array; scores: Float32Array }> {
    const feeds = this.#feeds(images, { minScore: 1, maxOverlap: 0, topK: 1 }); // thresholds unused here
    const out = await this.session.run(feeds, [ONNX_OUTPUTS.locs, ONNX_OUTPUTS.scores]);
    try {
      return {
        locs: out[ONNX_OUTPUTS.locs].data as Float32Array,
        scores: out[ONNX_OUTPUTS.scores].data as Float32Array,
      };
    } finally {
      for (const t of [...Object.values(feeds), ...Object.values(out)]) t.dispose();
    }
  }

  /**
   * The graph's detections of each image (decode, softmax, NMS, top-k inside ONNX Runtime), as lib/ssd
   * `detectObjects` returns them: fractional xyxy boxes, best first; an image without any gets the reference's
   * background placeholder ([0, 0, 1, 1], class 0, score 0).
   * @param images preprocessed, each NHWC [300 * 300 * 3]
   */
  async detect(images: readonly Float32Array[], opts: DetectOptions): Promise<Detection[][]> {
    const feeds = this.#feeds(images, opts);
    const out = await this.session.run(feeds, [
      ONNX_OUTPUTS.boxes,
      ONNX_OUTPUTS.detectionScores,
      ONNX_OUTPUTS.classes,
      ONNX_OUTPUTS.imageIndex,
    ]);
    try {
      const boxes = out[ONNX_OUTPUTS.boxes].data as Float32Array; // [K, 4]
      const scores = out[ONNX_OUTPUTS.detectionScores].data as Float32Array; // [K]
      const classes = out[ONNX_OUTPUTS.classes].data as BigInt64Array; // [K]
      const image = out[ONNX_OUTPUTS.imageIndex].data as BigInt64Array; // [K]
      const perImage: Detection[][] = images.map(() => []);
      for (let k = 0; k < scores.length; k++) {
        perImage[Number(image[k])].push({
          box: [boxes[k * 4], boxes[k * 4 + 1], boxes[k * 4 + 2], boxes[k * 4 + 3]],
          classId: Number(classes[k]),
          score: scores[k],
        });
      }
      return perImage.map((d) => d.length ? d : [{ box: [0, 0, 1, 1], classId: 0, score: 0 }]);
    } finally {
      for (const t of [...Object.values(feeds), ...Object.values(out)]) t.dispose();
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** An exported model.onnx as a detector (the API of lib/export/detector.ts, without a TF.js model). */
export interface OnnxDetector {
  readonly classes: readonly string[];
  readonly metadata: SsdMetadata;
  readonly ssd: OnnxSsd;
  detect(image: DetectorInput, options?: DetectorOptions): Promise<DetectedObject[]>;
  dispose(): Promise<void>;
}

/**
 * Loads a `model.onnx` into ONNX Runtime as a detector: each image prepared as `deno task detect` does
 * (Pillow BILINEAR to 300 × 300, ImageNet normalisation), detections in the image's pixels, best first.
 * @param threads ONNX Runtime's intra-op threads
 * @throws FileReadError when the file is missing, not a regular file or over the model size limit
 */
export async function loadOnnxDetector(path: string, threads: number): Promise<OnnxDetector> {
  const ssd = await OnnxSsd.create(await readRegularFile(path, READ_LIMITS.model), threads);
  const { metadata } = ssd;
  const defaults = metadata.detect_defaults;
  return {
    classes: metadata.classes,
    metadata,
    ssd,
    async detect(image, options = {}) {
      const rgb: RgbImage = await inputToRgb(image);
      const [dets] = await ssd.detect([preprocessForSsd(rgb)], {
        minScore: options.minScore ?? defaults.min_score,
        maxOverlap: options.maxOverlap ?? defaults.max_overlap,
        topK: options.maxBoxes ?? defaults.top_k,
      });
      return dets.filter((d) => d.classId !== 0).map((d) => ({
        bbox: fractionalXyxyToBbox(d.box, rgb.width, rgb.height),
        class: metadata.classes[d.classId] ?? `class_${d.classId}`,
        score: d.score,
      }));
    },
    dispose: () => ssd.release(),
  };
}
