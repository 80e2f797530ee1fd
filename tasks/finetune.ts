/**
 * deno task finetune — fine-tunes SSD300 as a single-class (person) detector on a prepared dataset.
 *
 * Reads dataset.json (deno task prepare) and a starting model; trains on the dataset's TRAIN split (a seeded
 * `--val-fraction` of it held out for validation); writes into --out:
 *   weights.json (+ weights.bin)  our weights format (lib/weights.ts)
 *   model.pth                     the same weights as a PyTorch state_dict (reference names and layout)
 *   train-log.json                { steps: [{ epoch, step, loss }], epochs: [{ epoch, train_loss, val_loss, val_ap75 }] }
 *   run.json                      the settings and timings of the run
 *   checkpoint.bin                weights + optimiser + RNG state + log after the last completed epoch (resume)
 * Re-running with the same --out and settings resumes after the last completed epoch.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { writeFileAtomic, writeJsonArtifact } from "../lib/core/artifacts.ts";
import { BACKEND_CHOICES, type BackendChoice, initBackend, isBackendChoice } from "../lib/engine/backend.ts";
import { type Dataset, openDatasetSource, readDataset } from "../lib/data/mod.ts";
import { createSsd300, disposeModel, type SsdModel } from "../lib/ssd/model.ts";
import { type OptimizerKind, OPTIMIZERS, type ScheduleKind, SCHEDULES } from "../lib/train/optim.ts";
import { enableNativeConv, nativeConvWithGrad } from "../lib/engine/onednn.ts";
import { modelParamData, poolLossAndGradients, SsdWorkerPool } from "../lib/engine/pool.ts";
import { ANCHOR_SET_NAMES, type AnchorSetName, priorsCxcyFor } from "../lib/ssd/priors.ts";
import { readTorchCheckpoint, writeTorchStateDict } from "../lib/torch/mod.ts";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  FREEZE_MODES,
  type FreezeMode,
  lossAndGradients,
  NonFiniteLossError,
  splitTrainVal,
  train,
  type TrainConfig,
  TrainingLogSchema,
  type TrainItem,
  type TrainSample,
  type TrainState,
} from "../lib/train/train.ts";
import {
  createSsd300FromVgg16,
  loadCheckpointFile,
  loadWeights,
  modelToStateDict,
  saveWeights,
  toSingleClass,
} from "../lib/interop/mod.ts";

const USAGE = `usage: deno task finetune --dataset run/dataset.json
         (--checkpoint X.pth | --weights ours.json | --imagenet vgg16.pth | --from-scratch) --out run/
         [--epochs 20] [--batch-size 10] [--micro-batch 2] [--lr 1e-3] [--momentum 0.9] [--weight-decay 0]
         [--optimizer sgd|adam] [--schedule constant|cosine|step] [--warmup 0] [--freeze none|base|base+aux]
         [--head-init random|voc-person] [--anchors ${ANCHOR_SET_NAMES.join("|")}]
         [--augment | --no-augment] [--no-shuffle] [--seed 0]
         [--val-fraction 0.1] [--backend ${BACKEND_CHOICES.join("|")}] [--workers 1] [--native-conv]
  --checkpoint    a reference .pth/.pth.tar (21-class VOC → single class via --head-init; 2-class loads as is)
  --weights       our weights manifest (weights.json from an earlier run)
  --imagenet      torchvision VGG16 ImageNet weights (vgg16-*.pth): the reference's from-backbone start
  --from-scratch  reference initialisation (xavier-uniform convs), seeded by --seed
  --batch-size    images per optimiser step; --micro-batch images per forward/backward pass (memory bound)
  --schedule      cosine = the notebook's per-step CosineAnnealingLR (T_max = (⌊n/batch⌋ + 1) · epochs);
                  step = ×0.1 every ⌈epochs/3⌉ epochs; --warmup N linear warm-up over the first N steps
  --freeze        base: VGG base fixed; base+aux: base and auxiliary convs fixed (heads + rescale train)
  --anchors       prior boxes the heads learn offsets against (lib/priors.ts; default reference): pedestrian =
                  tall ratios only, same boxes per location; saved in weights.json (a .pth does not record it)
  --augment       photometric distortion, zoom-out, SSD IoU crop, flip (default: --no-augment, as the notebook)
  --val-fraction  part of the TRAIN split held out for val_loss / val_ap75 after each epoch (never the test split)
  --workers       data-parallel gradient workers (lib/parallel.ts, one core each; wasm/cpu backends); 1 = this thread
  --native-conv   convolutions (forward, dX, dW) through oneDNN (lib/native_conv.ts) where libdnnl loads (WASM backend)`;

/** A bad command line; the message says which flag. */
class UsageError extends Error {
  override name = "UsageError";
}

