/**
 * deno task finetune on the fixture dataset: flags, the 3-step log, exports (ours + .pth that PyTorch loads),
 * resume (resume.bin) after kill -9 to identical weights, non-finite loss handling. Runs use --freeze base(+aux) and 2–3 small
 * images to keep the SSD300 passes affordable on a shared CPU.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import { type Dataset, fractionalBoxes, openDatasetSource, writeDataset } from "../../lib/data/mod.ts";
import { preprocessForSsd } from "../../lib/ssd/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { readTorchCheckpoint } from "../../lib/torch/mod.ts";
import { runCli } from "../../lib/cli/mod.ts";
import { decodeResumeState, type TrainingLog } from "../../lib/train/mod.ts";
import { lossAndGradients } from "../../lib/engine/mod.ts";
import { createPriorsCxcy } from "../../lib/ssd/priors.ts";
import { loadWeights, modelToStateDict, saveWeights } from "../../lib/interop/mod.ts";
import { main as finetuneMain, parseFinetuneArgs } from "../../tasks/finetune.ts";
import { fixtureFolderDataset, sharedPath } from "../helpers.ts";

/** Runs the task in this process as `deno task finetune` would; returns its exit code. */
const main = (args: string[]) => runCli("finetune", finetuneMain, args);

const TASK = new URL("../../tasks/finetune.ts", import.meta.url).pathname;

await initBackend("wasm", null);

/** A dataset.json over the fixtures with `nTrain` train images, and a seeded random 2-class start model. */
async function setup(nTrain: number): Promise<{ dir: string; dataset: Dataset; weights: string }> {
  const dir = await Deno.makeTempDir({ prefix: "finetune_test_" });
  const dataset = await fixtureFolderDataset(12 - nTrain);
  await writeDataset(`${dir}/dataset.json`, dataset);
  const model = createSsd300(2, 5);
  await saveWeights(`${dir}/start.json`, model);
  disposeModel(model);
  return { dir, dataset, weights: `${dir}/start.json` };
}

/** `--dataset` (setup()'s), `--weights`, `--out`, `--epochs` and `--batch-size=2` of a finetune run. */
function trainArgs(dir: string, weights: string, out: string, epochs: number): string[] {
  return [
    `--dataset=${dir}/dataset.json`,
    `--weights=${weights}`,
    `--out=${out}`,
    `--epochs=${epochs}`,
    "--batch-size=2",
  ];
}

