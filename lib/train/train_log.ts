/**
 * `train-log.json`, written by `deno task finetune` after every epoch and at the end, read by the report: the
 * loss of every optimiser step and, per epoch, the mean training loss and the validation loss and AP@0.75.
 * @module
 */
import { z } from "zod";
import { readJsonArtifact, writeJsonArtifact } from "../core/mod.ts";

/** The file name inside a run directory. */
export const TRAIN_LOG_FILE = "train-log.json";

/**
 * `train-log.json`. Losses are the reference's MultiBox loss (before the step's update); `val_*` are null without
 * a validation set. Older logs may carry `settings` (the report shows them for runs without run.json).
 */
export const TrainingLogSchema = z.object({
  steps: z.array(
    z.object({ epoch: z.number().int().min(1), step: z.number().int().min(1), loss: z.number() }),
  ),
  epochs: z.array(z.object({
    epoch: z.number().int().min(1),
    train_loss: z.number(),
    val_loss: z.number().nullable(),
    val_ap75: z.number().nullable(),
  })),
  settings: z.record(z.string(), z.unknown()).optional(),
});
export type TrainingLog = z.infer<typeof TrainingLogSchema>;

/** Writes `train-log.json` (validated, atomically). */
export async function writeTrainingLog(file: string, log: TrainingLog): Promise<void> {
  await writeJsonArtifact(file, TrainingLogSchema, log);
}

/** Reads and validates `train-log.json`. @throws ArtifactError naming the file and field */
export async function readTrainingLog(file: string): Promise<TrainingLog> {
  return await readJsonArtifact(file, TrainingLogSchema);
}