export interface FinetuneArgs {
  dataset: string;
  source: { kind: "checkpoint" | "weights" | "imagenet" | "scratch"; path: string | null };
  out: string;
  headInit: "random" | "voc-person";
  /** anchor set of the trained model (priors for matching, validation and later detection) */
  anchors: AnchorSetName;
  backend: BackendChoice;
  /** gradient workers; 1 = in-process */
  workers: number;
  /** convolutions through oneDNN when available */
  nativeConv: boolean;
  config: TrainConfig;
}

function num(
  name: string,
  v: string | undefined,
  dflt: number,
  check: (x: number) => boolean,
  what: string,
): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) {
    throw new UsageError(`--${name}: expected ${what}, got '${v}'`);
  }
  return x;
}
const int1 = (x: number) => Number.isInteger(x) && x >= 1;
const int0 = (x: number) => Number.isInteger(x) && x >= 0;
const nonneg = (x: number) => x >= 0;

/** Parses and validates the command line. */
export function parseFinetuneArgs(args: string[]): FinetuneArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        dataset: { type: "string" },
        checkpoint: { type: "string" },
        weights: { type: "string" },
        imagenet: { type: "string" },
        "from-scratch": { type: "boolean" },
        out: { type: "string" },
        epochs: { type: "string" },
        "batch-size": { type: "string" },
        "micro-batch": { type: "string" },
        lr: { type: "string" },
        momentum: { type: "string" },
        "weight-decay": { type: "string" },
        optimizer: { type: "string" },
        schedule: { type: "string" },
        warmup: { type: "string" },
        freeze: { type: "string" },
        "head-init": { type: "string" },
        anchors: { type: "string" },
        augment: { type: "boolean" },
        "no-augment": { type: "boolean" },
        "no-shuffle": { type: "boolean" },
        seed: { type: "string" },
        "val-fraction": { type: "string" },
        backend: { type: "string" },
        workers: { type: "string" },
        "native-conv": { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) throw new UsageError("help");
  if (!v.dataset) throw new UsageError("--dataset is required");
  if (!v.out) throw new UsageError("--out is required");
  const sources = [
    v.checkpoint !== undefined && { kind: "checkpoint" as const, path: v.checkpoint },
    v.weights !== undefined && { kind: "weights" as const, path: v.weights },
    v.imagenet !== undefined && { kind: "imagenet" as const, path: v.imagenet },
    v["from-scratch"] && { kind: "scratch" as const, path: null },
  ].filter((s) => s !== false && s !== undefined);
  if (sources.length !== 1) {
    throw new UsageError("give exactly one of --checkpoint, --weights, --imagenet, --from-scratch");
  }
  if (v.augment && v["no-augment"]) throw new UsageError("--augment and --no-augment contradict each other");
  const optimizer = (v.optimizer ?? "sgd") as OptimizerKind;
  if (!OPTIMIZERS.includes(optimizer)) {
    throw new UsageError(`--optimizer: expected sgd or adam, got '${v.optimizer}'`);
  }
  const schedule = (v.schedule ?? "cosine") as ScheduleKind;
  if (!SCHEDULES.includes(schedule)) {
    throw new UsageError(`--schedule: expected ${SCHEDULES.join(", ")}, got '${v.schedule}'`);
  }
  const freeze = (v.freeze ?? "none") as FreezeMode;
  if (!FREEZE_MODES.includes(freeze)) {
    throw new UsageError(`--freeze: expected ${FREEZE_MODES.join(", ")}, got '${v.freeze}'`);
  }
  const headInit = v["head-init"] ?? "random";
  if (headInit !== "random" && headInit !== "voc-person") {
    throw new UsageError(`--head-init: expected random or voc-person, got '${headInit}'`);
  }
  const anchors = v.anchors ?? "reference";
  if (!(ANCHOR_SET_NAMES as string[]).includes(anchors)) {
    throw new UsageError(`--anchors: expected ${ANCHOR_SET_NAMES.join(" or ")}, got '${anchors}'`);
  }
  const backend = v.backend ?? "auto";
  if (!isBackendChoice(backend)) {
    throw new UsageError(`--backend: expected ${BACKEND_CHOICES.join(", ")}, got '${backend}'`);
  }
  const batchSize = num("batch-size", v["batch-size"], 10, int1, "an integer ≥ 1");
  const config: TrainConfig = {
    epochs: num("epochs", v.epochs, 20, int1, "an integer ≥ 1"),
    batchSize,
    microBatch: Math.min(batchSize, num("micro-batch", v["micro-batch"], 2, int1, "an integer ≥ 1")),
    optimizer,
    lr: num("lr", v.lr, 1e-3, (x) => x > 0, "a number > 0"),
    momentum: num("momentum", v.momentum, optimizer === "sgd" ? 0.9 : 0, nonneg, "a number ≥ 0"),
    weightDecay: num("weight-decay", v["weight-decay"], 0, nonneg, "a number ≥ 0"),
    schedule,
    warmup: num("warmup", v.warmup, 0, int0, "an integer ≥ 0 (steps)"),
    freeze,
    augment: Boolean(v.augment),
    shuffle: !v["no-shuffle"],
    seed: num("seed", v.seed, 0, (x) => Number.isInteger(x), "an integer"),
    valFraction: num("val-fraction", v["val-fraction"], 0.1, (x) => x >= 0 && x < 1, "a number in [0, 1)"),
  };
  return {
    dataset: v.dataset,
    source: sources[0]!,
    out: v.out.replace(/\/+$/, "") || ".",
    headInit,
    anchors: anchors as AnchorSetName,
    backend,
    workers: num("workers", v.workers, 1, int1, "an integer ≥ 1"),
    nativeConv: Boolean(v["native-conv"]),
    config,
  };
}