Deno.test("parseFinetuneArgs() reads every flag and rejects bad ones by name", () => {
  const a = parseFinetuneArgs([
    "--dataset=d.json",
    "--checkpoint=x.pth",
    "--out=o/",
    "--epochs=3",
    "--batch-size=4",
    "--micro-batch=8",
    "--lr=0.01",
    "--momentum=0.5",
    "--weight-decay=5e-4",
    "--optimizer=adam",
    "--schedule=step",
    "--warmup=2",
    "--freeze=base+aux",
    "--head-init=voc-person",
    "--priors=pedestrian",
    "--augment",
    "--no-shuffle",
    "--seed=9",
    "--val-fraction=0.2",
    "--backend=cpu",
    "--workers=2",
    "--conv=wasm",
  ]);
  assert.deepEqual(a.start, { kind: "checkpoint", path: "x.pth" });
  assert.equal(a.out, "o");
  assert.equal(a.headInit, "voc-person");
  assert.equal(a.priorSet, "pedestrian");
  assert.equal(a.backend, "cpu");
  assert.equal(a.workers, 2);
  assert.equal(a.conv, "wasm");
  const defaults = parseFinetuneArgs(["--dataset=d", "--out=o", "--from-scratch"]);
  assert.deepEqual([defaults.conv, defaults.workers], ["auto", undefined]);
  assert.deepEqual(a.config, {
    epochs: 3,
    batchSize: 4,
    microBatch: 4, // capped at the batch size
    optimizer: "adam",
    lr: 0.01,
    momentum: 0.5,
    weightDecay: 5e-4,
    schedule: "step",
    warmup: 2,
    freeze: "base+aux",
    augment: true,
    shuffle: false,
    seed: 9,
    valFraction: 0.2,
    select: "ap75",
    patience: null,
  });
  const d = parseFinetuneArgs(["--dataset", "d.json", "--from-scratch", "--out", "o"]);
  assert.deepEqual(
    [
      d.config.epochs,
      d.config.batchSize,
      d.config.lr,
      d.config.momentum,
      d.config.optimizer,
      d.config.schedule,
    ],
    [20, 10, 1e-3, 0.9, "sgd", "cosine"],
    "notebook defaults",
  );
  assert.equal(d.config.augment, false);
  assert.equal(d.priorSet, "reference", "the reference's priors by default");
  const bad: [string[], RegExp][] = [
    [["--dataset=d", "--out=o"], /exactly one of/],
    [["--dataset=d", "--out=o", "--from-scratch", "--weights=w"], /exactly one of/],
    [["--out=o", "--from-scratch"], /--dataset/],
    [["--dataset=d", "--from-scratch"], /--out/],
    [["--dataset=d", "--out=o", "--from-scratch", "--epochs=0"], /--epochs/],
    [["--dataset=d", "--out=o", "--from-scratch", "--lr=abc"], /--lr/],
    [["--dataset=d", "--out=o", "--from-scratch", "--optimizer=rmsprop"], /--optimizer/],
    [["--dataset=d", "--out=o", "--from-scratch", "--schedule=poly"], /--schedule/],
    [["--dataset=d", "--out=o", "--from-scratch", "--freeze=all"], /--freeze/],
    [["--dataset=d", "--out=o", "--from-scratch", "--head-init=zero"], /--head-init/],
    [["--dataset=d", "--out=o", "--from-scratch", "--priors=square"], /--priors/],
    [["--dataset=d", "--out=o", "--from-scratch", "--val-fraction=1"], /--val-fraction/],
    [["--dataset=d", "--out=o", "--from-scratch", "--augment", "--no-augment"], /contradict/],
    [["--dataset=d", "--out=o", "--from-scratch", "--backend=gpu"], /--backend/],
    [["--dataset=d", "--out=o", "--from-scratch", "--bogus"], /bogus/],
    [["--dataset=d", "--out=o", "--from-scratch", "--workers=0"], /--workers/],
  ];
  for (const [args, re] of bad) assert.throws(() => parseFinetuneArgs(args), re, args.join(" "));
});

