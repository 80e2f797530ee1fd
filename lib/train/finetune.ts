/**
 * A fine-tuning run, as `deno task finetune` does it: read the dataset, take the starting model (or the run's
 * resume state), start the gradient engine, train with progress on stderr, and write weights.json + weights.bin,
 * model.pth, train-log.json and run.json into the output directory (resume.bin after every epoch).
 * @module
 */
import { Progress } from "../cli/mod.ts";
import { InputError, writeFileAtomic } from "../core/mod.ts";
import { checkImagesDecode, openDatasetSource, readDataset } from "../data/mod.ts";
import { initBackend } from "../engine/mod.ts";
import {
  createSsd300FromVgg16,
  loadCheckpointFile,
  loadWeights,
  modelToStateDict,
  readStateDictFile,
  saveWeights,
  toSingleClass,
} from "../interop/mod.ts";
import { createSsd300, disposeModel, type SsdModel, VOC_LABELS } from "../ssd/mod.ts";
import { writeTorchStateDict } from "../torch/mod.ts";
import { startGradientEngine } from "./engine.ts";
import type { FinetuneOptions } from "./finetune_flags.ts";
import { NonFiniteLossError, train, type TrainResult } from "./loop.ts";
import { encodeResumeState, loadResumeState, RESUME_FILE } from "./resume.ts";
import { RUN_JSON_FILE, type RunJson, writeRunJson } from "./run_json.ts";
import { splitTrainVal, trainItemsOf } from "./samples.ts";
import { TRAIN_LOG_FILE, writeTrainingLog } from "./train_log.ts";

/** What a finished run wrote. */
export interface FinetuneSummary {
  /** the files written, full paths */
  files: string[];
  run: RunJson;
  result: TrainResult;
}

const say = (line: string) => console.error(line);

/** Settings that must match for a resume (a different run must not continue this one's resume state). */
function resumeSettings(o: FinetuneOptions): Record<string, unknown> {
  return { dataset: o.dataset, start: o.start, headInit: o.headInit, anchors: o.anchors, ...o.config };
}

/** The starting model of a run, converted to 2 classes, with the run's anchor set (`--anchors`). */
async function initialModel(o: FinetuneOptions): Promise<SsdModel> {
  const { kind, path } = o.start;
  let model: SsdModel;
  if (kind === "scratch" || path === null) model = createSsd300(2, o.config.seed);
  else if (kind === "imagenet") {
    const vgg = await readStateDictFile(path, "vgg16", { trustCheckpoint: o.trustCheckpoint, onNote: say });
    model = createSsd300FromVgg16(2, vgg, o.config.seed, path);
  } else {
    const read = { trustCheckpoint: o.trustCheckpoint, onNote: say };
    model = kind === "weights" ? await loadWeights(path) : await loadCheckpointFile(path, read);
    const from = model.anchors ?? "reference";
    if (from !== o.anchors) {
      say(`${path}: heads were trained on ${from} anchors; fine-tuning them on ${o.anchors} anchors`);
    }
    if (model.nClasses !== 2) {
      if (o.headInit === "voc-person" && model.nClasses !== VOC_LABELS.length) {
        disposeModel(model);
        throw new InputError(
          `${path}: --head-init voc-person needs a ${VOC_LABELS.length}-class VOC model, this one has ${model.nClasses} classes`,
        );
      }
      const single = toSingleClass(model, o.headInit, o.config.seed);
      disposeModel(model);
      model = single;
    }
  }
  model.anchors = o.anchors;
  return model;
}

/**
 * Runs the fine-tuning of `o` and writes its outputs.
 * @throws InputError subclasses for known problems: an invalid dataset.json or starting model, a resume state
 *   of other settings, a non-finite loss (naming epoch and batch, and where the last good resume state is)
 */
export async function finetune(o: FinetuneOptions): Promise<FinetuneSummary> {
  const t0 = performance.now();
  const dataset = await readDataset(o.dataset);
  const backend = await initBackend(o.backend);
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
  await Deno.mkdir(o.out, { recursive: true });
  const resumeFile = `${o.out}/${RESUME_FILE}`;
  const saved = await loadResumeState(o.out, resumeSettings(o), say);
  const model = saved?.model ?? await initialModel(o);
  model.anchors = o.anchors; // a resume state's are the same (part of its settings)
  const resume = saved?.state;
  const c = o.config;
  say(
    `finetune: ${trainSet.length} train + ${valSet.length} val images, ${c.epochs} epochs, batch ${c.batchSize} ` +
      `(micro ${c.microBatch}), ${c.optimizer} lr ${c.lr} ${c.schedule}, freeze ${c.freeze}, ` +
      `augment ${c.augment ? "on" : "off"}, ${o.anchors} anchors, backend ${backend}`,
  );
  const startEpoch = resume?.epoch ?? 0;
  const imagesToTrain = (c.epochs - startEpoch) * trainSet.length;
  const progress = new Progress("train", imagesToTrain, { unit: "img", quiet: imagesToTrain === 0 });
  let imagesDone = 0, haveResumeState = resume !== undefined;
  try {
    const engine = await startGradientEngine(model, { ...o, microBatch: c.microBatch }, backend, say);
    const trainStart = performance.now();
    let result: TrainResult;
    try {
      result = await train(model, trainSet, valSet, c, {
        gradients: engine.gradients,
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
                : ` val_loss ${e.val_loss.toFixed(4)} val_ap75 ${e.val_ap75!.toFixed(4)}`),
          ),
        saveResumeState: async (state) => {
          await writeFileAtomic(resumeFile, encodeResumeState(model, state, resumeSettings(o)));
          await writeTrainingLog(`${o.out}/${TRAIN_LOG_FILE}`, state.log);
          haveResumeState = true;
        },
      });
    } catch (e) {
      if (!(e instanceof NonFiniteLossError)) throw e;
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
      await engine.close();
    }
    const trainMs = performance.now() - trainStart;
    const files = [
      `${o.out}/weights.json`,
      `${o.out}/model.pth`,
      `${o.out}/${TRAIN_LOG_FILE}`,
      `${o.out}/${RUN_JSON_FILE}`,
    ];
    await saveWeights(files[0], model);
    await writeFileAtomic(files[1], writeTorchStateDict(modelToStateDict(model), "model"));
    await writeTrainingLog(files[2], result.log);
    const n = result.imagesTrained;
    const run: RunJson = {
      task: "finetune",
      kind: "finetuned",
      dataset: o.dataset,
      start: o.start,
      head_init: o.headInit,
      engine: engine.engine,
      settings: { ...c, anchors: o.anchors, workers: o.workers, native_conv: o.nativeConv },
      n_train: trainSet.length,
      n_val: valSet.length,
      val_ids: valSet.map((v) => v.id),
      resumed_from_epoch: startEpoch,
      seconds: (performance.now() - t0) / 1000,
      ms_per_image: n > 0 ? trainMs / n : null,
      ms_per_train_image: n > 0 ? (result.stepSeconds * 1000) / n : null,
      finished: new Date().toISOString(),
    };
    await writeRunJson(files[3], run);
    return { files, run, result };
  } finally {
    disposeModel(model);
  }
}
