/**
 * A COCO-format dataset (fixtures/coco/instances.json, category `figure`, crowd regions) through the pipeline:
 * prepare → finetune (one step, from a random 21-class model with --head-init voc, which has no `figure`) → ap →
 * report, each showing the dataset's own category name. Small: 3 train images, 2 scored test images.
 */
import assert from "node:assert/strict";
import { COCO_FIXTURE } from "../../fixtures/generate.ts";
import { readDataset } from "../../lib/data/mod.ts";
import { saveWeights } from "../../lib/interop/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { runPrepare } from "../../tasks/prepare.ts";
import { FIXTURE_DIR, FIXTURES_ROOT, withTempDir } from "../helpers.ts";

const ROOT = new URL("../../", import.meta.url);

async function task(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`tasks/${name}.ts`, ROOT).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("a COCO-format fixture goes through prepare → finetune → ap → report under its own category name", async () => {
  await withTempDir(async (dir) => {
    const coco = `${FIXTURES_ROOT}/${COCO_FIXTURE}`;
    const images = `${FIXTURE_DIR}/PNGImages`;
    // several categories and none chosen: nothing written
    await assert.rejects(
      () => runPrepare(["--data", coco, "--images", images, "-q", "--out", dir]),
      /figure.*bicycle/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await runPrepare([
      "--data",
      coco,
      "--images",
      images,
      "--category",
      "figure",
      "--test-size",
      "9",
      "-q",
      "--out",
      dir,
    ]);
    const ds = await readDataset(`${dir}/dataset.json`);
    assert.deepEqual([ds.classes[1], ds.counts.train, ds.counts.test], ["figure", 3, 9]);

    await initBackend("wasm", null);
    const voc = createSsd300(21, 1);
    await saveWeights(`${dir}/voc.json`, voc);
    disposeModel(voc);
    const ft = await task("finetune", [
      ...["--dataset", `${dir}/dataset.json`, "--weights", `${dir}/voc.json`, "--head-init", "voc"],
      ...[
        "--epochs",
        "1",
        "--batch-size",
        "3",
        "--freeze",
        "base+aux",
        "--val-fraction",
        "0",
        "--backend",
        "wasm",
      ],
      ...["--out", `${dir}/run`],
    ]);
    assert.equal(ft.code, 0, ft.stderr);
    assert.equal(ft.stderr.match(/VOC has no class "figure"/g)?.length, 1, ft.stderr);
    const weights = JSON.parse(await Deno.readTextFile(`${dir}/run/weights.json`));
    assert.deepEqual(weights.class_names, ["background", "figure"]);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/run/run.json`)).head_init, "random");

    const ap = await task("ap", [
      ...["--dataset", `${dir}/dataset.json`, "--weights", `${dir}/run/weights.json`, "--limit", "2"],
      ...["--bootstrap", "0", "--batch-size", "2", "--backend", "wasm", "--out", `${dir}/run`],
    ]);
    assert.equal(ap.code, 0, ap.stderr);
    const apJson = JSON.parse(await Deno.readTextFile(`${dir}/run/ap.json`));
    assert.deepEqual([apJson.settings.category.name, apJson.settings.class], ["figure", "figure"]);
    const gt = JSON.parse(await Deno.readTextFile(`${dir}/run/gt.coco.json`));
    assert.deepEqual(gt.categories.map((c: { name: string }) => c.name), ["figure"]);

    const report = await task("report", [
      "--runs",
      `${dir}/run`,
      "--gallery",
      "1",
      "--out",
      `${dir}/report.html`,
    ]);
    assert.equal(report.code, 0, report.stderr);
    const html = await Deno.readTextFile(`${dir}/report.html`);
    assert.match(html, /<h1>Figure detection on /);
    assert.match(html, /single-class <code>figure<\/code> detector/);
    assert.match(html, /test images \/ figures \/ detections/);
    assert.doesNotMatch(html, /pedestrian|<code>person<\/code>/);
  }, "coco_test_");
});
