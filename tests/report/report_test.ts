import assert from "node:assert/strict";
import { ArtifactError } from "../../lib/core/mod.ts";
import { toCocoGroundTruth, writeDataset } from "../../lib/data/mod.ts";
import { type CocoResult, evaluateCocoFiles, withBootstrapIntervals } from "../../lib/evaluation/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { mulberry32 } from "../../lib/core/mod.ts";
import { buildReport, loadRunDir } from "../../lib/report/mod.ts";
import { fakeRun, fixtureFolderDataset, type RunOutput, runPiped } from "../helpers.ts";

/** Debian's chromium (installed by .ci/run); env CHROMIUM overrides the path. */
const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
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

Deno.test("buildReport() states the verdict with its interval, lists every run, escapes and fetches nothing", () => {
  const runs = [
    fakeRun("voc", "original", 60, { perImage: true, nImages: 30 }),
    fakeRun("tuned <1>", "finetuned", 2, { perImage: true, nImages: 30 }),
  ];
  const before = structuredClone(runs);
  const html = buildReport(runs, { generatedAt: "2026-01-01T00:00:00Z", resamples: 300 });
  assert.deepEqual(runs, before);
  const verdict = html.match(/<p class="verdict" data-verdict="([a-z-]+)">(.*?)<\/p>/)!;
  assert.equal(verdict[1], "supported");
  assert.match(verdict[2], /tuned &lt;1&gt; − voc AP@0.75 = \+[01]\.\d{3} \[\+[01]\.\d{3}, \+[01]\.\d{3}\]/);
  assert.match(html, /<tr data-run="tuned &lt;1&gt;">/);
  const ap75 = runs[1].ap.ap75.toFixed(3);
  assert.ok(html.includes(`data-metric="ap75"><span class="value">${ap75}</span> <span class="ci">[`), ap75);
  assert.match(html, /<h2>How to read this<\/h2>/);
  assert.match(html, /<h2>Precision–recall at IoU 0.75<\/h2>/);
  assert.match(html, /<h2>Precision–recall at IoU 0.5<\/h2>/);
  assert.match(
    html,
    /<title>Person detection on COCO category &quot;person&quot;: original VOC detector vs fine-tuned/,
  );
  assert.doesNotMatch(html, /data-smoke/); // 30 test images, no dataset info: no banner
  // No resource outside the page: no src/href other than data: URIs, no url(), no @import, no script.
  for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) assert.match(m[1], /^data:/);
  assert.doesNotMatch(html, /url\(|@import|<script/);
  const worse = buildReport([runs[1], { ...runs[0], kind: "finetuned" }, {
    ...runs[1],
    name: "o",
    kind: "original",
  }], {
    resamples: 100,
  });
  assert.match(worse, /data-verdict="not-supported"/);
  assert.match(buildReport([runs[1]]), /data-verdict="incomplete"/);
  const smoke = buildReport([runs[1]], {
    dataset: { name: "the synthetic fixture images", synthetic: true },
  });
  assert.match(
    smoke,
    /<div class="banner" role="alert" data-smoke="true"><b>Smoke run: these numbers mean nothing/,
  );
});

