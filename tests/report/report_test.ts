import assert from "node:assert/strict";
import { ArtifactError } from "../../lib/core/artifacts.ts";
import { type CocoResult, evaluateCocoFiles } from "../../lib/eval/coco.ts";
import { buildDataset, toCocoGroundTruth, writeDataset } from "../../lib/data/dataset.ts";
import { decodeImage } from "../../lib/image/codec.ts";
import {
  escapeHtml,
  lineChartSvg,
  loadRunDir,
  renderGalleryImage,
  renderReportHtml,
  type RunData,
} from "../../lib/report/report.ts";
import { mulberry32 } from "../../lib/data/split.ts";
import { openDirectorySource } from "../../lib/data/source.ts";

/** Debian's chromium (installed by .ci/run); env CHROMIUM overrides the path. */
const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const FIXTURES = new URL("../../fixtures/PennFudanPed", import.meta.url).pathname;
const TASK = new URL("../../tasks/report.ts", import.meta.url).pathname;

function haveChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}
/** Skipped without Chromium locally; in CI (env CI set) the test runs and fails instead. */
const chromiumPresent = haveChromium();

Deno.test("escapeHtml() escapes the five HTML-special characters", () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
});

Deno.test("lineChartSvg() draws one polyline per series in plot coordinates, with a legend", () => {
  const svg = lineChartSvg(
    [
      { name: "a<b", color: [1, 2, 3], points: [[0, 0], [1, 1]] },
      { name: "c", color: [4, 5, 6], points: [[0.5, 0.5]], dashed: true },
    ],
    {
      title: "T",
      xLabel: "recall",
      yLabel: "precision",
      xDomain: [0, 1],
      yDomain: [0, 1],
      width: 200,
      height: 150,
      id: "t",
    },
  );
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" class="chart" data-chart="t"/);
  const lines = [...svg.matchAll(/<polyline data-series="([^"]*)" points="([^"]*)"/g)];
  assert.deepEqual(lines.map((m) => m[1]), ["a&lt;b", "c"]);
  // Plot area: left 56, right 200 − 16 = 184, top 30, bottom 150 − 46 = 104 (the legend is added below).
  assert.equal(lines[0][2], "56.00,104.00 184.00,30.00");
  assert.match(svg, /stroke="rgb\(4,5,6\)" stroke-width="2" stroke-dasharray="6 4"/);
  assert.match(svg, /class="legend">a&lt;b<\/text>/);
  assert.match(svg, /height="186"/); // 150 + 2 legend lines × 16 + 4
});

function fakeRun(name: string, kind: "original" | "finetuned", ap75: number): RunData {
  const curve = Array.from(
    { length: 101 },
    (_, i) => [i / 100, Math.max(0, ap75 - i / 200)] as [number, number],
  );
  return {
    dir: `/runs/${name}`,
    name,
    kind,
    ap: {
      ap50: ap75 + 0.1,
      ap75,
      ap: ap75 / 2,
      ar100: 0.5,
      ar1: 0.1,
      ar10: 0.4,
      voc_ap50: 0,
      voc_ap75: 0,
      pr_curve_75: curve,
      pr_curve_50: curve,
      settings: {
        mode: "detector",
        category: { id: 1, name: "person" },
        iou_thresholds: [0.5],
        recall_thresholds: 101,
        max_dets: [1, 10, 100],
        area_range: [0, 1e10],
      },
      n_images: 3,
      n_gt: 5,
      n_detections: 9,
    },
  };
}

Deno.test("renderReportHtml() states the verdict, lists every run and fetches nothing", () => {
  const runs = [fakeRun("voc", "original", 0.2), fakeRun("tuned <1>", "finetuned", 0.6)];
  const before = structuredClone(runs);
  const html = renderReportHtml(runs, { generatedAt: "2026-01-01T00:00:00Z" });
  assert.deepEqual(runs, before);
  assert.match(html, /data-verdict="supported"/);
  assert.match(html, /AP@0.75 0.2000 \(voc\) → 0.6000 \(tuned &lt;1&gt;\), \+0.4000/);
  assert.match(html, /<tr data-run="tuned &lt;1&gt;">/);
  assert.match(html, /data-metric="ap75">0.6000</);
  assert.match(html, /data-chart="pr75"/);
  // No resource outside the page: no src/href other than data: URIs, no url(), no @import.
  for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) assert.match(m[1], /^data:/);
  assert.doesNotMatch(html, /url\(|@import/);
  const worse = renderReportHtml([fakeRun("voc", "original", 0.7), fakeRun("t", "finetuned", 0.6)]);
  assert.match(worse, /data-verdict="not-supported"/);
  assert.match(renderReportHtml([fakeRun("t", "finetuned", 0.6)]), /data-verdict="incomplete"/);
});

