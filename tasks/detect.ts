/**
 * `deno task detect` — run SSD300 on one image (homework Task 0).
 *
 *   deno task detect (--checkpoint X.pth | --weights W.json) --image img.png|jpg --out annotated.png
 *     --json detections.json [--min-score 0.2] [--max-overlap 0.45] [--top-k 200] [--backend auto|wasm|cpu|tensorflow]
 *
 * Writes the image at its original resolution with labelled boxes (VOC names for a 21-class model, `person` for a
 * 2-class one) and `{ image, width, height, detections: [{ label, class_id, score, box }] }` with boxes
 * (x_min, y_min, x_max, y_max) in original pixels.
 * @module
 */
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  detectorFlags,
  MAX_PIXELS_FLAG,
  parseFlags,
  runTask,
  TRUST_CHECKPOINT_FLAG,
} from "../lib/cli/mod.ts";
import { checkOutputFile, writeFileAtomic, writeJsonArtifact } from "../lib/core/mod.ts";
import { initBackend } from "../lib/engine/mod.ts";
import { decodeImage, drawBoxes, encodePng, setMaxImagePixels } from "../lib/image/mod.ts";
import { loadCheckpointFile, loadWeights } from "../lib/interop/mod.ts";
import {
  classColor,
  classNames,
  detectInImage,
  DetectionsJsonSchema,
  disposeModel,
  toPixelDetections,
} from "../lib/ssd/mod.ts";

const CLI = {
  task: "detect",
  usage: [
    "(--checkpoint X.pth | --weights FILE) --image IMG --out ANNOTATED.png --json DETECTIONS.json [flags]",
  ],
  summary: "Runs SSD300 on one image; writes it with labelled boxes and the detections in original pixels.",
  exactlyOne: [["checkpoint", "weights"]],
  flags: {
    checkpoint: { kind: "string", value: "X.pth", description: "a reference .pth (or our weights.json)" },
    weights: { kind: "string", value: "FILE", description: "our weights (weights.json of a finetune run)" },
    "trust-checkpoint": TRUST_CHECKPOINT_FLAG,
    image: { kind: "string", value: "IMG", required: true, description: "PNG or JPEG image" },
    out: { kind: "string", value: "FILE", required: true, description: "annotated PNG to write" },
    json: { kind: "string", value: "FILE", required: true, description: "detections JSON to write" },
    ...detectorFlags(0.2),
    backend: BACKEND_FLAG,
    "max-pixels": MAX_PIXELS_FLAG,
  },
} as const satisfies CliSpec;

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  setMaxImagePixels(f.maxPixels);
  await checkInputFiles(f, ["checkpoint", "weights", "image"]);
  for (const file of [f.out, f.json]) await checkOutputFile(file);
  const img = decodeImage(await Deno.readFile(f.image), f.image);
  await initBackend(f.backend);
  const t0 = performance.now();
  const modelPath = (f.weights ?? f.checkpoint)!;
  const read = { trustCheckpoint: f.trustCheckpoint, onNote: (note: string) => console.error(note) };
  const model = f.weights ? await loadWeights(f.weights) : await loadCheckpointFile(modelPath, read);
  console.error(
    `model: ${model.nClasses} classes, ${model.anchors ?? "reference"} anchors, from ${modelPath} ` +
      `(${(performance.now() - t0).toFixed(0)} ms)`,
  );
  let detections;
  try {
    const t1 = performance.now();
    const opts = { minScore: f.minScore, maxOverlap: f.maxOverlap, topK: f.topK };
    detections = toPixelDetections(
      detectInImage(model, img, opts),
      img.width,
      img.height,
      classNames(model.nClasses),
    );
    console.error(`detect: ${detections.length} detections in ${(performance.now() - t1).toFixed(0)} ms`);
  } finally {
    disposeModel(model);
  }
  const boxes = detections.map((d) => ({
    box: d.box,
    label: `${d.label} ${d.score.toFixed(2)}`,
    color: classColor(d.class_id),
  }));
  await writeFileAtomic(f.out, encodePng(drawBoxes(img, boxes)));
  await writeJsonArtifact(f.json, DetectionsJsonSchema, {
    image: f.image,
    width: img.width,
    height: img.height,
    detections,
  });
  console.log(`${detections.length} detections → ${f.out}, ${f.json}`);
}

if (import.meta.main) await runTask("detect", main);
