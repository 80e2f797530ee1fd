/**
 * `deno task finetune` — fine-tunes SSD300 as a single-class (person) detector on a prepared dataset
 * (lib/train/finetune.ts; flags in lib/train/finetune_flags.ts, `--help` lists them). Writes into --out:
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
import { checkInputFiles, parseFlags, runTask } from "../lib/cli/mod.ts";
import { setMaxImagePixels } from "../lib/image/mod.ts";
import { finetune, FINETUNE_CLI, finetuneOptions } from "../lib/train/mod.ts";

/** Runs the task (flags as on the command line). */
export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(FINETUNE_CLI, args);
  setMaxImagePixels(flags.maxPixels);
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
