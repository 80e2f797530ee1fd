/**
 * The best epoch of a run: which validation metric chooses it (`--select`), when a value improves, and the
 * `best/` folder beside the last epoch's weights (`best/weights.json` + `weights.bin`, `best/model.pth`), which
 * `ap` (and through it `experiments` and `demo`, and so the report) uses by default when it exists.
 * @module
 */
import { basename, dirname } from "node:path";
import { exists, writeFileAtomic } from "../core/mod.ts";
import { modelToStateDict, saveWeights } from "../interop/mod.ts";
import type { SsdModel } from "../ssd/mod.ts";
import { writeTorchStateDict } from "../torch/mod.ts";
import { readRunJson, RUN_JSON_FILE, type RunJson } from "./run_json.ts";

/** Validation metrics that can choose the best epoch (`--select`): AP@0.75, AP@[.5:.95], validation loss. */
export const SELECT_METRICS = ["ap75", "ap", "loss"] as const;
export type SelectMetric = typeof SELECT_METRICS[number];

/** The best epoch so far by the selection metric (its value on the validation images). */
export interface BestEpoch {
  epoch: number;
  metric: SelectMetric;
  value: number;
}

/** The folder of the best epoch's weights inside a run directory. */
export const BEST_DIR = "best";

/** Whether `value` of `metric` improves on `best` (strictly: a tie keeps the earlier epoch; NaN never does). */
export function improves(metric: SelectMetric, value: number, best: BestEpoch | null): boolean {
  if (!Number.isFinite(value)) return false;
  if (best === null) return true;
  return metric === "loss" ? value < best.value : value > best.value;
}

/**
 * Writes the model as the run's best: `runDir/best/weights.json` (+ .bin) and `runDir/best/model.pth`.
 * @param runDir the run folder, or the staging folder of its next set (lib/core/run_folder.ts)
 */
export async function writeBestWeights(runDir: string, model: SsdModel): Promise<string[]> {
  const files = [`${runDir}/${BEST_DIR}/weights.json`, `${runDir}/${BEST_DIR}/model.pth`];
  await Deno.mkdir(`${runDir}/${BEST_DIR}`, { recursive: true });
  await saveWeights(files[0], model);
  await writeFileAtomic(files[1], writeTorchStateDict(await modelToStateDict(model), "model"));
  return files;
}

/** Which weights of a run {@link chooseRunWeights} picked, and a line saying so. */
export interface RunWeightsChoice {
  /** the weights.json to evaluate */
  file: string;
  /** best: the run's best/; last: the last epoch's (asked for, or no best/); given: not a run's weights.json */
  which: "best" | "last" | "given";
  /** the best epoch (from run.json), when known */
  bestEpoch?: number;
  /** e.g. `using best/ (epoch 3, val ap75 0.4120) of run/; --last for the last epoch's weights` */
  note: string;
}

/**
 * The weights a consumer of a run's `weights.json` evaluates: the run's `best/weights.json` when it exists beside
 * it and `last` is not asked for, else the given file.
 * @param weightsFile a weights.json (a finetune run's, or any of our weights files)
 */
export async function chooseRunWeights(weightsFile: string, last: boolean): Promise<RunWeightsChoice> {
  const dir = dirname(weightsFile);
  const best = `${dir}/${BEST_DIR}/weights.json`;
  if (basename(weightsFile) !== "weights.json" || basename(dir) === BEST_DIR || !(await exists(best))) {
    return { file: weightsFile, which: "given", note: `using ${weightsFile}` };
  }
  const read = (await exists(`${dir}/${RUN_JSON_FILE}`)) ? await readRunJson(`${dir}/${RUN_JSON_FILE}`) : {};
  const run = "task" in read ? read as RunJson : undefined;
  const b = run?.best ?? undefined;
  const epochs = run?.stopped ? ` of ${run.stopped.epochs_done}` : "";
  const what = b ? ` (epoch ${b.epoch}${epochs}, val ${b.metric} ${b.value.toFixed(4)})` : "";
  return last
    ? {
      file: weightsFile,
      which: "last",
      bestEpoch: b?.epoch,
      note: `using the last epoch's ${weightsFile} (--last)`,
    }
    : {
      file: best,
      which: "best",
      bestEpoch: b?.epoch,
      note: `using ${best}${what}, the run's best epoch; --last for the last epoch's weights`,
    };
}
