/**
 * What a fine-tuning run is asked to do: the dataset, the starting model, the output folder, the engine and the
 * training config (tasks/finetune.ts parses its flags into this; lib/train/finetune.ts runs it).
 * @module
 */
import type { BackendChoice, ConvChoice } from "../engine/mod.ts";
import type { PriorSetName } from "../ssd/mod.ts";
import type { TrainConfig } from "./loop.ts";
import type { StartModel } from "./run_json.ts";

/** What `deno task finetune` was asked to do. */
export interface FinetuneOptions {
  dataset: string;
  start: StartModel;
  out: string;
  headInit: "random" | "voc" | "voc-person";
  /** prior set of the trained model (priors for matching, validation and later detection) */
  priorSet: PriorSetName;
  backend: BackendChoice;
  /** convolution kernels (`--conv`; auto: oneDNN when it loads) */
  conv: ConvChoice;
  /** data-parallel workers (`--workers`); undefined: the engine's default on all cores */
  workers?: number;
  /** read a start .pth whose pickle would call code anyway (its tensors only) */
  trustCheckpoint: boolean;
  /** discard the run already in `out` and start over */
  restart: boolean;
  config: TrainConfig;
}
