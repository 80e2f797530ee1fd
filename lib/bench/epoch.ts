/**
 * `deno task bench --epoch`: one whole epoch of the homework's training as users run it — `finetune` with its
 * defaults (decoding, augmentation off or on, the steps, per-epoch validation, the best epoch's weights and the
 * resume state written) against the notebook's own PyTorch loop (lib/bench/epoch_torch.py: DataLoader,
 * MultiBoxLoss, SGD, its perform_epoch) on the same Penn-Fudan images (finetune's train / validation split of the
 * prepared dataset), from the same start weights, with the same batch and threads, in the same run.
 * @module
 */
import { z } from "zod";
import { openPrepareInput, prepareRunDir } from "../data/mod.ts";
import { loadCheckpointFile, modelToStateDict, toSingleClass } from "../interop/mod.ts";
import { createSsd300, disposeModel } from "../ssd/mod.ts";
import { writeTorchStateDict } from "../torch/mod.ts";
import {
  EngineSchema,
  EpochTimingSchema,
  finetune,
  type FinetuneOptions,
  splitTrainVal,
} from "../train/mod.ts";
import { describeMachine } from "./machine.ts";
import { BenchReportSchema } from "./schema.ts";

/** epoch_torch.py's line: per epoch the wall seconds and where they went. */
export const TorchEpochLineSchema = z.object({
  torch_version: z.string(),
  threads: z.number().int(),
  batch_size: z.number().int(),
  loader_workers: z.number().int(),
  augment: z.boolean(),
  n_train: z.number().int(),
  n_val: z.number().int(),
  epochs: z.array(
    z.object({
      epoch: z.number().int(),
      /** training pass + evaluation pass */
      seconds: z.number(),
      train_seconds: z.number(),
      validation_seconds: z.number(),
      /** waiting for the DataLoader */
      data_wait_seconds: z.number(),
      /** forward, loss, backward, SGD and scheduler of the training batches */
      steps_seconds: z.number(),
      /** detect_objects on every batch (the notebook's perform_epoch does it in training too) */
      detect_seconds: z.number(),
      ap_seconds: z.number(),
      eval_forward_seconds: z.number(),
      train_loss: z.number(),
      val_loss: z.number(),
    }).passthrough(),
  ).min(1),
});

const EpochRunSchema = z.object({
  augment: z.boolean(),
  ours: z.object({ epochs: z.array(EpochTimingSchema).min(1), ms_per_train_image: z.number().nullable() }),
  torch: TorchEpochLineSchema.extend({ python: z.string() }).nullable(),
  /** ours / torch seconds of the last epoch (the steady state; the first one builds and warms up) */
  ratio: z.number().nullable(),
});

/** bench-epoch.json. */
export const EpochReportSchema = BenchReportSchema.pick({ created: true, machine: true }).extend({
  kind: z.literal("epoch"),
  data: z.string(),
  /** what both sides start from: "random (seed 0)" or the checkpoint converted to two classes */
  start: z.string(),
  n_train: z.number().int(),
  n_val: z.number().int(),
  batch_size: z.number().int(),
  epochs: z.number().int(),
  /** our engine, as finetune chose it */
  engine: EngineSchema.required({ threads: true }),
  runs: z.array(EpochRunSchema),
  torch_skipped_reason: z.string().nullable(),
});
export type EpochReport = z.infer<typeof EpochReportSchema>;

/** Options of {@link runEpochBench}. */
export interface EpochBenchOptions {
  /** Penn-Fudan zip or directory (prepare's --data) */
  data: string;
  /** a 21-class VOC or 2-class checkpoint to start from (its heads made 2-class, seed 0); default random seed 0 */
  checkpoint?: string;
  /** epochs per run; the last one is the reported steady state */
  epochs: number;
  /** augmentation settings to run, in order */
  augment: boolean[];
  /** --conv/--workers/--backend for finetune */
  engineArgs: string[];
  /** PyTorch threads (our engine's cores) */
  threads: number;
  /** the DataLoader's num_workers (the notebook's 8) */
  loaderWorkers: number;
  pythons: string[];
  torchScript: string;
  /** a folder to keep the runs in (default: a temporary one, removed) */
  keep?: string;
  progress?: (line: string) => void;
  /** `deno task finetune`'s flags parsed into its options (tasks/finetune.ts `parseFinetuneArgs`) */
  finetuneArgs: (args: readonly string[]) => FinetuneOptions;
}