/** The starting model of a run, converted to 2 classes, with the run's anchor set (`--anchors`). */
async function initialModel(a: FinetuneArgs): Promise<SsdModel> {
  const { kind, path } = a.source;
  let model: SsdModel;
  if (kind === "scratch") model = createSsd300(2, a.config.seed);
  else if (kind === "imagenet") {
    const vgg = readTorchCheckpoint(await Deno.readFile(path!), path!);
    model = createSsd300FromVgg16(2, vgg.tensors, a.config.seed, path!);
  } else {
    model = kind === "weights" ? await loadWeights(path!) : await loadCheckpointFile(path!);
    const from = model.anchors ?? "reference";
    if (from !== a.anchors) {
      console.error(
        `${path}: heads were trained on ${from} anchors; fine-tuning them on ${a.anchors} anchors`,
      );
    }
    if (model.nClasses !== 2) {
      const single = toSingleClass(model, a.headInit, a.config.seed);
      disposeModel(model);
      model = single;
    }
  }
  model.anchors = a.anchors;
  return model;
}

const RunJsonSchema = z.object({
  task: z.literal("finetune"),
  /** for lib/report.ts: a trained model (the baseline VOC detector is "original") */
  kind: z.literal("finetuned"),
  dataset: z.string(),
  source: z.object({ kind: z.string(), path: z.string().nullable() }),
  head_init: z.string(),
  backend: z.string(),
  settings: z.record(z.string(), z.unknown()),
  n_train: z.number().int(),
  n_val: z.number().int(),
  val_ids: z.array(z.number().int()),
  resumed_from_epoch: z.number().int(),
  seconds: z.number(),
  ms_per_image: z.number().nullable(),
  finished: z.string(),
});