Deno.test("loadRunDir() names the malformed file and field; mode A runs find their COCO files via ap.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = fakeRun("x", "original", 10, { perImage: true });
    await Deno.writeTextFile(`${dir}/ap.json`, JSON.stringify(run.ap));
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
    assert.equal((await loadRunDir(dir)).kind, "original"); // no run.json: n_classes 21
    const finetuneRun = {
      task: "finetune",
      kind: "finetuned",
      dataset: "dataset.json",
      start: { kind: "scratch", path: null },
      head_init: "random",
      engine: { backend: "wasm", conv: "wasm", workers: 1 },
      settings: {},
      n_train: 2,
      n_val: 1,
      val_ids: [3],
      resumed_from_epoch: 0,
      best: { epoch: 2, metric: "ap75", value: 0.5 },
      seconds: 1,
      ms_per_image: 1,
      ms_per_train_image: 1,
      finished: "2026-01-01T00:00:00.000Z",
    };
    await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify(finetuneRun));
    assert.deepEqual((await loadRunDir(dir)).best, finetuneRun.best); // the report's best-epoch ring
    await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify({ ...finetuneRun, best: null }));
    assert.equal((await loadRunDir(dir)).best, undefined);
    await Deno.remove(`${dir}/run.json`);
    await Deno.writeTextFile(`${dir}/gt.json`, JSON.stringify(run.groundTruth));
    await Deno.writeTextFile(`${dir}/dets.json`, JSON.stringify(run.detections));
    const modeA = {
      ...run.ap,
      settings: { ...run.ap.settings, annotations: "gt.json", detections: "dets.json" },
    };
    await Deno.writeTextFile(`${dir}/ap.json`, JSON.stringify(modeA));
    const loaded = await loadRunDir(dir);
    assert.equal(loaded.detections?.length, run.detections!.length);
    assert.equal(loaded.groundTruth?.images.length, 6);
    await Deno.remove(`${dir}/ap.json`);
    await assert.rejects(loadRunDir(dir), /ap\.json: cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Two run dirs over the fixture dataset (8 of its 12 images as the test split): "voc-original" with noisy boxes,
 * "finetuned" with near-exact ones and a 4-epoch training log numbered by global step.
 */
async function makeRuns(root: string): Promise<string[]> {
  const dataset = await fixtureFolderDataset(8);
  const datasetPath = `${root}/dataset.json`;
  await writeDataset(datasetPath, dataset);
  const gt = toCocoGroundTruth(dataset, "test");
  const rand = mulberry32(7);
  const dirs: string[] = [];
  for (
    const [name, kind, noise] of [["voc-original", "original", 14], ["finetuned", "finetuned", 1]] as const
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
    await Deno.writeTextFile(
      `${dir}/ap.json`,
      JSON.stringify(withBootstrapIntervals(ap, gt, dets, { resamples: 200 })),
    );
    await Deno.writeTextFile(`${dir}/gt.coco.json`, JSON.stringify(gt));
    await Deno.writeTextFile(`${dir}/detections.coco.json`, JSON.stringify(dets));
    if (kind === "finetuned") {
      await Deno.writeTextFile(
        `${dir}/run.json`,
        JSON.stringify({
          name: "fine-tuned",
          kind,
          source: { kind: "scratch", path: null },
          settings: { lr: 1e-3, epochs: 4, batchSize: 4 },
        }),
      );
      const steps = Array.from(
        { length: 12 },
        (_, k) => ({ epoch: Math.floor(k / 3) + 1, step: k + 1, loss: 8 / (1 + k / 5) }),
      );
      const epochs = [1, 2, 3, 4].map((e) => ({
        epoch: e,
        train_loss: 6 / e,
        val_loss: 6.5 / e,
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
): Promise<RunOutput> {
  return await runPiped(CHROMIUM, [
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
  ]);
}

Deno.test({
  name: "deno task report renders in headless Chromium: verdict, banner, table, charts, gallery side by side",
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
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(task.code, 0, new TextDecoder().decode(task.stderr));
      const url = `file://${out}`;

      const dom = await chromium(["--dump-dom", url], `${root}/profile-dom`);
      assert.equal(dom.code, 0, dom.stderr);
      const html = dom.stdout;
      assert.match(
        html,
        /<h1>Person detection on the synthetic fixture images: original VOC detector vs fine-tuned/,
      );
      assert.match(html, /data-smoke="true".*synthetic fixtures.*random initialisation.*only 8 test images/s);
      const rows = [...html.matchAll(/<tr data-run="([^"]+)">/g)].map((m) => m[1]);
      assert.deepEqual(rows, ["voc-original", "fine-tuned"]);
      const ap = JSON.parse(await Deno.readTextFile(`${tuned}/ap.json`));
      assert.ok(
        html.includes(`<span class="value">${ap.ap75.toFixed(3)}</span>`),
        "fine-tuned AP@0.75 in the table",
      );
      const verdict = html.match(/<p class="verdict" data-verdict="([a-z-]+)">/)?.[1];
      assert.ok(["supported", "not-supported", "undecided"].includes(verdict!), `verdict ${verdict}`);
      assert.match(
        html,
        /fine-tuned − voc-original AP@0.75 = [+−]?\d\.\d{3} \[[+−]?\d\.\d{3}, [+−]?\d\.\d{3}\]/,
      );
      for (const id of ["pr75", "pr50", "loss-fine-tuned", "valap-fine-tuned"]) {
        assert.match(html, new RegExp(`<section[^>]*>\\s*<h2>[^<]+</h2>.*?data-chart="${id}"`, "s"), id);
      }
      const pr = html.slice(
        html.indexOf('data-chart="pr75"'),
        html.indexOf("</svg>", html.indexOf('data-chart="pr75"')),
      );
      assert.equal([...pr.matchAll(/<polyline data-series=/g)].length, 2, "one PR curve per run");
      assert.match(pr, /<polyline [^>]*points="(?:[\d.]+,[\d.]+ ){100}[\d.]+,[\d.]+"/, "101 points");
      const items = html.split('<div class="item"').slice(1);
      assert.equal(items.length, 6, "6 test images by default");
      for (const item of items) {
        assert.equal([...item.matchAll(/<figure class="panel"/g)].length, 2, "both runs side by side");
        assert.equal([...item.matchAll(/<image href="data:image\/jpeg;base64,/g)].length, 2);
      }
      assert.match(html, /id="settings"/);

      const shot = Deno.env.get("REPORT_SCREENSHOT") ?? `${root}/shot.png`;
      const s = await chromium(
        ["--screenshot=" + shot, "--window-size=1280,2400", url],
        `${root}/profile-shot`,
      );
      assert.equal(s.code, 0, s.stderr);
      const img = decodeImage(await Deno.readFile(shot), shot);
      assert.deepEqual([img.width, img.height], [1280, 2400]);
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
