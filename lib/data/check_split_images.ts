/**
 * Decode-checking the images of a dataset that a task will use, before its first step (lib/image/check.ts, on
 * all cores): every unreadable image is listed at once, so no training or evaluation time is wasted on a run
 * that would stop at the first corrupt file.
 * @module
 */
import { Progress } from "../progress/mod.ts";
import { decodeCheckAll } from "../image/check.ts";
import type { DatasetImage } from "./dataset.ts";
import { DatasetError } from "./problems.ts";
import type { DataSource } from "./source.ts";

/**
 * Fully decodes every image of `images` (not their masks: training and evaluation use only the images and
 * dataset.json's boxes), with progress on stderr unless `quiet`.
 * @throws DatasetError listing every image that does not decode, each with the decoder's reason.
 */
export async function checkImagesDecode(
  source: DataSource,
  images: readonly DatasetImage[],
  opts: { quiet?: boolean } = {},
): Promise<void> {
  const progress = new Progress("check images", images.length, { unit: "img", quiet: opts.quiet });
  let failures;
  try {
    failures = await decodeCheckAll(
      images.map((im) => ({ name: im.file, kind: "image" as const, read: () => source.read(im.file) })),
      { onDone: (done) => progress.update(done) },
    );
  } finally {
    progress.finish();
  }
  if (failures.length > 0) {
    throw new DatasetError(failures.map((f) => ({ file: f.name, message: f.reason })));
  }
}
