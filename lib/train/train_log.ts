/**
 * `train-log.json`, written by `deno task finetune` after every epoch and at the end, read by the report: the
 * loss of every optimiser step and, per epoch, the mean training loss, the validation loss, AP@0.75 and
 * AP@[.5:.95], the learning rate and the epoch's seconds; `train-log.csv` holds the per-epoch rows as CSV.
 * @module
 */
import { z } from "zod";
import { readJsonArtifact, writeFileAtomic, writeJsonArtifact } from "../core/mod.ts";

/** The file name inside a run directory. */
export const TRAIN_LOG_FILE = "train-log.json";
/** The same per-epoch rows as CSV, beside it (for spreadsheets and plotting). */
export const TRAIN_LOG_CSV_FILE = "train-log.csv";
/** The CSV's columns, in order; empty cells: no validation set (or an older log without that field). */
export const TRAIN_LOG_CSV_COLUMNS = [
  "epoch",
  "train_loss",
  "val_loss",
  "val_ap75",
  "val_ap",
  "lr",
  "seconds",
] as const;

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
    /** AP@[.5:.95] on the validation images (absent in older logs) */
    val_ap: z.number().nullable().optional(),
    /** learning rate of the epoch's last update (absent in older logs) */
    lr: z.number().optional(),
    /** wall-clock seconds of the epoch, validation included (absent in older logs) */
    seconds: z.number().optional(),
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

/** The per-epoch rows of a log as CSV text: a header of {@link TRAIN_LOG_CSV_COLUMNS}, one line per epoch. */
export function trainingLogCsv(log: TrainingLog): string {
  const cell = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? String(v) : "");
  const rows = log.epochs.map((e) =>
    TRAIN_LOG_CSV_COLUMNS.map((c) => cell((e as Record<string, unknown>)[c])).join(",")
  );
  return [TRAIN_LOG_CSV_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

/** Writes `train-log.json` and `train-log.csv` into run directory `dir` (each atomically). */
export async function writeTrainingLogs(dir: string, log: TrainingLog): Promise<string[]> {
  const json = `${dir}/${TRAIN_LOG_FILE}`, csv = `${dir}/${TRAIN_LOG_CSV_FILE}`;
  await writeTrainingLog(json, log);
  await writeFileAtomic(csv, trainingLogCsv(log));
  return [json, csv];
}
