/**
 * Decode-checking many images at once on all cores: a few Deno workers (lib/image/check_worker.ts) each fully
 * decode the images they are sent (with the pixel limit) and report which fail, so that a bad image is found
 * before training or evaluation starts, not an epoch into it. Separate from the gradient worker pool
 * (lib/engine/pool.ts): these workers load no TF.js.
 * @module
 */
import type { CheckAnswer, CheckRequest } from "./check_worker.ts";
import { getMaxImagePixels } from "./header.ts";

/** One file to decode-check: its name (for messages), kind and a reader of its bytes. */
export interface CheckEntry {
  name: string;
  kind: "image" | "mask";
  read(): Uint8Array;
}

/** A file that did not decode, and why (the decoder's message). */
export interface CheckFailure {
  name: string;
  reason: string;
}

/** Worker count for `n` files: one per core (`navigator.hardwareConcurrency`), at most `n`, at most 8. */
export function checkWorkerCount(n: number): number {
  return Math.max(1, Math.min(n, navigator.hardwareConcurrency || 1, 8));
}

/**
 * Fully decodes every entry (PNG/JPEG to RGB, or a mask) on {@link checkWorkerCount} workers, with the current
 * pixel limit, reading each file's bytes on this thread just before sending it.
 * @param onDone called after each file with (done, total)
 * @returns every failure, in the entries' order (empty when all decode).
 */
export async function decodeCheckAll(
  entries: readonly CheckEntry[],
  opts: { workers?: number; onDone?: (done: number, total: number) => void } = {},
): Promise<CheckFailure[]> {
  const reasons: (string | null)[] = new Array(entries.length).fill(null);
  if (entries.length === 0) return [];
  const nWorkers = opts.workers ?? checkWorkerCount(entries.length);
  const maxPixels = getMaxImagePixels();
  let next = 0, done = 0;
  const workers: Worker[] = [];
  try {
    await Promise.all(Array.from({ length: nWorkers }, () => {
      const worker = new Worker(new URL("./check_worker.ts", import.meta.url).href, { type: "module" });
      workers.push(worker);
      return new Promise<void>((resolve, reject) => {
        const send = () => {
          while (next < entries.length) {
            const index = next++;
            let bytes: Uint8Array;
            try {
              bytes = entries[index].read();
            } catch (e) {
              reasons[index] = `cannot read: ${(e as Error).message}`;
              opts.onDone?.(++done, entries.length);
              continue;
            }
            const { name, kind } = entries[index];
            const request: CheckRequest = { index, name, kind, bytes, maxPixels };
            worker.postMessage(request);
            return;
          }
          resolve();
        };
        worker.onmessage = (e: MessageEvent<CheckAnswer>) => {
          reasons[e.data.index] = e.data.reason;
          opts.onDone?.(++done, entries.length);
          send();
        };
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`image check worker failed: ${e.message}`));
        };
        send();
      });
    }));
  } finally {
    for (const w of workers) w.terminate();
  }
  return entries.flatMap((e, i) => (reasons[i] === null ? [] : [{ name: e.name, reason: reasons[i]! }]));
}
