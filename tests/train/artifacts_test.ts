/**
 * The artifacts of lib/train, each written then read back, and the older shapes that still read: run.json,
 * train-log.json, resume.bin, results.json.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { ArtifactError, readJsonArtifact, writeJsonArtifact } from "../../lib/core/mod.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/mod.ts";
import {
  checkResumeSettings,
  decodeResumeState,
  encodeResumeState,
  Optimizer,
  readRunJson,
  readTrainingLog,
  type ResumeState,
  ResumeStateError,
  type RunJson,
  type TrainingLog,
  writeRunJson,
  writeTrainingLog,
} from "../../lib/train/mod.ts";
import { ResultsJsonSchema } from "../../tasks/compose/mod.ts";
import { withTempDir } from "../helpers.ts";

const RUN: RunJson = {
  task: "finetune",
  kind: "finetuned",
  dataset: "run/dataset.json",
  start: { kind: "weights", path: "start.json" },
  head_init: "random",
  engine: { backend: "wasm", conv: "onednn", workers: 2 },
  settings: { epochs: 2, batchSize: 2, priorSet: "reference", workers: 2, native_conv: true },
  n_train: 2,
  n_val: 1,
  val_ids: [3],
  resumed_from_epoch: 0,
  seconds: 12.5,
  ms_per_image: 3000,
  ms_per_train_image: 2500,
  finished: "2024-01-01T00:00:00.000Z",
};

Deno.test("run.json: writeRunJson() then readRunJson() round-trips; a bad field is named", async () => {
  await withTempDir(async (dir) => {
    await writeRunJson(`${dir}/run.json`, RUN);
    assert.deepEqual(await readRunJson(`${dir}/run.json`), RUN);
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify({ ...RUN, engine: { ...RUN.engine, workers: 0 } }),
    );
    await assert.rejects(readRunJson(`${dir}/bad.json`), (e: unknown) => {
      assert.ok(e instanceof ArtifactError);
      assert.match(e.message, /bad\.json: field engine\.workers: .* \(got 0\)/);
      return true;
    });
    await assert.rejects(
      writeRunJson(`${dir}/w.json`, { ...RUN, seconds: "x" as unknown as number }),
      /seconds/,
    );
  });
});

Deno.test("run.json: finetune's older shape (source, backend, no engine) and a hand-written note still read", async () => {
  await withTempDir(async (dir) => {
    const { start, engine: _, ms_per_train_image: __, ...rest } = RUN;
    const older = { ...rest, source: start, backend: "wasm", settings: { ...RUN.settings, workers: 2 } };
    await Deno.writeTextFile(`${dir}/old.json`, JSON.stringify(older));
    const read = await readRunJson(`${dir}/old.json`);
    assert.ok("task" in read);
    assert.deepEqual(read.start, start);
    assert.deepEqual(read.engine, { backend: "wasm", conv: null, workers: 2 });
    assert.equal(read.ms_per_train_image, null);
    const note = { name: "VOC original", kind: "original", description: "baseline" };
    await Deno.writeTextFile(`${dir}/note.json`, JSON.stringify(note));
    assert.deepEqual(await readRunJson(`${dir}/note.json`), note);
    await Deno.writeTextFile(`${dir}/typo.json`, JSON.stringify({ nmae: "x" }));
    await assert.rejects(readRunJson(`${dir}/typo.json`), /typo\.json: .*nmae/);
  });
});

const LOG: TrainingLog = {
  steps: [{ epoch: 1, step: 1, loss: 9.5 }, { epoch: 2, step: 2, loss: 8.25 }],
  epochs: [
    { epoch: 1, train_loss: 9.5, val_loss: 9.75, val_ap75: 0 },
    { epoch: 2, train_loss: 8.25, val_loss: null, val_ap75: null },
  ],
};

Deno.test("train-log.json: write then read round-trips; an older log with settings reads; bad fields are named", async () => {
  await withTempDir(async (dir) => {
    await writeTrainingLog(`${dir}/log.json`, LOG);
    assert.deepEqual(await readTrainingLog(`${dir}/log.json`), LOG);
    await Deno.writeTextFile(`${dir}/old.json`, JSON.stringify({ ...LOG, settings: { lr: 0.001 } }));
    assert.deepEqual((await readTrainingLog(`${dir}/old.json`)).settings, { lr: 0.001 });
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify({ steps: [{ epoch: 0, step: 1, loss: 1 }], epochs: [] }),
    );
    await assert.rejects(readTrainingLog(`${dir}/bad.json`), /bad\.json: field steps\.0\.epoch/);
  });
});

Deno.test("resume.bin: encodeResumeState() then decodeResumeState() gives the same weights, optimiser and log", async () => {
  await initBackend("wasm", null);
  const model = createSsd300(2, 1);
  const opt = new Optimizer({ kind: "adam" });
  const grads = new Map([["rescale_factors", tf.onesLike(model.params.get("rescale_factors")!)]]);
  opt.step(model.params, grads, 0.1);
  grads.get("rescale_factors")!.dispose();
  const state: ResumeState = {
    epoch: 2,
    step: 2,
    rng: [1, 2, 3, 4],
    log: LOG,
    optimizer: await opt.exportState(),
    best: { epoch: 1, metric: "ap75", value: 0.25 },
  };
  opt.dispose();
  const settings = { dataset: "d.json", priorSet: "pedestrian", epochs: 3 };
  const bytes = await encodeResumeState(model, state, settings);
  const back = decodeResumeState(bytes, "run/resume.bin");
  try {
    assert.deepEqual(back.settings, settings);
    assert.deepEqual(back.state, state);
    assert.equal(back.model.nClasses, 2);
    for (const [name, v] of model.params) {
      assert.deepEqual(back.model.params.get(name)!.dataSync(), v.dataSync(), name);
    }
    assert.throws(
      () => decodeResumeState(bytes.slice(0, bytes.length - 8), "r.bin"),
      /r\.bin: corrupt resume state \(CRC-32 mismatch: .*truncated or damaged\); use --restart/,
    );
    const old = new TextEncoder().encode("SSDTRAIN"); // checkpoint.bin of older versions
    assert.throws(
      () => decodeResumeState(old, "checkpoint.bin"),
      /checkpoint\.bin: corrupt resume state \(not a resume state/,
    );
  } finally {
    disposeModel(model);
    disposeModel(back.model);
  }
});

Deno.test("checkResumeSettings() refuses other settings, naming each with its saved and wanted value and --restart", () => {
  checkResumeSettings("r.bin", { lr: 0.001, priorSet: "reference" }, { priorSet: "reference", lr: 0.001 });
  assert.throws(
    () =>
      checkResumeSettings("run/resume.bin", { lr: 0.001, priorSet: "pedestrian" }, {
        lr: 0.01,
        priorSet: "reference",
      }),
    (e: unknown) =>
      e instanceof ResumeStateError &&
      e.message ===
        "run/resume.bin belongs to a run with other settings (lr: 0.001 there, 0.01 now; priorSet: " +
          '"pedestrian" there, "reference" now); pass --restart to discard that run and start over, or use another --out',
  );
});

Deno.test("results.json of deno task experiments: write then read round-trips, a failed run included", async () => {
  await withTempDir(async (dir) => {
    const results = [
      { name: "base", settings: { lr: 0.001 }, ap50: 0.9, ap75: 0.5, ap: 0.45, ar100: 0.6, seconds: 12 },
      {
        name: "bad",
        settings: null,
        ap50: null,
        ap75: null,
        ap: null,
        ar100: null,
        seconds: null,
        error: "exit 1",
      },
    ];
    await writeJsonArtifact(`${dir}/results.json`, ResultsJsonSchema, results);
    assert.deepEqual(await readJsonArtifact(`${dir}/results.json`, ResultsJsonSchema), results);
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify([{ ...results[0], ap75: "x" }]));
    await assert.rejects(readJsonArtifact(`${dir}/bad.json`, ResultsJsonSchema), /bad\.json: field 0\.ap75/);
  });
});