Deno.test("renderGalleryImage() shrinks the image and draws only detections above the score threshold", () => {
  const img = { width: 200, height: 100, data: new Uint8Array(200 * 100 * 3).fill(128) };
  const { image, nShown } = renderGalleryImage(
    img,
    [[10, 10, 50, 50]],
    [{ bbox: [100, 20, 40, 40], score: 0.9 }, { bbox: [0, 0, 10, 10], score: 0.1 }],
    [255, 0, 0],
    { minScore: 0.3, maxBoxes: 10, maxSide: 100 },
  );
  assert.equal(nShown, 1);
  assert.deepEqual([image.width, image.height], [100, 50]);
  const px = (x: number, y: number) => [...image.data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3)];
  assert.deepEqual(px(5, 15), [0, 200, 0]); // gt left edge at x = 10 × 0.5
  assert.deepEqual(px(50, 20), [255, 0, 0]); // detection top-left corner at (100, 20) × 0.5 = (50, 10) … edge
  assert.deepEqual(px(1, 1), [128, 128, 128]); // the low-score box is not drawn
});

Deno.test("loadRunDir() names the malformed file and field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ap.json`, JSON.stringify(fakeRun("x", "original", 0.1).ap));
    await Deno.writeTextFile(
      `${dir}/train-log.json`,
      JSON.stringify({ steps: [{ epoch: 1, step: 1 }], epochs: [] }),
    );
    await assert.rejects(loadRunDir(dir), (e: unknown) => {
      assert.ok(e instanceof ArtifactError);
      assert.match(e.message, /train-log\.json: field steps\.0\.loss/);
      return true;
    });
    await Deno.remove(`${dir}/train-log.json`);
    const run = await loadRunDir(dir);
    assert.equal(run.kind, "finetuned"); // no run.json, no n_classes 21 in settings
    await Deno.remove(`${dir}/ap.json`);
    await assert.rejects(loadRunDir(dir), /ap\.json: cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Two run dirs over the fixture dataset: "original" with noisy boxes, "finetuned" with near-exact ones. */
async function makeRuns(root: string): Promise<string[]> {
  const source = await openDirectorySource(FIXTURES);
  const dataset = buildDataset(source, { source: { path: FIXTURES, sha256: null }, testSize: 4, seed: 0 });
  const datasetPath = `${root}/dataset.json`;
  await writeDataset(datasetPath, dataset);
  const gt = toCocoGroundTruth(dataset, "test");
  const rand = mulberry32(7);
  const dirs: string[] = [];
  for (
    const [name, kind, noise] of [["voc-original", "original", 12], ["finetuned", "finetuned", 1.5]] as const
  ) {
    const dets: CocoResult[] = gt.annotations.flatMap((a) => [
      {
        image_id: a.image_id,
        category_id: 1,
        bbox: a.bbox.map((v, j) => Math.max(j < 2 ? 0 : 1, v + (rand() - 0.5) * noise)) as [
          number,
          number,
          number,
          number,
        ],
        score: 0.5 + rand() / 2,
      },
      { image_id: a.image_id, category_id: 1, bbox: [rand() * 50, rand() * 50, 20, 40], score: rand() * 0.6 },
    ]);
    const dir = `${root}/${name}`;
    await Deno.mkdir(dir);
    const ap = evaluateCocoFiles(gt, dets, { id: 1, name: "person" }, {
      mode: "detector",
      dataset: datasetPath,
      split: "test",
      n_classes: kind === "original" ? 21 : 2,
    });
    await Deno.writeTextFile(`${dir}/ap.json`, JSON.stringify(ap));
    await Deno.writeTextFile(`${dir}/gt.coco.json`, JSON.stringify(gt));
    await Deno.writeTextFile(`${dir}/detections.coco.json`, JSON.stringify(dets));
    if (kind === "finetuned") {
      await Deno.writeTextFile(
        `${dir}/run.json`,
        JSON.stringify({ name: "fine-tuned", kind, settings: { lr: 1e-3, epochs: 4 } }),
      );
      const steps = Array.from(
        { length: 40 },
        (_, k) => ({ epoch: Math.floor(k / 10) + 1, step: k + 1, loss: 8 / (1 + k / 5) }),
      );
      const epochs = [1, 2, 3, 4].map((e) => ({
        epoch: e,
        train_loss: 6 / (1 + e),
        val_loss: 6.5 / (1 + e),
        val_ap75: 0.2 * e,
      }));
      await Deno.writeTextFile(`${dir}/train-log.json`, JSON.stringify({ steps, epochs }));
    }
    dirs.push(dir);
  }
  return dirs;
}

async function chromium(
  args: string[],
  profile: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "deno task report renders in headless Chromium with the table, the curves and the gallery",
  ignore: !chromiumPresent && !Deno.env.get("CI"),
  async fn() {
    if (!chromiumPresent) throw new Error(`${CHROMIUM} is required in CI (apt-get install chromium)`);
    const root = await Deno.makeTempDir();
    try {
      const [original, tuned] = await makeRuns(root);
      const out = `${root}/report.html`;
      const task = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          TASK,
          "--runs",
          original,
          tuned,
          "--out",
          out,
          "--gallery",
          "3",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(task.code, 0, new TextDecoder().decode(task.stderr));
      const url = `file://${out}`;

      const dom = await chromium(["--dump-dom", url], `${root}/profile-dom`);
      assert.equal(dom.code, 0, dom.stderr);
      const html = dom.stdout;
      const rows = [...html.matchAll(/<tr data-run="([^"]+)">/g)].map((m) => m[1]);
      assert.deepEqual(rows, ["voc-original", "fine-tuned"]);
      const ap = JSON.parse(await Deno.readTextFile(`${tuned}/ap.json`));
      assert.ok(
        html.includes(`data-metric="ap75">${ap.ap75.toFixed(4)}<`),
        "fine-tuned AP@0.75 in the table",
      );
      assert.match(html, /data-chart="pr75"/);
      const pr = html.slice(
        html.indexOf('data-chart="pr75"'),
        html.indexOf("</svg>", html.indexOf('data-chart="pr75"')),
      );
      assert.equal([...pr.matchAll(/<polyline data-series=/g)].length, 2, "one PR curve per run");
      assert.match(pr, /<polyline [^>]*points="(?:[\d.]+,[\d.]+ ){100}[\d.]+,[\d.]+"/, "101 points");
      assert.match(html, /data-chart="loss-fine-tuned"/);
      assert.match(html, /data-chart="valap-fine-tuned"/);
      assert.equal(
        [...html.matchAll(/<img src="data:image\/png;base64,/g)].length,
        3 * 2,
        "3 images × 2 runs",
      );
      assert.match(html, /data-verdict="supported"/);

      const shot = `${root}/shot.png`;
      const s = await chromium(
        ["--screenshot=" + shot, "--window-size=1200,1600", url],
        `${root}/profile-shot`,
      );
      assert.equal(s.code, 0, s.stderr);
      const img = decodeImage(await Deno.readFile(shot), shot);
      assert.deepEqual([img.width, img.height], [1200, 1600]);
      // Not blank: luminance varies (text, table borders, curves), and a fair share of pixels is not background.
      let sum = 0, sum2 = 0, nonWhite = 0;
      const n = img.width * img.height;
      for (let i = 0; i < n; i++) {
        const y = 0.299 * img.data[i * 3] + 0.587 * img.data[i * 3 + 1] + 0.114 * img.data[i * 3 + 2];
        sum += y;
        sum2 += y * y;
        if (y < 240) nonWhite++;
      }
      const variance = sum2 / n - (sum / n) ** 2;
      assert.ok(variance > 100, `screenshot luminance variance ${variance.toFixed(1)}`);
      assert.ok(nonWhite / n > 0.02, `non-white share ${(nonWhite / n).toFixed(3)}`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