Deno.test({
  name:
    "finetune --epochs 3 --batch-size 2 --no-augment --no-shuffle --val-fraction 0 logs the loss before each update",
  sanitizeResources: false,
  fn: async () => {
    const { dir, dataset, weights } = await setup(2);
    try {
      const out = `${dir}/run`;
      const code = await main([
        ...trainArgs(dir, weights, out, 3),
        "--no-augment",
        "--no-shuffle",
        "--val-fraction=0",
        "--freeze=base",
        "--backend=wasm",
      ]);
      assert.equal(code, 0);
      const log: TrainingLog = JSON.parse(await Deno.readTextFile(`${out}/train-log.json`));
      assert.deepEqual(log.steps.map((s) => [s.epoch, s.step]), [[1, 1], [2, 2], [3, 3]]);
      assert.deepEqual(log.epochs.map((e) => [e.epoch, e.val_loss, e.val_ap75]), [[1, null, null], [
        2,
        null,
        null,
      ], [3, null, null]]);
      // step 1's loss is the start model's loss on the two train images (before any update)
      const start = await loadWeights(weights);
      const train = dataset.images.filter((im) => im.split === "train");
      const source = await openDatasetSource(dataset, `${dir}/dataset.json`);
      const samples = train.map((im) => ({
        image: preprocessForSsd(source.readImage(im)),
        gt: { boxes: fractionalBoxes(im), labels: im.boxes.map(() => 1) },
      }));
      const r = lossAndGradients(start, samples, {
        priorsCxcy: createPriorsCxcy(),
        trainable: ["rescale_factors"],
      });
      for (const g of r.grads.values()) g.dispose();
      disposeModel(start);
      assert.ok(Math.abs(r.loss - log.steps[0].loss) / r.loss < 1e-5, `${r.loss} vs ${log.steps[0].loss}`);
      assert.ok(log.steps.every((s) => Number.isFinite(s.loss)));
      assert.notEqual(log.steps[1].loss, log.steps[0].loss, "the update changed the model");
      // exports: our weights and a .pth with the same tensors; run.json with the settings
      const trained = await loadWeights(`${out}/weights.json`);
      const pth = readTorchCheckpoint(await Deno.readFile(`${out}/model.pth`), "model.pth");
      const sd = await modelToStateDict(trained);
      assert.deepEqual([...pth.tensors.keys()], [...sd.keys()]);
      for (const [k, t] of sd) assert.deepEqual(pth.tensors.get(k)!.data, t.data, k);
      const frozen = (await loadWeights(weights)).params.get("base.conv1_1.weight")!;
      assert.deepEqual(
        trained.params.get("base.conv1_1.weight")!.dataSync(),
        frozen.dataSync(),
        "--freeze base",
      );
      frozen.dispose();
      disposeModel(trained);
      const run = JSON.parse(await Deno.readTextFile(`${out}/run.json`));
      assert.equal(run.settings.batchSize, 2);
      assert.equal(run.n_train, 2);
      assert.ok(run.ms_per_image > 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "model.pth written by finetune loads in PyTorch",
  ignore: !(() => {
    try {
      return Deno.statSync("/usr/bin/python3").isFile;
    } catch {
      return false;
    }
  })(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "finetune_pth_" });
    try {
      // the export path of tasks/finetune.ts, on a small random model
      const { writeTorchStateDict } = await import("../../lib/torch/mod.ts");
      const model = createSsd300(2, 3);
      const sd = await modelToStateDict(model);
      await Deno.writeFile(`${dir}/model.pth`, writeTorchStateDict(sd, "model"));
      const sum = sd.get("pred_convs.cl_conv4_3.bias")!.data.reduce((a, b) => a + b, 0);
      disposeModel(model);
      const py = new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          "import sys, json, torch; sd = torch.load(sys.argv[1]); print(json.dumps([len(sd), " +
          "float(sd['pred_convs.cl_conv4_3.bias'].sum()), list(sd['base.conv1_1.weight'].shape)]))",
          `${dir}/model.pth`,
        ],
        stdout: "piped",
        stderr: "piped",
      });
      const r = await py.output();
      if (!r.success && /No module named 'torch'/.test(new TextDecoder().decode(r.stderr))) return; // no torch here
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const [n, s, shape] = JSON.parse(new TextDecoder().decode(r.stdout));
      assert.equal(n, 71);
      assert.ok(Math.abs(s - sum) < 1e-4, `${s} vs ${sum}`);
      assert.deepEqual(shape, [64, 3, 3, 3]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function waitFor(path: string, child: Deno.ChildProcess, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  child.kill("SIGKILL");
  throw new Error(`${path} did not appear within ${timeoutMs} ms`);
}

Deno.test({
  name:
    "finetune resumes after kill -9 to the same weights as an uninterrupted seeded run (adam, step, warm-up, augment)",
  sanitizeResources: false,
  fn: async () => {
    const { dir, weights } = await setup(3);
    try {
      const args = (out: string) => [
        "run",
        "-A",
        TASK,
        ...trainArgs(dir, weights, out, 2),
        "--micro-batch=1",
        "--optimizer=adam",
        "--lr=1e-4",
        "--weight-decay=1e-4",
        "--schedule=step",
        "--warmup=1",
        "--freeze=base+aux",
        "--augment",
        "--seed=7",
        "--val-fraction=0.34",
        "--backend=wasm",
      ];
      const spawn = (out: string) =>
        new Deno.Command(Deno.execPath(), { args: args(out), stdout: "piped", stderr: "piped" }).spawn();
      // interrupted run: SIGKILL once the first epoch's resume state exists
      const a = spawn(`${dir}/a`);
      await waitFor(`${dir}/a/resume.bin`, a, 600_000);
      a.kill("SIGKILL");
      const killed = await a.output();
      assert.equal(killed.success, false);
      assert.equal(decodeResumeState(await Deno.readFile(`${dir}/a/resume.bin`)).state.epoch, 1);
      const resumed = await spawn(`${dir}/a`).output();
      const resumedErr = new TextDecoder().decode(resumed.stderr);
      assert.ok(resumed.success, resumedErr);
      assert.match(resumedErr, /resuming after epoch 1/);
      assert.match(
        resumedErr,
        /train: 2\/2 img 100% [\d.]+ img\/s done in \d+:\d\d epoch 2\/2 step 1\/1 \(2\) loss [\d.]+/,
        "progress line",
      );
      // uninterrupted run
      const b = await spawn(`${dir}/b`).output();
      assert.ok(b.success, new TextDecoder().decode(b.stderr));
      const [wa, wb] = await Promise.all([
        Deno.readFile(`${dir}/a/weights.bin`),
        Deno.readFile(`${dir}/b/weights.bin`),
      ]);
      assert.equal(wa.length, wb.length);
      assert.ok(wa.every((v, i) => v === wb[i]), "weights differ byte-wise");
      const [la, lb] = await Promise.all(
        [`${dir}/a/train-log.json`, `${dir}/b/train-log.json`].map((p) => Deno.readTextFile(p)),
      );
      // the same log but for each epoch's wall time
      const untimed = (text: string) => {
        const log: TrainingLog = JSON.parse(text);
        return { ...log, epochs: log.epochs.map(({ seconds: _, ...e }) => e) };
      };
      assert.deepEqual(untimed(la), untimed(lb));
      const log: TrainingLog = JSON.parse(lb);
      assert.equal(log.epochs.length, 2);
      assert.ok(
        log.epochs.every((e) =>
          e.val_loss !== null && e.val_ap75 !== null && e.val_ap75 >= 0 && e.val_ap75 <= 1
        ),
      );
      const run = JSON.parse(await Deno.readTextFile(`${dir}/a/run.json`));
      assert.equal(run.resumed_from_epoch, 1);
      assert.equal(run.n_val, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "finetune stops on a non-finite loss naming epoch and batch, keeping the last good resume state",
  sanitizeResources: false,
  fn: async () => {
    const { dir, weights } = await setup(2);
    const errors: string[] = [];
    const origError = console.error;
    console.error = (...a: unknown[]) => errors.push(a.join(" "));
    try {
      const code = await main([
        ...trainArgs(dir, weights, `${dir}/run`, 3),
        "--lr=1e30",
        "--schedule=constant",
        "--freeze=base+aux",
        "--val-fraction=0",
        "--backend=wasm",
      ]);
      console.error = origError;
      assert.equal(code, 1);
      const msg = errors.find((e) => e.includes("non-finite"));
      assert.ok(msg, errors.join("\n"));
      assert.match(msg, /at epoch 2, batch 1/);
      assert.match(msg, /\(images of the batch: [^)]+\.png\)/);
      assert.match(msg, /last good resume state is kept/);
      const c = decodeResumeState(await Deno.readFile(`${dir}/run/resume.bin`));
      assert.equal(c.state.epoch, 1);
      const run = JSON.parse(await Deno.readTextFile(`${dir}/run/run.json`));
      assert.deepEqual(run.stopped, { reason: "non-finite loss", epochs_done: 1, epoch: 2, batch: 1 });
      disposeModel(c.model);
      assert.equal(tf.memory().numTensors >= 0, true);
    } finally {
      console.error = origError;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "finetune starts from a 21-class VOC .pth (--head-init voc-person) and from scratch (--freeze none)",
  sanitizeResources: false,
  fn: async (t) => {
    const { dir } = await setup(1);
    const voc = sharedPath("golden/ssd300_voc.pth");
    try {
      const common = [
        `--dataset=${dir}/dataset.json`,
        "--epochs=1",
        "--batch-size=1",
        "--val-fraction=0",
        "--backend=wasm",
      ];
      const haveVoc = await Deno.stat(voc).then(() => true, () => false);
      if (!haveVoc && Deno.env.get("CI")) throw new Error(`golden missing under CI: ${voc}`);
      await t.step({
        name: "--checkpoint ssd300_voc.pth --head-init voc-person --freeze base+aux",
        ignore: !haveVoc,
        fn: async () => {
          const out = `${dir}/voc`;
          assert.equal(
            await main([
              ...common,
              `--checkpoint=${voc}`,
              "--head-init=voc-person",
              "--freeze=base+aux",
              `--out=${out}`,
            ]),
            0,
          );
          const m = await loadWeights(`${out}/weights.json`);
          assert.equal(m.nClasses, 2);
          assert.deepEqual(m.params.get("pred_convs.cl_conv4_3.bias")!.shape, [8]);
          disposeModel(m);
        },
      });
      await t.step("--from-scratch --freeze none", async () => {
        const out = `${dir}/scratch`;
        assert.equal(
          await main([...common, "--from-scratch", "--freeze=none", "--seed=3", `--out=${out}`]),
          0,
        );
        const log: TrainingLog = JSON.parse(await Deno.readTextFile(`${out}/train-log.json`));
        assert.equal(log.steps.length, 1);
        assert.ok(Number.isFinite(log.steps[0].loss));
        // the whole VGG base trained (freeze none). Aux convs and the heads of maps holding no positive and no hard
        // negative of this one image get no gradient (torch leaves them unchanged too).
        const start = createSsd300(2, 3), trained = await loadWeights(`${out}/weights.json`);
        const moved = new Set(
          [...start.params].filter(([k, v]) => {
            const a = trained.params.get(k)!.dataSync(), b = v.dataSync(); // read once: dataSync copies
            return a.some((x, i) => x !== b[i]);
          }).map(([k]) => k),
        );
        for (const k of start.params.keys()) {
          if (k.startsWith("base.")) assert.ok(moved.has(k), `${k} did not train`);
        }
        assert.ok(moved.size > start.params.size / 2, `only ${moved.size} parameters changed`);
        disposeModel(start);
        disposeModel(trained);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "finetune --workers 2 (data-parallel gradients) trains like --workers 1 (this thread) on the default engine",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { dir, weights } = await setup(2);
    try {
      const run = (workers: number, extra: string[] = []) =>
        main([
          ...extra,
          ...trainArgs(dir, weights, `${dir}/w${workers}${extra.join("")}`, 2),
          "--micro-batch=1",
          "--freeze=base+aux",
          "--no-shuffle",
          "--val-fraction=0",
          "--backend=wasm",
          `--workers=${workers}`,
        ]);
      // the default engine (oneDNN where libdnnl loads; WASM vs oneDNN: tests/engine/pool_test.ts, parity tests)
      assert.equal(await run(1), 0);
      assert.equal(await run(2), 0);
      const logs = await Promise.all(
        ["w1", "w2"].map(async (d) =>
          (JSON.parse(await Deno.readTextFile(`${dir}/${d}/train-log.json`)) as TrainingLog).steps
        ),
      );
      const [s1] = logs;
      for (const other of logs.slice(1)) {
        assert.equal(other.length, 2);
        s1.forEach((s, k) =>
          assert.ok(
            Math.abs(s.loss - other[k].loss) <= 1e-5 * s.loss,
            `step ${k + 1}: ${s.loss} vs ${other[k].loss}`,
          )
        );
      }
      const run2 = JSON.parse(await Deno.readTextFile(`${dir}/w2/run.json`));
      assert.deepEqual(run2.engine.workers, 2);
      assert.equal(run2.engine.threads, 1);
      assert.ok(run2.ms_per_train_image > 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
