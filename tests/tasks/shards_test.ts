/**
 * Shards: `detect --images … --shard K/N|auto` and `ap --dataset … --shard K/N` each take one slice of the list;
 * `detect --merge` / `ap --merge` join the slices into what one unsharded run writes. Small: a random 2-class
 * SSD300, the 12 fixture images (the 4 test images for ap), batches of 2 so that every shard boundary is a batch
 * boundary of the unsharded run too (same batches, same numbers).
 */
import assert from "node:assert/strict";
import { parseShardFlag } from "../../lib/cli/mod.ts";
import { writeDataset } from "../../lib/data/mod.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { orderShards, shardRange } from "../../lib/evaluation/mod.ts";
import { saveWeights } from "../../lib/interop/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { FIXTURE_DIR, fixtureFolderDataset, runPiped, runTaskScript, withTempDir } from "../helpers.ts";

const DETECT = new URL("../../tasks/detect.ts", import.meta.url).pathname;

Deno.test("shardRange() cuts a list into N contiguous slices that differ by at most one and cover it once", () => {
  for (const total of [0, 1, 2, 7, 12, 170]) {
    for (const count of [1, 2, 3, 5, 13]) {
      const slices = Array.from({ length: count }, (_, k) => shardRange(total, { index: k + 1, count }));
      assert.equal(slices[0].start, 0);
      assert.equal(slices[count - 1].end, total);
      for (let k = 1; k < count; k++) assert.equal(slices[k].start, slices[k - 1].end);
      const sizes = slices.map((s) => s.end - s.start);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${total}/${count}: ${sizes}`);
    }
  }
  assert.deepEqual(shardRange(12, { index: 2, count: 3 }), { start: 4, end: 8 });
  assert.throws(() => shardRange(12, { index: 4, count: 3 }), RangeError);
  assert.throws(() => shardRange(12, { index: 0, count: 3 }), RangeError);
});

Deno.test("parseShardFlag() reads K/N, and auto from Slurm's array variables or a Kubernetes Indexed Job's", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(parseShardFlag("2/3", env({})), { index: 2, count: 3, from: "--shard 2/3" });
  // Slurm: task ids start at the --array offset (here --array=4-6); the step of --array=10-20:5 is honoured
  const slurm = { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_MIN: "4", SLURM_ARRAY_TASK_COUNT: "3" };
  assert.deepEqual(parseShardFlag("auto", env(slurm)).index, 2);
  assert.deepEqual(parseShardFlag("auto", env({ ...slurm, SLURM_ARRAY_TASK_ID: "4" })).index, 1);
  const stepped = { SLURM_ARRAY_TASK_ID: "20", SLURM_ARRAY_TASK_MIN: "10", SLURM_ARRAY_TASK_COUNT: "3" };
  assert.deepEqual(parseShardFlag("auto", env({ ...stepped, SLURM_ARRAY_TASK_STEP: "5" })), {
    index: 3,
    count: 3,
    from: "SLURM_ARRAY_TASK_ID=20 (min 10, step 5, count 3)",
  });
  // Kubernetes: JOB_COMPLETION_INDEX is 0-based; JOB_COMPLETIONS comes from the manifest
  const k8s = { JOB_COMPLETION_INDEX: "0", JOB_COMPLETIONS: "4" };
  assert.deepEqual([parseShardFlag("auto", env(k8s)).index, parseShardFlag("auto", env(k8s)).count], [1, 4]);
  assert.equal(parseShardFlag("auto", env({ ...k8s, ...slurm })).index, 2, "Slurm's variables win");
  const refused: [string, Record<string, string>, RegExp][] = [
    ["auto", {}, /neither SLURM_ARRAY_TASK_ID .* nor JOB_COMPLETION_INDEX/],
    ["auto", { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "3" }, /SLURM_ARRAY_TASK_MIN is not set/],
    ["auto", { ...slurm, SLURM_ARRAY_TASK_ID: "7" }, /gives shard 4 of 3/],
    ["auto", { ...stepped, SLURM_ARRAY_TASK_STEP: "3" }, /not on the range from 10 in steps of 3/],
    ["auto", { JOB_COMPLETION_INDEX: "1" }, /JOB_COMPLETIONS is not set .*\.spec\.completions/],
    [
      "auto",
      { JOB_COMPLETION_INDEX: "x", JOB_COMPLETIONS: "2" },
      /JOB_COMPLETION_INDEX=x is not a whole number/,
    ],
    ["3/2", {}, /1 ≤ K ≤ N/],
    ["0/2", {}, /1 ≤ K ≤ N/],
    ["1-2", {}, /expected K\/N/],
  ];
  for (const [spec, vars, message] of refused) assert.throws(() => parseShardFlag(spec, env(vars)), message);
});

Deno.test("orderShards() names a missing, repeated or foreign shard", () => {
  const s = (dir: string, index: number, count = 3, images = 12) => ({
    dir,
    shard: { index, count, images },
  });
  assert.deepEqual(orderShards([s("c", 3), s("a", 1), s("b", 2)]).map((x) => x.dir), ["a", "b", "c"]);
  assert.throws(() => orderShards([s("a", 1), s("c", 3)]), /shard 2 of 3 missing/);
  assert.throws(() => orderShards([s("a", 1), s("b", 1), s("c", 3)]), /shard 1\/3 is given twice: a and b/);
  assert.throws(() => orderShards([s("a", 1), s("b", 2, 3, 11), s("c", 3)]), /not shards of one list/);
  assert.throws(
    () => orderShards([s("a", 1), { dir: "u", shard: null }]),
    /u: not the output of a --shard run/,
  );
});

/** Sorted, canonical JSON of a detect --images output: images by id, detections by image, score, box. */
async function canonical(dir: string): Promise<{ images: string; detections: string }> {
  const info = JSON.parse(await Deno.readTextFile(`${dir}/images.json`));
  info.images.sort((a: { id: number }, b: { id: number }) => a.id - b.id);
  const dets = JSON.parse(await Deno.readTextFile(`${dir}/detections.coco.json`));
  const key = (d: { image_id: number; score: number; bbox: number[] }) => [d.image_id, -d.score, ...d.bbox];
  dets.sort((a: never, b: never) => {
    const [ka, kb] = [key(a), key(b)];
    const i = ka.findIndex((v, j) => v !== kb[j]);
    return i < 0 ? 0 : ka[i] - kb[i];
  });
  return { images: JSON.stringify(info), detections: JSON.stringify(dets) };
}

Deno.test({
  name:
    "detect --images in 3 shards (K/N, Slurm and Kubernetes variables), merged, equals one unsharded run byte for byte",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      await initBackend("wasm", null);
      const model = { ...createSsd300(2, 9), classNames: ["background", "figure"] };
      await saveWeights(`${dir}/w.json`, model);
      disposeModel(model);
      const common = [
        "--weights",
        `${dir}/w.json`,
        "--min-score",
        "0.05",
        "--top-k",
        "15",
        "--batch-size",
        "2",
      ];
      const detect = async (args: string[], env: Record<string, string> = {}) => {
        const r = await runPiped(
          Deno.execPath(),
          ["run", "-A", DETECT, ...common, "--images", `${FIXTURE_DIR}/PNGImages`, ...args],
          { env },
        );
        assert.equal(r.code, 0, r.stderr);
        return r;
      };
      await detect(["--out", `${dir}/whole`]);
      await detect(["--shard", "1/3", "--out", `${dir}/s1`]);
      const slurm = await detect(["--shard", "auto", "--out", `${dir}/s2`], {
        SLURM_ARRAY_TASK_ID: "8",
        SLURM_ARRAY_TASK_MIN: "7",
        SLURM_ARRAY_TASK_COUNT: "3",
      });
      assert.match(slurm.stderr, /shard 2\/3 of 12 images \(SLURM_ARRAY_TASK_ID=8 \(min 7/);
      const k8s = await detect(["--shard", "auto", "--out", `${dir}/s3`], {
        JOB_COMPLETION_INDEX: "2",
        JOB_COMPLETIONS: "3",
      });
      assert.match(k8s.stderr, /shard 3\/3 of 12 images \(JOB_COMPLETION_INDEX=2 of JOB_COMPLETIONS=3\)/);
      for (const [k, ids] of [[1, [1, 2, 3, 4]], [2, [5, 6, 7, 8]], [3, [9, 10, 11, 12]]] as const) {
        const info = JSON.parse(await Deno.readTextFile(`${dir}/s${k}/images.json`));
        assert.deepEqual(info.images.map((im: { id: number }) => im.id), ids);
        assert.deepEqual(info.shard, { index: k, count: 3, images: 12 });
      }
      // the merge refuses an incomplete set, then joins the three (shell-expanded folder arguments)
      const partial = await runTaskScript("detect", [
        "--merge",
        `${dir}/s1`,
        `${dir}/s3`,
        "--out",
        `${dir}/m`,
      ]);
      assert.equal(partial.code, 1, partial.stderr);
      assert.match(partial.stderr, /shard 2 of 3 missing/);
      const merged = await runTaskScript("detect", [
        "--merge",
        `${dir}/s3`,
        `${dir}/s1`,
        `${dir}/s2`,
        "--out",
        `${dir}/m`,
      ]);
      assert.equal(merged.code, 0, merged.stderr);
      const [whole, joined] = [await canonical(`${dir}/whole`), await canonical(`${dir}/m`)];
      assert.equal(joined.images, whole.images);
      assert.equal(joined.detections, whole.detections);
      assert.ok(JSON.parse(whole.detections).length > 0, "the model detects something");
      for (const im of JSON.parse(whole.images).images as { annotated: string }[]) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/m/${im.annotated}`),
          await Deno.readFile(`${dir}/whole/${im.annotated}`),
        );
      }
    }, "shards_test_"),
});

