/**
 * `deno task finetune` — fine-tunes SSD300 as a single-class (person) detector on a prepared dataset
 * (lib/train/finetune.ts; its flag table {@link FINETUNE_CLI} is here, `--help` lists them). Writes into --out:
 *   weights.json (+ weights.bin)  our weights format (lib/interop)
 *   model.pth                     the same weights as a PyTorch state_dict (reference names and layout)
 *   best/                         the best validation epoch's weights.json (+ .bin) and model.pth (--select)
 *   train-log.json                { steps: [{ epoch, step, loss }], epochs: [{ epoch, train_loss, val_loss, val_ap75,
 *                                 val_ap, lr, seconds }] }; train-log.csv: the epoch rows as CSV
 *   run.json                      start, settings, engine, timings, best epoch, why it stopped (lib/train/run_json.ts)
 *   resume.bin                    the resume state after the last completed epoch (lib/train/resume.ts)
 * Re-running with the same --out, data, start and settings resumes after the last completed epoch (a larger
 * --epochs continues a finished run); anything else is refused, naming what differs, unless --restart.
 * @module
 */
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  ENGINE_FLAGS,
  type FlagValue,
  MAX_PIXELS_FLAG,
  OUT_DIR_FLAG,
  type ParsedFlags,
  parseFlags,
  runTask,
  TRUST_CHECKPOINT_FLAG,
  UsageError,
} from "../lib/cli/mod.ts";
import { withoutTrailingSlash } from "../lib/core/mod.ts";
import { PRIOR_SET_NAMES } from "../lib/ssd/mod.ts";
import {
  finetune,
  type FinetuneOptions,
  FREEZE_MODES,
  OPTIMIZERS,
  SCHEDULES,
  SELECT_METRICS,
  type StartModel,
} from "../lib/train/mod.ts";

/** The flags of `deno task finetune`. */
export const FINETUNE_CLI = {
  task: "finetune",
  usage: [
    "--dataset FILE (--checkpoint X.pth | --weights FILE | --imagenet VGG.pth | --from-scratch) --out DIR [flags]",
  ],
  summary: `Fine-tunes SSD300 as a single-class (person) detector on the TRAIN split of a prepared dataset
(a seeded --val-fraction of it held out for validation). Writes into --out: weights.json + weights.bin (our
format), model.pth (the same weights as a PyTorch state_dict), train-log.json, run.json, and resume.bin (the
resume state after the last completed epoch), train-log.csv, and best/ (the best epoch's weights.json and
model.pth by --select on the validation images). Re-running with the same --out, data, start and settings
resumes there (a larger --epochs continues a finished run); anything else is refused unless --restart.`,
  exactlyOne: [["checkpoint", "weights", "imagenet", "from-scratch"]],
  flags: {
    dataset: {
      kind: "string",
      value: "FILE",
      required: true,
      description: "dataset.json of deno task prepare",
    },
    checkpoint: {
      kind: "string",
      value: "X.pth",
      description: "start from a reference .pth (a 21-class VOC model gets one class by --head-init)",
    },
    weights: { kind: "string", value: "FILE", description: "start from our weights (weights.json of a run)" },
    imagenet: { kind: "string", value: "VGG.pth", description: "start from torchvision's ImageNet VGG16" },
    "trust-checkpoint": TRUST_CHECKPOINT_FLAG,
    "from-scratch": {
      kind: "boolean",
      description: "start from the reference initialisation, seeded by --seed",
    },
    out: OUT_DIR_FLAG,
    epochs: { kind: "integer", min: 1, default: 20, description: "training epochs" },
    "batch-size": { kind: "integer", min: 1, default: 10, description: "images per optimiser step" },
    "micro-batch": {
      kind: "integer",
      min: 1,
      default: 1,
      description: "images per forward/backward pass (bounds memory; at most --batch-size)",
    },
    lr: { kind: "number", min: 0, exclusiveMin: true, default: 1e-3, description: "base learning rate" },
    momentum: { kind: "number", min: 0, description: "momentum (default 0.9 with sgd, 0 with adam)" },
    "weight-decay": { kind: "number", min: 0, default: 0, description: "L2 weight decay" },
    optimizer: { kind: "choice", choices: OPTIMIZERS, default: "sgd", description: "optimiser" },
    schedule: {
      kind: "choice",
      choices: SCHEDULES,
      default: "cosine",
      description: "cosine: the notebook's per-step CosineAnnealingLR; step: ×0.1 every ⌈epochs/3⌉ epochs",
    },
    warmup: { kind: "integer", min: 0, default: 0, description: "linear warm-up over the first N steps" },
    freeze: {
      kind: "choice",
      choices: FREEZE_MODES,
      default: "none",
      description: "base: VGG base fixed; base+aux: base and auxiliary convs fixed",
    },
    "head-init": {
      kind: "choice",
      choices: ["random", "voc", "voc-person"],
      default: "random",
      description:
        "new single-class heads of a VOC model: random, or the VOC background channel and the channel of the " +
        "VOC class named as the dataset's category (voc; random when VOC has none), or of person (voc-person)",
    },
    priors: {
      kind: "choice",
      choices: PRIOR_SET_NAMES,
      default: "reference",
      description: "prior boxes the heads learn offsets against (pedestrian: tall ratios only)",
    },
    augment: {
      kind: "boolean",
      negatable: true,
      description: "photometric distortion, zoom-out, IoU crop, flip (default off, as the notebook)",
    },
    shuffle: {
      kind: "boolean",
      negatable: true,
      default: true,
      description: "reshuffle the images every epoch",
    },
    seed: { kind: "integer", default: 0, description: "seed of initialisation, shuffling and augmentation" },
    "val-fraction": {
      kind: "number",
      min: 0,
      max: 1,
      exclusiveMax: true,
      default: 0.1,
      description: "part of the TRAIN split held out for val_loss / val_ap75 (never the test split)",
    },
    "max-pixels": MAX_PIXELS_FLAG,
    select: {
      kind: "choice",
      choices: SELECT_METRICS,
      default: "ap75",
      description: "validation metric that picks the best epoch kept in best/ (ap75, ap = AP@[.5:.95], loss)",
    },
    patience: {
      kind: "integer",
      min: 1,
      description: "stop after N epochs without improvement of --select (default: never; needs validation)",
    },
    restart: {
      kind: "boolean",
      description: "discard the run in --out (resume state, weights, best/, logs) and start over",
    },
    backend: BACKEND_FLAG,
    ...ENGINE_FLAGS,
  },
} as const satisfies CliSpec;

