/**
 * A fine-tuning run, as `deno task finetune` does it: read the dataset, take the starting model (or the run's
 * resume state), start the gradient engine, train with progress on stderr, and write weights.json + weights.bin,
 * model.pth, train-log.json and run.json into the output directory (resume.bin after every epoch). The run holds
 * the output folder's lock throughout (a second run into it exits 1 naming this one), and every write is one set
 * committed at once (lib/core/run_folder.ts): an epoch's resume.bin, logs and best/ together, then the final
 * weights, logs and run.json together — a crash or a full disk leaves the previous epoch's set.
 * @module
 */
import { Progress } from "../progress/mod.ts";
import { InputError, lockRunFolder, writeFileAtomic } from "../core/mod.ts";
import { categoryName, checkImagesDecode, openDatasetSource, readDataset } from "../data/mod.ts";
import { initEngine, startRunner } from "../engine/mod.ts";
import {
  createSsd300FromVgg16,
  loadCheckpointFile,
  loadWeights,
  modelToStateDict,
  readStateDictFile,
  saveWeights,
  toSingleClass,
  vocClassOf,
} from "../interop/mod.ts";
import { createSsd300, disposeModel, type SsdModel, VOC_LABELS, VOC_PERSON_CLASS } from "../ssd/mod.ts";
import { writeTorchStateDict } from "../torch/mod.ts";
import { NonFiniteLossError, train, type TrainResult } from "./loop.ts";
import type { FinetuneOptions } from "./finetune_options.ts";
import { BEST_DIR, type BestEpoch, writeBestWeights } from "./best.ts";
import { encodeResumeState, loadResumeState, RESUME_FILE, ResumeStateError } from "./resume.ts";
import { datasetFingerprint, resumeKey, startFingerprint } from "./resume_key.ts";
import { RUN_JSON_FILE, type RunJson, type Stopped, writeRunJson } from "./run_json.ts";
import { splitTrainVal, trainItemsOf } from "./samples.ts";
import { TRAIN_LOG_CSV_FILE, TRAIN_LOG_FILE, writeTrainingLogs } from "./train_log.ts";

/** What a finished run wrote. */
export interface FinetuneSummary {
  /** the files written, full paths */
  files: string[];
  run: RunJson;
  result: TrainResult;
}

const say = (line: string) => console.error(line);

/** What a run directory holds that `--restart` discards (ap's outputs too: they scored the old weights). */
const RUN_FILES = [
  RESUME_FILE,
  BEST_DIR,
  "weights.json",
  "weights.bin",
  "model.pth",
  TRAIN_LOG_FILE,
  TRAIN_LOG_CSV_FILE,
  RUN_JSON_FILE,
  "ap.json",
  "gt.coco.json",
  "detections.coco.json",
];

/** Removes the run in `dir` (the files of {@link RUN_FILES} that exist); says what went. */
async function discardRun(dir: string): Promise<void> {
  const gone: string[] = [];
  for (const name of RUN_FILES) {
    if (await Deno.remove(`${dir}/${name}`, { recursive: true }).then(() => true, () => false)) {
      gone.push(name);
    }
  }
  if (gone.length > 0) say(`--restart: removed ${gone.join(", ")} from ${dir}`);
}

/**
 * What `--head-init` means for a dataset of category `category`: `voc` keeps the VOC class of the same name
 * (case-insensitive), or falls back to random heads when VOC has none (`note` says so); `voc-person` always keeps
 * person. `recorded` is what run.json's head_init says: "random", "voc-person", "voc-<class>".
 */
export function resolveHeadInit(
  headInit: FinetuneOptions["headInit"],
  category: string,
): { init: "random" | "voc"; vocClass: number; recorded: string; note?: string } {
  if (headInit === "random") return { init: "random", vocClass: VOC_PERSON_CLASS, recorded: "random" };
  const vocClass = headInit === "voc-person" ? VOC_PERSON_CLASS : vocClassOf(category);
  if (vocClass === null) {
    return {
      init: "random",
      vocClass: VOC_PERSON_CLASS,
      recorded: "random",
      note: `--head-init voc: VOC has no class "${category}" (classes: ${
        VOC_LABELS.slice(1).join(", ")
      }); the new heads start at random`,
    };
  }
  const name = VOC_LABELS[vocClass];
  return { init: "voc", vocClass, recorded: name === "person" ? "voc-person" : `voc-${name}` };
}