async function firstTorchPython(
  pythons: readonly string[],
): Promise<{ python: string | null; tried: string[] }> {
  const tried: string[] = [];
  for (const python of pythons) {
    try {
      const probe = await new Deno.Command(python, {
        args: ["-c", "import torch, torchvision, PIL"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (probe.success) return { python, tried };
      tried.push(`${python}: no torch/torchvision/PIL`);
    } catch {
      tried.push(`${python}: not found`);
    }
  }
  return { python: null, tried };
}

/** Runs the epoch comparison (see the module comment); progress on `o.progress`. */
export async function runEpochBench(o: EpochBenchOptions): Promise<EpochReport> {
  const log = o.progress ?? (() => {});
  const dir = o.keep ?? await Deno.makeTempDir({ prefix: "ssd-bench-epoch-" });
  try {
    await Deno.mkdir(dir, { recursive: true });
    log(`preparing ${o.data} into ${dir}/data`);
    const input = await openPrepareInput(o.data, { cacheDir: `${dir}/cache`, quiet: true });
    const prepared = await prepareRunDir(input, { out: `${dir}/data`, quiet: true });
    const datasetPath = prepared.datasetPath;
    // the start weights both sides load: a 2-class model as a PyTorch state_dict
    const start = `${dir}/start.pth`;
    const model = o.checkpoint
      ? await loadCheckpointFile(o.checkpoint).then((m) => {
        const two = toSingleClass(m, "random", 0);
        disposeModel(m);
        return two;
      })
      : createSsd300(2, 0);
    await Deno.writeFile(start, writeTorchStateDict(await modelToStateDict(model), "start"));
    disposeModel(model);
    // finetune's split of the train images (its default --val-fraction and --seed)
    const defaults = o.finetuneArgs(["--dataset", datasetPath, "--checkpoint", start, "--out", dir]).config;
    const trainImages = prepared.dataset.images.filter((im) => im.split === "train");
    const split = splitTrainVal(trainImages, defaults.valFraction, defaults.seed);
    const files = (ims: typeof trainImages) => ims.map((im) => ({ file: im.file, mask: im.mask }));
    await Deno.writeTextFile(
      `${dir}/split.json`,
      JSON.stringify({ train: files(split.train), val: files(split.val) }),
    );
    const { python, tried } = await firstTorchPython(o.pythons);
    const runs: EpochReport["runs"] = [];
    let engine: EpochReport["engine"] | null = null;
    for (const augment of o.augment) {
      const what = `augmentation ${augment ? "on" : "off"}`;
      log(`${what}: deno task finetune, ${o.epochs} epochs`);
      const out = `${dir}/ours-${augment ? "aug" : "noaug"}`;
      const args = [
        "--dataset",
        datasetPath,
        "--checkpoint",
        start,
        "--out",
        out,
        "--epochs",
        String(o.epochs),
        "--restart",
        ...(augment ? ["--augment"] : []),
        ...o.engineArgs,
      ];
      const { run, result } = await finetune(o.finetuneArgs(args));
      engine = { ...run.engine, threads: run.engine.threads ?? 1 };
      let torch: EpochReport["runs"][number]["torch"] = null;
      if (python) {
        log(`${what}: the notebook's loop in PyTorch (${o.torchScript}), ${o.epochs} epochs`);
        const targs = [
          o.torchScript,
          "--split",
          `${dir}/split.json`,
          "--zip",
          input.path,
          "--start",
          start,
          "--epochs",
          String(o.epochs),
          "--batch-size",
          String(defaults.batchSize),
          "--threads",
          String(o.threads),
          "--loader-workers",
          String(o.loaderWorkers),
          ...(augment ? ["--augment"] : []),
        ];
        const r = await new Deno.Command(python, { args: targs, stdout: "piped", stderr: "piped" }).output();
        const text = new TextDecoder().decode(r.stdout).trim();
        if (!r.success) {
          throw new Error(
            `${python} ${targs.join(" ")} failed: ${new TextDecoder().decode(r.stderr).slice(-2000)}`,
          );
        }
        torch = { python, ...TorchEpochLineSchema.parse(JSON.parse(text.split("\n").at(-1) ?? "")) };
      }
      const lastOurs = result.epochTiming.at(-1)!, lastTorch = torch?.epochs.at(-1);
      runs.push({
        augment,
        ours: { epochs: result.epochTiming, ms_per_train_image: run.ms_per_train_image },
        torch,
        ratio: lastTorch ? lastOurs.seconds / lastTorch.seconds : null,
      });
    }
    return {
      kind: "epoch",
      created: new Date().toISOString(),
      machine: describeMachine(),
      data: o.data,
      start: o.checkpoint ? `${o.checkpoint} (heads made 2-class, seed 0)` : "random (createSsd300 seed 0)",
      n_train: split.train.length,
      n_val: split.val.length,
      batch_size: defaults.batchSize,
      epochs: o.epochs,
      engine: engine!,
      runs,
      torch_skipped_reason: python ? null : (tried.join("; ") || "no python interpreter given"),
    };
  } finally {
    if (!o.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Human-readable summary of the epoch comparison. */
export function formatEpochBench(r: EpochReport): string {
  const m = r.machine;
  const s = (x: number) => x.toFixed(1).padStart(6);
  const lines = [
    `one finetune epoch vs the notebook's PyTorch loop: ${r.n_train} train + ${r.n_val} validation images, ` +
    `batch ${r.batch_size}, epoch ${r.epochs} of ${r.epochs}; ${
      m.cpu_model ?? "unknown CPU"
    }, ${m.cores} cores, ` +
    `${m.isa}`,
    `start: ${r.start}; ours: ${r.engine.conv} on ${r.engine.workers} worker(s) × ${r.engine.threads} thread(s)`,
  ];
  for (const run of r.runs) {
    const o = run.ours.epochs.at(-1)!, t = run.torch?.epochs.at(-1);
    lines.push(
      `augmentation ${run.augment ? "on" : "off"}: ours ${o.seconds.toFixed(1)} s, PyTorch ${
        t ? `${t.seconds.toFixed(1)} s` : "n/a"
      }, ours/PT ${run.ratio === null ? "n/a" : `${run.ratio.toFixed(2)}×`}`,
      `  ours (s):    prepare ${s(o.prepare)}  gradients ${s(o.gradients)}  update ${
        s(o.update)
      }  validation ${s(o.validation)}  save ${s(o.save)}  (first epoch ${
        run.ours.epochs[0].seconds.toFixed(1)
      } s)`,
    );
    if (t) {
      lines.push(
        `  PyTorch (s): data wait ${s(t.data_wait_seconds)}  steps ${s(t.steps_seconds)}  detect ${
          s(t.detect_seconds)
        }  AP ${s(t.ap_seconds)}  validation ${s(t.validation_seconds)}  (first epoch ${
          run.torch!.epochs[0].seconds.toFixed(1)
        } s)`,
      );
    }
  }
  if (r.torch_skipped_reason) lines.push(`PyTorch: ${r.torch_skipped_reason}`);
  return lines.join("\n");
}