type FinetuneFlags = typeof FINETUNE_CLI.flags;

/** The finetune flags that are training settings (an experiment's `settings`, the resume key). */
export const SETTING_FLAGS = [
  "epochs",
  "batch-size",
  "micro-batch",
  "lr",
  "momentum",
  "weight-decay",
  "optimizer",
  "schedule",
  "warmup",
  "freeze",
  "head-init",
  "priors",
  "augment",
  "shuffle",
  "seed",
  "val-fraction",
  "select",
  "patience",
] as const satisfies readonly (keyof FinetuneFlags)[];
export type SettingFlag = typeof SETTING_FLAGS[number];

type Snake<S extends string> = S extends `${infer A}-${infer B}` ? `${A}_${Snake<B>}` : S;

/** One run's training settings by snake_case flag name (`batch-size` → `batch_size`), each optional. */
export type FinetuneSettings = { [K in SettingFlag as Snake<K>]?: FlagValue<FinetuneFlags[K]> };

/** The options of parsed finetune flags (the starting model, the training config, the engine). */
export function finetuneOptions(f: ParsedFlags<FinetuneFlags>): FinetuneOptions {
  const start: StartModel = f.checkpoint !== undefined
    ? { kind: "checkpoint", path: f.checkpoint }
    : f.weights !== undefined
    ? { kind: "weights", path: f.weights }
    : f.imagenet !== undefined
    ? { kind: "imagenet", path: f.imagenet }
    : { kind: "scratch", path: null };
  if (f.workers !== undefined && f.workers > 1 && f.backend === "tensorflow") {
    throw new UsageError("--workers > 1 needs --backend wasm or cpu (one tf.js instance per worker)");
  }
  if (f.patience !== undefined && f.valFraction === 0) {
    throw new UsageError("--patience needs validation images (--val-fraction > 0)");
  }
  return {
    dataset: f.dataset,
    start,
    out: withoutTrailingSlash(f.out),
    headInit: f.headInit,
    priorSet: f.priors,
    backend: f.backend,
    conv: f.conv,
    workers: f.workers,
    trustCheckpoint: f.trustCheckpoint,
    restart: f.restart,
    config: {
      epochs: f.epochs,
      batchSize: f.batchSize,
      microBatch: Math.min(f.batchSize, f.microBatch),
      optimizer: f.optimizer,
      lr: f.lr,
      momentum: f.momentum ?? (f.optimizer === "sgd" ? 0.9 : 0),
      weightDecay: f.weightDecay,
      schedule: f.schedule,
      warmup: f.warmup,
      freeze: f.freeze,
      augment: f.augment,
      shuffle: f.shuffle,
      seed: f.seed,
      valFraction: f.valFraction,
      select: f.select,
      patience: f.patience ?? null,
    },
  };
}

/** Parses and validates a finetune command line. @throws UsageError, HelpRequested */
export function parseFinetuneArgs(args: readonly string[]): FinetuneOptions {
  return finetuneOptions(parseFlags(FINETUNE_CLI, args));
}
/** Runs the task (flags as on the command line). */
export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(FINETUNE_CLI, args);
  const options = finetuneOptions(flags);
  await checkInputFiles(flags, ["dataset", "checkpoint", "weights", "imagenet"]);
  const { files, result } = await finetune(options);
  const last = result.log.epochs.at(-1);
  const best = result.best;
  console.log(
    `wrote ${files.join(", ")}` +
      (last ? ` (epoch ${last.epoch}: train_loss ${last.train_loss.toFixed(4)})` : "") +
      (best ? `; best epoch ${best.epoch} (val ${best.metric} ${best.value.toFixed(4)})` : "") +
      `; stopped: ${
        result.stopReason === "patience" ? `patience (${options.config.patience})` : "epochs done"
      }`,
  );
}

if (import.meta.main) await runTask("finetune", main);
