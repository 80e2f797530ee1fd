/**
 * `deno task detect` — run SSD300 on one image (homework Task 0), or on many.
 *
 *   deno task detect (--checkpoint X.pth | --weights W.json) --image img.png|jpg --out annotated.png|jpg
 *     --json detections.json [--min-score 0.2] [--max-overlap 0.45] [--top-k 200] [--backend auto|wasm|cpu|tensorflow|webgpu]
 *   deno task detect (--checkpoint X.pth | --weights W.json) --images DIR|GLOB|LIST.txt --out DIR [--batch-size 8]
 *     [--shard K/N|auto]
 *   deno task detect --merge SHARD_DIR… --out DIR
 *
 * One image: writes it at its original resolution with labelled boxes (a PNG, or a JPEG when --out ends in .jpg
 * or .jpeg; the model's class names: VOC names for a 21-class model, weights.json's for a fine-tuned one) and
 * `{ image, width, height, detections: [{ label, class_id, score, box }] }` with boxes (x_min, y_min, x_max,
 * y_max) in original pixels. Many images (lib/evaluation/predict.ts): `images.json`, `detections.coco.json` (COCO
 * results, category_id = class id) and `annotated/*.jpg` in --out, batched, with progress; `--shard K/N` only the
 * K-th of N slices of the list (lib/cli/shard_flag.ts, lib/evaluation/shards.ts), and `--merge` joins such
 * shards' folders into the files one unsharded run writes (lib/evaluation/merge_shards.ts).
 * @module
 */
import { resolve } from "node:path";
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  detectorFlags,
  NETWORK_FLAGS,
  type ParsedFlags,
  parseFlags,
  parseShardFlag,
  runTask,
  SHARD_FLAG,
  type ShardChoice,
  UsageError,
} from "../lib/cli/mod.ts";
import {
  checkOutputFile,
  lockOutputFiles,
  lockRunFolder,
  type OutputFiles,
  READ_LIMITS,
  readRegularFile,
  type RunFolder,
} from "../lib/core/mod.ts";
import { initEngine } from "../lib/engine/mod.ts";
import { listImageInputs, mergeImageShards, predictImage, predictImagesOn } from "../lib/evaluation/mod.ts";
import { decodeImage } from "../lib/image/mod.ts";
import { loadCheckpointFile, loadWeights } from "../lib/interop/mod.ts";
import { disposeModel } from "../lib/ssd/mod.ts";

const CLI = {
  task: "detect",
  usage: [
    "(--checkpoint X.pth | --weights FILE) --image IMG --out ANNOTATED.png|.jpg --json DETECTIONS.json [flags]",
    "(--checkpoint X.pth | --weights FILE) --images DIR|GLOB|LIST.txt --out DIR [--batch-size N] [--shard K/N|auto]",
    "--merge SHARD_DIR [SHARD_DIR…] --out DIR",
  ],
  summary:
    `Runs SSD300 on one image (writes it with labelled boxes and the detections in original pixels) or on
many (--images: images.json, detections.coco.json in COCO results format and annotated JPEGs in --out);
--shard takes one slice of the list, --merge joins the slices' folders into what one run writes.`,
  positionals: true,
  flags: {
    checkpoint: { kind: "string", value: "X.pth", description: "a reference .pth (or our weights.json)" },
    weights: { kind: "string", value: "FILE", description: "our weights (weights.json of a finetune run)" },
    image: { kind: "string", value: "IMG", description: "one PNG or JPEG image" },
    images: {
      kind: "string",
      value: "DIR|GLOB|LIST",
      description: "many: a folder, a quoted glob ('photos/*.jpg') or a text file of image paths",
    },
    out: {
      kind: "string",
      value: "FILE|DIR",
      required: true,
      description: "--image: annotated image (.jpg/.jpeg: JPEG, else PNG); --images: output folder",
    },
    json: { kind: "string", value: "FILE", description: "--image: detections JSON to write (required)" },
    "batch-size": { kind: "integer", min: 1, default: 8, description: "--images: images per forward pass" },
    shard: SHARD_FLAG,
    merge: {
      kind: "list",
      value: "DIR",
      description:
        "join the folders of --shard runs (repeatable; also the arguments after the flags) into --out",
    },
    ...detectorFlags(0.2),
    backend: BACKEND_FLAG,
    ...NETWORK_FLAGS,
  },
} as const satisfies CliSpec;

const MODEL_AND_INPUT = ["checkpoint", "weights", "image", "images", "json", "shard"] as const;

