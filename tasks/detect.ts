/**
 * `deno task detect` — run SSD300 on one image (homework Task 0).
 *
 *   deno task detect (--checkpoint X.pth | --weights W.json) --image img.png|jpg [--min-score 0.2]
 *     [--max-overlap 0.45] [--top-k 200] --out annotated.png --json detections.json [--backend auto|wasm|cpu|tensorflow]
 *
 * Writes the image at its original resolution with labelled boxes (VOC names for a 21-class model, `person` for a
 * 2-class one) and `{ image, width, height, detections: [{ label, class_id, score, box }] }` with boxes
 * (x_min, y_min, x_max, y_max) in original pixels.
 */
import { parseArgs } from "node:util";
import { ArtifactError, writeFileAtomic, writeJsonArtifact } from "../lib/core/artifacts.ts";
import { BACKEND_CHOICES, initBackend, isBackendChoice } from "../lib/engine/backend.ts";
import {
  classColor,
  classNames,
  detectInImage,
  DetectionsJsonSchema,
  toPixelDetections,
} from "../lib/ssd/mod.ts";
import { drawBoxes } from "../lib/image/draw.ts";
import { decodeImage, encodePng } from "../lib/image/codec.ts";
import { disposeModel } from "../lib/ssd/model.ts";
import { loadCheckpointFile, loadWeights } from "../lib/interop/mod.ts";

const USAGE = `usage: deno task detect (--checkpoint X.pth | --weights W.json) --image IMG.png|jpg
         [--min-score 0.2] [--max-overlap 0.45] [--top-k 200] --out ANNOTATED.png --json DETECTIONS.json
         [--backend ${BACKEND_CHOICES.join("|")}]`;

/** Wrong command-line arguments. */
class UsageError extends Error {
  override name = "UsageError";
}

function numberArg(
  name: string,
  value: string | undefined,
  fallback: number,
  check: (n: number) => boolean,
  what: string,
) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || !check(n)) {
    throw new UsageError(`--${name}: expected ${what} (got ${value})`);
  }
  return n;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      checkpoint: { type: "string" },
      weights: { type: "string" },
      image: { type: "string" },
      "min-score": { type: "string" },
      "max-overlap": { type: "string" },
      "top-k": { type: "string" },
      out: { type: "string" },
      json: { type: "string" },
      backend: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.checkpoint === !values.weights) {
    throw new UsageError("give exactly one of --checkpoint, --weights");
  }
  if (!values.image) throw new UsageError("--image is required");
  if (!values.out) throw new UsageError("--out (annotated PNG) is required");
  if (!values.json) throw new UsageError("--json (detections JSON) is required");
  const backend = values.backend ?? "auto";
  if (!isBackendChoice(backend)) {
    throw new UsageError(`--backend: expected one of ${BACKEND_CHOICES.join(", ")} (got ${backend})`);
  }
  const opts = {
    minScore: numberArg("min-score", values["min-score"], 0.2, (n) => n >= 0 && n < 1, "a number in [0, 1)"),
    maxOverlap: numberArg(
      "max-overlap",
      values["max-overlap"],
      0.45,
      (n) => n >= 0 && n <= 1,
      "a number in [0, 1]",
    ),
    topK: numberArg("top-k", values["top-k"], 200, (n) => Number.isInteger(n) && n >= 1, "an integer ≥ 1"),
  };

  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(values.image);
  } catch (e) {
    throw new ArtifactError(values.image, [`cannot read: ${(e as Error).message}`]);
  }
  const img = decodeImage(bytes, values.image);

  await initBackend(backend);
  const t0 = performance.now();
  const model = values.weights
    ? await loadWeights(values.weights)
    : await loadCheckpointFile(values.checkpoint!);
  const names = classNames(model.nClasses);
  console.error(
    `model: ${model.nClasses} classes, ${model.anchors ?? "reference"} anchors, from ${
      values.weights ?? values.checkpoint
    } (${(performance.now() - t0).toFixed(0)} ms)`,
  );
  let detections;
  try {
    const t1 = performance.now();
    const dets = detectInImage(model, img, opts);
    detections = toPixelDetections(dets, img.width, img.height, names);
    console.error(`detect: ${detections.length} detections in ${(performance.now() - t1).toFixed(0)} ms`);
  } finally {
    disposeModel(model);
  }

  const annotated = drawBoxes(
    img,
    detections.map((d) => ({
      box: d.box,
      label: `${d.label} ${d.score.toFixed(2)}`,
      color: classColor(d.class_id),
    })),
  );
  await writeFileAtomic(values.out, encodePng(annotated));
  await writeJsonArtifact(values.json, DetectionsJsonSchema, {
    image: values.image,
    width: img.width,
    height: img.height,
    detections,
  });
  console.log(`${detections.length} detections → ${values.out}, ${values.json}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`detect: ${(e as Error).message}`);
    if (e instanceof UsageError) console.error(USAGE);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