/** The starting model of a run, converted to 2 classes, with the run's prior set (`--priors`). */
async function initialModel(o: FinetuneOptions, category: string): Promise<SsdModel> {
  const { kind, path } = o.start;
  let model: SsdModel;
  if (kind === "scratch" || path === null) model = createSsd300(2, o.config.seed);
  else if (kind === "imagenet") {
    const vgg = await readStateDictFile(path, "vgg16", { trustCheckpoint: o.trustCheckpoint, onNote: say });
    model = createSsd300FromVgg16(2, vgg, o.config.seed, path);
  } else {
    const read = { trustCheckpoint: o.trustCheckpoint, onNote: say };
    model = kind === "weights" ? await loadWeights(path) : await loadCheckpointFile(path, read);
    const from = model.priorSet ?? "reference";
    if (from !== o.priorSet) {
      say(`${path}: heads were trained on ${from} priors; fine-tuning them on ${o.priorSet} priors`);
    }
    if (model.nClasses !== 2) {
      if (o.headInit !== "random" && model.nClasses !== VOC_LABELS.length) {
        disposeModel(model);
        throw new InputError(
          `${path}: --head-init ${o.headInit} needs a ${VOC_LABELS.length}-class VOC model, this one has ${model.nClasses} classes`,
        );
      }
      const heads = resolveHeadInit(o.headInit, category);
      if (heads.note) say(heads.note);
      const single = toSingleClass(model, heads.init, o.config.seed, heads.vocClass);
      disposeModel(model);
      model = single;
    }
  }
  model.priorSet = o.priorSet;
  return model;
}

/**
 * Runs the fine-tuning of `o` and writes its outputs.
 * @throws InputError subclasses for known problems: an invalid dataset.json or starting model, a resume state
 *   of other settings, a non-finite loss (naming epoch and batch, and where the last good resume state is)
 */
