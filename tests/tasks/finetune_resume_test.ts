/**
 * deno task finetune's run directory over several invocations: best/, train-log.csv and run.json (best, stopped);
 * the resume key (a changed dataset.json at the same path is refused, naming the difference; --restart starts
 * over); a larger --epochs continues a finished run to the weights of a run started with it (constant schedule;
 * the cosine rule is tested in tests/train/best_test.ts). Tiny: 2–3 fixture images, heads only (--freeze base+aux).
 */
import assert from "node:assert/strict";
import { type Dataset, readDataset, writeDataset } from "../../lib/data/mod.ts";
import { saveWeights } from "../../lib/interop/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { runCli } from "../../lib/cli/mod.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { main as finetuneMain } from "../../tasks/finetune.ts";
import { fixtureFolderDataset, withTempDir } from "../helpers.ts";

await initBackend("wasm", null);

/** Runs the task in this process; returns its exit code and what it printed on stderr. */
async function finetune(args: string[]): Promise<{ code: number; err: string }> {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await runCli("finetune", finetuneMain, args), err: lines.join("\n") };
  } finally {
    console.error = orig;
  }
}

/** dataset.json over the fixtures with `nTrain` train images, and a seeded 2-class start model, in `dir`. */
async function setup(dir: string, nTrain: number): Promise<string[]> {
  await writeDataset(`${dir}/dataset.json`, await fixtureFolderDataset(12 - nTrain));
  const model = createSsd300(2, 5);
  await saveWeights(`${dir}/start.json`, model);
  disposeModel(model);
  return [
    `--dataset=${dir}/dataset.json`,
    `--weights=${dir}/start.json`,
    "--batch-size=2",
    "--freeze=base+aux",
    "--backend=wasm",
  ];
}

const read = async (file: string) => JSON.parse(await Deno.readTextFile(file));

Deno.test({
  name:
    "finetune writes best/, train-log.csv and run.json best/stopped; a changed dataset.json never resumes; --restart starts over",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      const common = [...await setup(dir, 3), `--out=${dir}/run`, "--val-fraction=0.34", "--select=loss"];
      const first = await finetune([...common, "--epochs=1"]);
      assert.equal(first.code, 0, first.err);
      const run = await read(`${dir}/run/run.json`);
      const log = await read(`${dir}/run/train-log.json`);
      assert.deepEqual(run.stopped, { reason: "epochs", epochs_done: 1 });
      assert.deepEqual(run.best, { epoch: 1, metric: "loss", value: log.epochs[0].val_loss });
      assert.ok(
        await Deno.stat(`${dir}/run/best/weights.json`) && await Deno.stat(`${dir}/run/best/model.pth`),
      );
      const csv = (await Deno.readTextFile(`${dir}/run/train-log.csv`)).trim().split("\n");
      assert.equal(csv[0], "epoch,train_loss,val_loss,val_ap75,val_ap,lr,seconds");
      assert.equal(csv.length, 2);
      assert.equal(Number(csv[1].split(",")[2]), log.epochs[0].val_loss);

      // one box moved by a pixel in the same dataset.json: refused, naming the dataset, how to proceed
      const ds: Dataset = await readDataset(`${dir}/dataset.json`);
      const im = ds.images.find((i) => i.split === "train")!;
      const [x0, y0, x1, y1] = im.boxes[0];
      im.boxes[0] = [x0 + 1, y0, x1, y1];
      await writeDataset(`${dir}/dataset.json`, ds);
      const refused = await finetune([...common, "--epochs=2"]);
      assert.equal(refused.code, 1);
      assert.match(refused.err, /belongs to a run with other settings \(dataset: "sha256:[0-9a-f]+/);
      assert.match(refused.err, /--restart/);
      assert.doesNotMatch(refused.err, /lr:|seed:|start:/, "only the dataset differs");
      assert.doesNotMatch(refused.err, /\n\s+at /, "no stack trace");

      const restarted = await finetune([...common, "--epochs=1", "--restart"]);
      assert.equal(restarted.code, 0, restarted.err);
      assert.match(restarted.err, /--restart: removed resume\.bin, best/);
      assert.doesNotMatch(restarted.err, /resuming/);
      assert.equal((await read(`${dir}/run/run.json`)).resumed_from_epoch, 0);
    }, "finetune_resume_test_"),
});

Deno.test({
  name: "finetune with a larger --epochs continues a finished run to the weights of a run started with it",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      const common = [...await setup(dir, 2), "--val-fraction=0", "--schedule=constant", "--no-shuffle"];
      assert.equal((await finetune([...common, `--out=${dir}/a`, "--epochs=1"])).code, 0);
      const otherLr = await finetune([...common, `--out=${dir}/a`, "--epochs=1", "--lr=0.01"]);
      assert.equal(otherLr.code, 1);
      assert.match(otherLr.err, /lr: 0\.001 there, 0\.01 now/);
      const extended = await finetune([...common, `--out=${dir}/a`, "--epochs=2"]);
      assert.equal(extended.code, 0, extended.err);
      assert.match(extended.err, /resuming after epoch 1/);
      assert.equal((await finetune([...common, `--out=${dir}/b`, "--epochs=2"])).code, 0);
      const [wa, wb] = await Promise.all(
        [`${dir}/a`, `${dir}/b`].map((d) => Deno.readFile(`${d}/weights.bin`)),
      );
      assert.ok(wa.length === wb.length && wa.every((v, i) => v === wb[i]), "weights differ");
      const run = await read(`${dir}/a/run.json`);
      assert.equal(run.resumed_from_epoch, 1);
      assert.equal(run.best, null, "no validation images: no best epoch");
    }, "finetune_resume_test_"),
});