/** `--merge DIR… --out DIR`: the shards' folders joined into the files of one unsharded run. */
async function merge(dirs: string[], out: string, given: ReadonlySet<string>): Promise<void> {
  const extra = MODEL_AND_INPUT.find((name) => given.has(name));
  if (extra) throw new UsageError(`--merge takes shard folders and --out, not --${extra}`);
  if (dirs.length === 0) throw new UsageError("--merge needs the folders of the --shard runs");
  const m = await mergeImageShards(dirs, out);
  console.log(
    `${m.detections.length} detections in ${m.images.images.length} images from ${dirs.length} shards → ` +
      `${m.imagesJson}, ${m.detectionsJson}, ${out}/annotated/`,
  );
}

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  if (f.given.has("merge")) return await merge([...f.merge, ...f.positionals], f.out, f.given);
  if (f.positionals.length > 0) throw new UsageError(`unexpected argument '${f.positionals[0]}'`);
  for (const group of [["checkpoint", "weights"], ["image", "images"]]) {
    if (group.filter((n) => f.given.has(n)).length !== 1) {
      throw new UsageError(`give exactly one of ${group.map((n) => `--${n}`).join(", ")}`);
    }
  }
  if (f.shard !== undefined && f.images === undefined) throw new UsageError("--shard goes with --images");
  const shard = f.shard === undefined ? undefined : parseShardFlag(f.shard);
  if (f.image !== undefined && f.json === undefined) throw new UsageError("--image needs --json FILE");
  if (f.images !== undefined && f.json !== undefined) {
    throw new UsageError("--json goes with --image; --images writes detections.coco.json into --out");
  }
  await checkInputFiles(f, ["checkpoint", "weights", "image"]);
  if (f.image !== undefined) {
    for (const file of [f.out, f.json!]) await checkOutputFile(file);
    const same = async (a: string, b: string) =>
      resolve(a) === resolve(b) ||
      (await Deno.realPath(a).catch(() => a)) === (await Deno.realPath(b).catch(() => b));
    if (await same(f.out, f.json!)) throw new UsageError("--out and --json name the same file");
    for (const [flag, file] of [["--out", f.out], ["--json", f.json!]]) {
      if (await same(file, f.image)) {
        throw new UsageError(`${flag} ${file} is the input image; write elsewhere`);
      }
    }
  }
  // one writer per output folder, held for the whole run (lib/core/run_folder.ts)
  let outputs: OutputFiles | undefined, folder: RunFolder | undefined;
  if (f.image !== undefined) outputs = await lockOutputFiles("detect", [f.out, f.json!]);
  else folder = await lockRunFolder(f.out, "detect");
  try {
    await detect(f, { outputs, folder }, shard);
  } finally {
    await outputs?.release();
    await folder?.release();
  }
}

async function detect(
  f: ParsedFlags<typeof CLI.flags>,
  held: { outputs?: OutputFiles; folder?: RunFolder },
  shard: ShardChoice | undefined,
): Promise<void> {
  const inputs = f.images === undefined ? [] : await listImageInputs(f.images, (note) => console.error(note));
  if (shard) {
    console.error(`detect: shard ${shard.index}/${shard.count} of ${inputs.length} images (${shard.from})`);
  }
  const img = f.image === undefined
    ? undefined
    : decodeImage(await readRegularFile(f.image, READ_LIMITS.image), f.image);
  // one image: this thread with oneDNN's threads on all cores; many: the engine's default (workers)
  const engine = await initEngine({
    backend: f.backend,
    conv: f.conv,
    workers: f.workers ?? (img ? 1 : undefined),
    use: "infer",
  });
  const t0 = performance.now();
  const modelPath = (f.weights ?? f.checkpoint)!;
  const read = { trustCheckpoint: f.trustCheckpoint, onNote: (note: string) => console.error(note) };
  const model = f.weights ? await loadWeights(f.weights) : await loadCheckpointFile(modelPath, read);
  console.error(
    `model: ${model.nClasses} classes, ${model.priorSet ?? "reference"} priors, from ${modelPath} ` +
      `(${(performance.now() - t0).toFixed(0)} ms)`,
  );
  const opts = { minScore: f.minScore, maxOverlap: f.maxOverlap, topK: f.topK };
  try {
    if (img === undefined) {
      const s = await predictImagesOn(engine, model, inputs, {
        ...opts,
        out: f.out,
        folder: held.folder,
        batchSize: f.batchSize,
        ...(shard ? { shard: { index: shard.index, count: shard.count } } : {}),
      });
      console.log(
        `${s.detections.length} detections in ${s.images.images.length} images (${
          s.seconds.toFixed(1)
        } s) → ` +
          `${s.imagesJson}, ${s.detectionsJson}, ${f.out}/annotated/`,
      );
    } else {
      const r = await predictImage(model, { path: f.image!, rgb: img }, {
        ...opts,
        out: f.out,
        json: f.json!,
        outputs: held.outputs!,
      });
      console.error(`detect: ${r.detections.length} detections in ${r.ms.toFixed(0)} ms`);
      console.log(`${r.detections.length} detections → ${f.out}, ${f.json}`);
    }
  } finally {
    disposeModel(model);
  }
}

if (import.meta.main) await runTask("detect", main);
