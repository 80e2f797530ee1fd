import assert from "node:assert/strict";
import { ApJsonSchema } from "../../lib/evaluation/coco_files.ts";
import { GOLDEN_DIR, type RunOutput, runPiped } from "../helpers.ts";

const TASK = new URL("../../tasks/ap.ts", import.meta.url).pathname;
const GOLDEN = new URL("ap_cases.json", GOLDEN_DIR);

async function runTask(args: string[]): Promise<RunOutput> {
  return await runPiped(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    "--allow-sys",
    TASK,
    ...args,
  ]);
}

function goldenCase(): {
  images: unknown[];
  annotations: unknown[];
  detections: unknown[];
  expected: Record<string, number>;
} | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(GOLDEN)).cases[3];
  } catch (e) {
    if (Deno.env.get("CI")) throw new Error(`golden file ${GOLDEN.pathname} is required in CI: ${e}`);
    return undefined;
  }
}
const golden = goldenCase();

Deno.test({
  name: "deno task ap (mode A) writes ap.json with pycocotools' numbers for COCO files",
  ignore: golden === undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const c = golden!;
      await Deno.writeTextFile(
        `${dir}/gt.coco.json`,
        JSON.stringify({
          images: c.images,
          annotations: c.annotations,
          categories: [{ id: 1, name: "person" }],
        }),
      );
      await Deno.writeTextFile(`${dir}/dets.coco.json`, JSON.stringify(c.detections));
      const r = await runTask([
        "--annotations",
        `${dir}/gt.coco.json`,
        "--detections",
        `${dir}/dets.coco.json`,
        "--out",
        `${dir}/out`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const ap = ApJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/out/ap.json`)));
      for (const k of ["ap50", "ap75", "ap", "ar100"] as const) {
        assert.ok(Math.abs(ap[k] - c.expected[k]) <= 1e-9, `${k}: ${ap[k]} vs ${c.expected[k]}`);
      }
      assert.equal(ap.n_detections, c.detections.length);
      assert.equal(ap.pr_curve_75.length, 101);
      assert.equal(ap.settings.mode, "coco-files");
      // 95% bootstrap intervals over the test images, containing the point values.
      assert.equal(ap.bootstrap?.resamples, 1000);
      for (const k of ["ap50", "ap75", "ap"] as const) {
        const ci = ap[`${k}_ci`]!;
        assert.ok(ci[0] <= ap[k] && ap[k] <= ci[1], `${k} ${ap[k]} in ${ci}`);
      }
      assert.match(r.stdout, /AP@0\.75 [\d.]+ \[[\d.]+, [\d.]+\]/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task ap (mode A) fails naming the malformed entry, and rejects bad usage", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/gt.coco.json`,
      JSON.stringify({
        images: [{ id: 1, width: 10, height: 10 }],
        annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 5, 5] }],
        categories: [{ id: 1, name: "person" }],
      }),
    );
    const dets = [
      { image_id: 1, category_id: 1, bbox: [0, 0, 5, 5], score: 0.9 },
      { image_id: 1, category_id: 1, bbox: [1, 2, 3], score: 0.5 },
    ];
    await Deno.writeTextFile(`${dir}/detections.coco.json`, JSON.stringify(dets));
    const args = ["--annotations", `${dir}/gt.coco.json`, "--detections", `${dir}/detections.coco.json`];
    const r = await runTask([...args, "--out", `${dir}/out`]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /detections\.coco\.json: entry 1 field bbox: expected 4 numbers \(got \[1,2,3\]\)/,
    );
    await assert.rejects(Deno.stat(`${dir}/out/ap.json`));
    const noOut = await runTask(args);
    assert.equal(noOut.code, 2);
    assert.match(noOut.stderr, /--out DIR is required/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