/** Settings that must match for a resume (a different run must not continue this one's checkpoint). */
function resumeKey(a: FinetuneArgs): Record<string, unknown> {
  return { dataset: a.dataset, source: a.source, headInit: a.headInit, anchors: a.anchors, ...a.config };
}

function trainItems(
  dataset: Dataset,
  read: (im: Dataset["images"][number]) => import("../lib/image/codec.ts").RgbImage,
) {
  return dataset.images.filter((im) => im.split === "train").map((im): TrainItem => ({
    id: im.id,
    width: im.width,
    height: im.height,
    boxes: im.boxes,
    load: () => read(im),
  }));
}

/** Runs the task; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let a: FinetuneArgs;
  try {
    a = parseFinetuneArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message === "help" ? USAGE : `${e.message}\n${USAGE}`);
      return e.message === "help" ? 0 : 2;
    }
    throw e;
  }
  const t0 = performance.now();
  const backend = await initBackend(a.backend);
  const dataset = await readDataset(a.dataset);
  const source = await openDatasetSource(dataset, a.dataset);
  const all = trainItems(dataset, (im) => source.readImage(im));
  const { train: trainSet, val: valSet } = splitTrainVal(all, a.config.valFraction, a.config.seed);
  if (trainSet.length === 0) {
    throw new RangeError(`${a.dataset}: no training images left after --val-fraction`);
  }
  await Deno.mkdir(a.out, { recursive: true });
  const ckptPath = `${a.out}/checkpoint.bin`;
  const key = resumeKey(a);

  let model: SsdModel;
  let resume: TrainState | undefined;
  let ckptBytes: Uint8Array | undefined;
  try {
    ckptBytes = await Deno.readFile(ckptPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (ckptBytes) {
    const c = decodeCheckpoint(ckptBytes, ckptPath);
    // checkpoints written before --anchors existed were trained on the reference's anchors
    const saved: Record<string, unknown> = { anchors: "reference", ...c.config };
    const diff = Object.keys({ ...key, ...saved }).filter((k) =>
      JSON.stringify(key[k]) !== JSON.stringify(saved[k])
    );
    if (diff.length > 0) {
      disposeModel(c.model);
      throw new RangeError(
        `${ckptPath} belongs to a run with other settings (${
          diff.map((k) => `${k}: ${JSON.stringify(saved[k])}`).join(", ")
        }); ` +
          `use another --out or delete it`,
      );
    }
    model = c.model;
    model.anchors = a.anchors; // equal to the checkpoint's (part of the resume key)
    resume = c.state;
    console.error(`resuming after epoch ${c.state.epoch} (step ${c.state.step}) from ${ckptPath}`);
  } else {
    model = await initialModel(a);
  }

  console.error(
    `finetune: ${trainSet.length} train + ${valSet.length} val images, ${a.config.epochs} epochs, batch ${a.config.batchSize} ` +
      `(micro ${a.config.microBatch}), ${a.config.optimizer} lr ${a.config.lr} ${a.config.schedule}, freeze ${a.config.freeze}, ` +
      `augment ${a.config.augment ? "on" : "off"}, ${a.anchors} anchors, backend ${backend}`,
  );
  let log;
  const trainStart = performance.now();
  const startEpoch = resume?.epoch ?? 0;
  let pool: SsdWorkerPool | undefined;
  try {
    let gradients;
    const priorsCxcy = priorsCxcyFor(model.anchors);
    if (a.nativeConv && a.workers === 1) {
      const native = enableNativeConv(2);
      console.error(
        native.ok
          ? `convolutions through oneDNN (${native.lib})`
          : `--native-conv: ${native.reason}; using WASM`,
      );
      gradients = (batch: readonly TrainSample[], names: readonly string[]) =>
        Promise.resolve(lossAndGradients(model, batch, {
          priorsCxcy,
          microBatch: a.config.microBatch,
          trainable: names,
          conv: nativeConvWithGrad,
        }));
    }
    if (a.workers > 1) {
      if (backend !== "wasm" && backend !== "cpu") {
        throw new RangeError(`--workers > 1 needs --backend wasm or cpu`);
      }
      pool = await SsdWorkerPool.create({
        workers: a.workers,
        backend,
        nClasses: model.nClasses,
        anchors: model.anchors,
        params: await modelParamData(model),
        nativeConv: a.nativeConv,
      });
      const activePool = pool;
      gradients = async (batch: readonly TrainSample[], names: readonly string[]) => {
        // the replicas get the parameters the optimiser may have changed since the last step
        await activePool.setWeights(
          new Map(names.map((n) => [n, model.params.get(n)!.dataSync() as Float32Array])),
        );
        return poolLossAndGradients(activePool, batch, {
          priorsCxcy,
          microBatch: a.config.microBatch,
          trainable: names,
        });
      };
      console.error(`gradients on ${a.workers} workers`);
    }
    log = await train(model, trainSet, valSet, a.config, {
      gradients,
      resume,
      progress: (line) => console.error(line),
      checkpoint: async (state) => {
        await writeFileAtomic(ckptPath, encodeCheckpoint(model, state, key));
        await writeJsonArtifact(`${a.out}/train-log.json`, TrainingLogSchema, state.log);
      },
    });
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      console.error(
        `${e.message}: training stopped; ${
          ckptBytes || (await Deno.stat(ckptPath).then(() => true, () => false))
            ? `the last good checkpoint is kept in ${ckptPath}`
            : "no epoch had completed, so there is no checkpoint"
        }`,
      );
      disposeModel(model);
      return 1;
    }
    disposeModel(model);
    throw e;
  } finally {
    await pool?.close();
  }
  const trainSecs = (performance.now() - trainStart) / 1000;
  const imagesTrained = (a.config.epochs - startEpoch) * trainSet.length;

  await saveWeights(`${a.out}/weights.json`, model);
  await writeFileAtomic(`${a.out}/model.pth`, writeTorchStateDict(modelToStateDict(model), "model"));
  await writeJsonArtifact(`${a.out}/train-log.json`, TrainingLogSchema, log);
  await writeJsonArtifact(`${a.out}/run.json`, RunJsonSchema, {
    task: "finetune",
    kind: "finetuned",
    dataset: a.dataset,
    source: a.source,
    head_init: a.headInit,
    backend,
    settings: { ...a.config, anchors: a.anchors, workers: a.workers, native_conv: a.nativeConv },
    n_train: trainSet.length,
    n_val: valSet.length,
    val_ids: valSet.map((v) => v.id),
    resumed_from_epoch: startEpoch,
    seconds: (performance.now() - t0) / 1000,
    // includes validation and checkpoint time
    ms_per_image: imagesTrained > 0 ? (trainSecs * 1000) / imagesTrained : null,
    finished: new Date().toISOString(),
  });
  disposeModel(model);
  const last = log.epochs.at(-1);
  console.log(
    `wrote ${a.out}/weights.json, model.pth, train-log.json, run.json` +
      (last ? ` (epoch ${last.epoch}: train_loss ${last.train_loss.toFixed(4)})` : ""),
  );
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