Deno.test({
  name: "ap --dataset in 2 shards, joined by ap --merge, gives the unsharded run's files and numbers",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      await initBackend("wasm", null);
      const model = { ...createSsd300(2, 9), classNames: ["background", "person"] };
      await saveWeights(`${dir}/w.json`, model);
      disposeModel(model);
      await writeDataset(`${dir}/dataset.json`, await fixtureFolderDataset(4));
      const common = ["--dataset", `${dir}/dataset.json`, "--weights", `${dir}/w.json`, "--batch-size", "2"];
      const ap = async (args: string[]) => {
        const r = await runTaskScript("ap", [...common, ...args]);
        assert.equal(r.code, 0, r.stderr);
      };
      await ap(["--out", `${dir}/whole`]);
      await ap(["--shard", "2/2", "--out", `${dir}/b`]);
      await ap(["--shard", "1/2", "--out", `${dir}/a`]);
      const shardAp = JSON.parse(await Deno.readTextFile(`${dir}/a/ap.json`));
      assert.deepEqual(shardAp.settings.shard, { index: 1, count: 2, images: 4 });
      const r = await runTaskScript("ap", ["--merge", `${dir}/a`, `${dir}/b`, "--out", `${dir}/m`]);
      assert.equal(r.code, 0, r.stderr);
      for (const file of ["gt.coco.json", "detections.coco.json"]) {
        assert.equal(
          await Deno.readTextFile(`${dir}/m/${file}`),
          await Deno.readTextFile(`${dir}/whole/${file}`),
          file,
        );
      }
      const [whole, merged] = await Promise.all(
        ["whole", "m"].map(async (d) => JSON.parse(await Deno.readTextFile(`${dir}/${d}/ap.json`))),
      );
      for (const key of ["ap50", "ap75", "ap", "ar100", "ap50_ci", "ap75_ci", "ap_ci"]) {
        assert.deepEqual(merged[key], whole[key], key);
      }
      assert.deepEqual(merged.settings.merged_shards, [`${dir}/a`, `${dir}/b`]);
    }, "shards_ap_test_"),
});
