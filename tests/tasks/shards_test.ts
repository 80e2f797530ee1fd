/**
 * Shards: `detect --images … --shard K/N|auto` and `ap --dataset … --shard K/N` each take one slice of the list;
 * `detect --merge` / `ap --merge` join the slices into what one unsharded run writes. Small: a random 2-class
 * SSD300, the 12 fixture images (the 4 test images for ap), batches of 2 so that every shard boundary is a batch
 * boundary of the unsharded run too (same batches, same numbers).
 */
import assert from "node:assert/strict";
import { parseShardFlag } from "../../lib/cli/mod.ts";
import { exists, lockRunFolder } from "../../lib/core/mod.ts";
import { writeDataset } from "../../lib/data/mod.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { orderShards, shardRange } from "../../lib/evaluation/mod.ts";
import {
  FIXTURE_DIR,
  fixtureFolderDataset,
  runPiped,
  runTaskScript,
  saveRandomWeights,
  withTempDir,
} from "../helpers.ts";

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
      const w = `${dir}/w.json`;
      await saveRandomWeights(w, ["background", "figure"]);
      const common = ["--weights", w, "--min-score", "0.05", "--top-k", "15", "--batch-size", "2"];
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
      const merge = (dirs: string[], out: string) =>
        runTaskScript("detect", ["--merge", ...dirs, "--out", out]);
      // the merge refuses an incomplete set, then joins the three (shell-expanded folder arguments)
      const partial = await merge([`${dir}/s1`, `${dir}/s3`], `${dir}/m`);
      assert.equal(partial.code, 1, partial.stderr);
      assert.match(partial.stderr, /shard 2 of 3 missing/);
      const merged = await merge([`${dir}/s3`, `${dir}/s1`, `${dir}/s2`], `${dir}/m`);
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
      for (const meta of ["lock", "staging", "journal.json"]) {
        assert.equal(
          await exists(`${dir}/m/.ssd300/${meta}`),
          false,
          `the merge committed and released --out`,
        );
      }
      // --out held by another writer: exit 1 naming the holder, nothing written
      {
        await using _held = await lockRunFolder(`${dir}/busy`, "detect");
        const busy = await merge([`${dir}/s1`, `${dir}/s2`, `${dir}/s3`], `${dir}/busy`);
        assert.equal(busy.code, 1, busy.stderr);
        assert.match(busy.stderr, /busy: another task is writing this folder: detect \(pid \d+/);
        assert.equal(await exists(`${dir}/busy/images.json`), false);
      }
      // an annotated name in a shard's images.json that leaves the folder is refused before anything is written
      await Deno.mkdir(`${dir}/evil`);
      for (const f of ["images.json", "detections.coco.json"]) {
        await Deno.copyFile(`${dir}/s2/${f}`, `${dir}/evil/${f}`);
      }
      const evil = JSON.parse(await Deno.readTextFile(`${dir}/evil/images.json`));
      evil.images[0].annotated = "annotated/../../../escaped.jpg";
      await Deno.writeTextFile(`${dir}/evil/images.json`, JSON.stringify(evil));
      const refused = await merge([`${dir}/s1`, `${dir}/evil`, `${dir}/s3`], `${dir}/m3`);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /evil\/images\.json: image 5: annotated "annotated\/\.\.\/\.\.\/\.\.\/escaped\.jpg" is not a unique path/,
      );
      assert.equal(await exists(`${dir}/escaped.jpg`), false);
      assert.equal(await exists(`${dir}/m3`), false);
    }, "shards_test_"),
});

Deno.test({
  name: "ap --dataset in 2 shards, joined by ap --merge, gives the unsharded run's files and numbers",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      await initBackend("wasm", null);
      await saveRandomWeights(`${dir}/w.json`, ["background", "person"]);
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
      // ap.json names the committed files, not where they were staged
      assert.equal(merged.settings.annotations, `${dir}/m/gt.coco.json`);
      assert.equal(merged.settings.detections, `${dir}/m/detections.coco.json`);
    }, "shards_ap_test_"),
});