export async function finetune(o: FinetuneOptions): Promise<FinetuneSummary> {
  const t0 = performance.now();
  await using folder = await lockRunFolder(o.out, "finetune"); // one writer, for the whole run
  const dataset = await readDataset(o.dataset);
  const engineInfo = await initEngine({ backend: o.backend, conv: o.conv, workers: o.workers, use: "train" });
  const source = await openDatasetSource(dataset, o.dataset);
  await checkImagesDecode(source, dataset.images.filter((im) => im.split === "train")); // before any step
  const { train: trainSet, val: valSet } = splitTrainVal(
    trainItemsOf(dataset, source),
    o.config.valFraction,
    o.config.seed,
  );
  if (trainSet.length === 0) {
    throw new InputError(
      `${o.dataset}: no training images left after --val-fraction ${o.config.valFraction}`,
    );
  }
  const resumeFile = `${o.out}/${RESUME_FILE}`;
  if (o.restart) await discardRun(o.out);
  const key = resumeKey(o, await datasetFingerprint(dataset, source), await startFingerprint(o));
  const saved = await loadResumeState(o.out, key, say);
  const c = o.config;
  if (saved && saved.state.epoch > c.epochs) {
    disposeModel(saved.model);
    throw new ResumeStateError(
      `${resumeFile} is after epoch ${saved.state.epoch}, more than --epochs ${c.epochs}; pass --epochs ` +
        `${saved.state.epoch} or more to continue it, or --restart to start over`,
    );
  }
  if (!saved) await Deno.remove(`${o.out}/${BEST_DIR}`, { recursive: true }).catch(() => {}); // a stale best/
  const category = categoryName(dataset);
  const model = saved?.model ?? await initialModel(o, category);
  model.priorSet = o.priorSet; // a resume state's are the same (part of its settings)
  model.classNames = ["background", category];
  const resume = saved?.state;
  say(
    `finetune: ${trainSet.length} train + ${valSet.length} val images, ${c.epochs} epochs, batch ${c.batchSize} ` +
      `(micro ${c.microBatch}), ${c.optimizer} lr ${c.lr} ${c.schedule}, freeze ${c.freeze}, ` +
      `augment ${c.augment ? "on" : "off"}, ${o.priorSet} priors`,
  );
  const startEpoch = resume?.epoch ?? 0;
  const imagesToTrain = (c.epochs - startEpoch) * trainSet.length;
  const progress = new Progress("train", imagesToTrain, { unit: "img", quiet: imagesToTrain === 0 });
  let imagesDone = 0, haveResumeState = resume !== undefined;
  let best: BestEpoch | null = resume?.best ?? null;
  /** run.json of this run (also written when a non-finite loss stops it) */
  const engine: RunJson["engine"] = {
    backend: engineInfo.backend,
    conv: engineInfo.conv,
    workers: engineInfo.workers,
    threads: engineInfo.threads,
    ...(engineInfo.adapter ? { adapter: engineInfo.adapter } : {}),
  };
  const runJson = (
    stopped: Stopped,
    n: number,
    trainMs: number,
    stepS: number,
    epochTiming: RunJson["epoch_timing"] = [],
  ) => ({
    task: "finetune" as const,
    kind: "finetuned" as const,
    dataset: o.dataset,
    start: o.start,
    head_init: o.start.kind === "checkpoint" || o.start.kind === "weights"
      ? resolveHeadInit(o.headInit, category).recorded
      : o.headInit,
    engine,
    settings: { ...c, priorSet: o.priorSet },
    n_train: trainSet.length,
    n_val: valSet.length,
    val_ids: valSet.map((v) => v.id),
    resumed_from_epoch: startEpoch,
    best: valSet.length > 0 ? best : null,
    stopped,
    seconds: (performance.now() - t0) / 1000,
    ms_per_image: n > 0 ? trainMs / n : null,
    ms_per_train_image: n > 0 ? (stepS * 1000) / n : null,
    epoch_timing: epochTiming,
    finished: new Date().toISOString(),
  });
  try {
    const runner = await startRunner(model, engineInfo, { microBatch: c.microBatch });
    const trainStart = performance.now();
    let result: TrainResult;
    try {
      result = await train(model, trainSet, valSet, c, {
        gradients: runner.gradients,
        sgd: runner.sgd,
        forward: runner.forward,
        resume,
        onStep: (s) => {
          imagesDone += s.images;
          progress.update(
            imagesDone,
            `epoch ${s.epoch}/${c.epochs} step ${s.batch}/${s.batchesPerEpoch} (${s.step}) loss ${
              s.loss.toFixed(4)
            }`,
          );
        },
        onEpoch: (e) =>
          progress.log(
            `epoch ${e.epoch}/${c.epochs} done: train_loss ${e.train_loss.toFixed(4)}` +
              (e.val_loss === null
                ? ""
                : ` val_loss ${e.val_loss.toFixed(4)} val_ap75 ${e.val_ap75!.toFixed(4)} ` +
                  `val_ap ${e.val_ap!.toFixed(4)}`),
          ),
        onBest: async (b) => {
          best = b;
          await writeBestWeights(folder.stagingDir(), model); // committed with the epoch's resume state
          progress.log(
            `epoch ${b.epoch}: best so far (val ${b.metric} ${b.value.toFixed(4)}) → ${o.out}/${BEST_DIR}/`,
          );
        },
        saveResumeState: async (state) => {
          await writeFileAtomic(folder.staged(RESUME_FILE), await encodeResumeState(model, state, key));
          await writeTrainingLogs(folder.stagingDir(), state.log);
          await folder.commit();
          haveResumeState = true;
        },
      });
    } catch (e) {
      if (!(e instanceof NonFiniteLossError)) throw e;
      const stopped = {
        reason: "non-finite loss" as const,
        epochs_done: e.epoch - 1,
        epoch: e.epoch,
        batch: e.batch,
      };
      await writeRunJson(folder.staged(RUN_JSON_FILE), runJson(stopped, 0, 0, 0));
      await folder.commit();
      throw new NonFiniteLossError(
        e.epoch,
        e.batch,
        e.loss,
        `training stopped; ${
          haveResumeState
            ? `the last good resume state is kept in ${resumeFile}`
            : "no epoch had completed, so there is no resume state"
        }`,
        e.images,
      );
    } finally {
      progress.finish();
      await runner.close();
    }
    const trainMs = performance.now() - trainStart;
    const files = [`${o.out}/weights.json`, `${o.out}/model.pth`];
    await saveWeights(folder.staged("weights.json"), model);
    await writeFileAtomic(
      folder.staged("model.pth"),
      writeTorchStateDict(await modelToStateDict(model), "model"),
    );
    await writeTrainingLogs(folder.stagingDir(), result.log);
    files.push(`${o.out}/${TRAIN_LOG_FILE}`, `${o.out}/${TRAIN_LOG_CSV_FILE}`, `${o.out}/${RUN_JSON_FILE}`);
    const stopped = { reason: result.stopReason, epochs_done: result.epochsDone };
    const run: RunJson = runJson(
      stopped,
      result.imagesTrained,
      trainMs,
      result.stepSeconds,
      result.epochTiming,
    );
    if (result.stopReason === "patience") {
      say(
        `stopped after epoch ${result.epochsDone}: ${c.patience} epochs without improvement of val ${c.select}`,
      );
    }
    if (result.best) files.push(`${o.out}/${BEST_DIR}/ (epoch ${result.best.epoch})`);
    await writeRunJson(folder.staged(RUN_JSON_FILE), run);
    await folder.commit(); // the final weights, logs and run.json together
    return { files, run, result };
  } finally {
    disposeModel(model);
  }
}
