/**
 * Loading a model from a file users have: a reference `.pth` / `.pth.tar` checkpoint (zip or legacy `torch.save`)
 * or our weights manifest.
 * @module
 */
import { READ_LIMITS, readRegularFile } from "../core/mod.ts";
import type { SsdModel } from "../ssd/mod.ts";
import { type CheckpointOptions, readStateDict } from "./identify.ts";
import { modelFromStateDict } from "./state_dict.ts";
import { loadWeights } from "./weights.ts";

/** True when `bytes` look like our JSON weights manifest rather than a torch file. */
function looksLikeJson(bytes: Uint8Array): boolean {
  for (const b of bytes.subarray(0, 64)) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b; // "{"
  }
  return false;
}

/**
 * Loads a full SSD300 from a `.pth`/`.pth.tar` reference checkpoint (zip or legacy, via `readStateDict`: refuses
 * pickles that would run code unless `opts.trustCheckpoint`, strips a DataParallel prefix telling `opts.onNote`)
 * or from our weights manifest (`.json`). The file must be a regular file of at most `READ_LIMITS.model` (2 GiB).
 * @throws FileReadError when it cannot be read; WrongModelError when it is another model's; StateDictError (listing every problem) when a torch file is
 *   not a full SSD300 state_dict
 */
export async function loadCheckpointFile(path: string, opts: CheckpointOptions = {}): Promise<SsdModel> {
  const bytes = await readRegularFile(path, READ_LIMITS.model);
  if (looksLikeJson(bytes)) return await loadWeights(path);
  return modelFromStateDict(readStateDict(bytes, path, "ssd300", opts), path);
}
