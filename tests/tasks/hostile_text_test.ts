/**
 * Hostile text through every user-controlled field (issue 20, escaping in one place): markup
 * (`<img src=x onerror=alert(1)>`, `</script>`, quotes, `&`) and terminal controls (ESC sequences, BEL, CR, NUL,
 * a newline that would start a forged line) in a COCO category name, image file names and their folder (the
 * dataset's origin), run.json names,
 * descriptions, starting point and settings, run folder names and the report's --title, through the real
 * tasks (`deno task prepare`, `ap`, `report`, under their own permissions). The report must show each text
 * escaped exactly once and never raw (checked on the file and on Chromium's DOM), and nothing the tasks print
 * may hold a control character or a forged line.
 */
import assert from "node:assert/strict";
import { escapeHtml } from "../../lib/core/mod.ts";
import { FIXTURE_DIR, FIXTURES_ROOT, type RunOutput, runPiped, withTempDir } from "../helpers.ts";
import { denoTask } from "../helpers.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Markup that would run script or break out of an element or attribute if it reached the page raw. */
const MARKUP = `<img src=x onerror=alert(1)></script>'"&`;
/** The same without `/` (for one path segment). */
const MARKUP_SEGMENT = `<img src=x onerror=alert(1)>'"&`;
/** Clear screen, set the window title, bell, carriage return. */
const ESCAPES = "\x1b[2J\x1b]0;title\x07\x07\r";
/** A newline that would start a line of its own in the terminal. */
const FORGED = "\nFORGED: ok";

const CATEGORY = `walker${MARKUP}${ESCAPES}\0${FORGED}`;
/** `</script>` then the rest: on disk a folder `<` holding `script>…` (a file name cannot hold `/`). */
const fileName = (i: number) => `</script>${MARKUP_SEGMENT}${ESCAPES}${FORGED} ${i}.png`;
const RUN_DIR = (i: number) => `run${i} ${ESCAPES}${MARKUP_SEGMENT}`;
const RUN_NAME = (i: number) => `${i === 1 ? "voc" : "tuned"} ${MARKUP}${ESCAPES}\0${FORGED}`;
const DESCRIPTION = `about ${MARKUP}${ESCAPES}\0${FORGED}`;
const SETTING = `note ${MARKUP}${ESCAPES}${FORGED}`;
const START_FILE = `${MARKUP_SEGMENT}${ESCAPES}.pth`;
const TITLE = `Title ${MARKUP}${ESCAPES}\0${FORGED}`;
/** The image folder (dataset.json's origin): a name with markup and controls too. */
const IMAGES = `images ${MARKUP_SEGMENT}${ESCAPES}${FORGED}`;

/** What a terminal must never receive: C0 controls but LF (and TAB), DEL, C1. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** Asserts that a task's output holds no control character and no line forged by a name's newline. */
function assertCleanTerminal(r: RunOutput, what: string): void {
  for (const [stream, text] of [["stdout", r.stdout], ["stderr", r.stderr]]) {
    const m = CONTROL.exec(text);
    assert.equal(m, null, `${what} ${stream}: raw U+${m?.[0].charCodeAt(0).toString(16)} in ${text}`);
    assert.doesNotMatch(text, /^FORGED/m, `${what} ${stream}: a name's newline started a line`);
    assert.doesNotMatch(text, /^\s+at /m, `${what} ${stream}: a stack trace`);
  }
}

/** Text as Chromium serialises a text node: the HTML parser turns CR into LF and drops NUL in body text. */
function domText(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(/\0/g, "").replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** What the report's own text does to a value before escaping it (HTML turns CR into LF only in the DOM). */
function assertEscapedOnce(html: string, value: string, what: string): void {
  assert.ok(html.includes(escapeHtml(value)), `${what}: escaped once`);
}

/** Copies the COCO fixture with hostile category and file names; returns the instances.json path. */
async function hostileCoco(dir: string, categories: "both" | "one"): Promise<string> {
  const coco = JSON.parse(await Deno.readTextFile(`${FIXTURES_ROOT}/coco/instances.json`));
  await Deno.mkdir(`${dir}/${IMAGES}/<`, { recursive: true });
  coco.images.forEach((im: { file_name: string }, i: number) => {
    const name = fileName(i + 1);
    Deno.copyFileSync(`${FIXTURE_DIR}/PNGImages/${im.file_name}`, `${dir}/${IMAGES}/${name}`);
    im.file_name = name;
  });
  coco.categories[0].name = CATEGORY;
  coco.categories[1].name = `bike ${MARKUP}${ESCAPES}\0${FORGED}`;
  if (categories === "one") {
    coco.annotations = coco.annotations.filter((a: { category_id: number }) => a.category_id === 3);
    coco.categories = [coco.categories[0]];
  }
  const path = `${dir}/instances-${categories}.json`;
  await Deno.writeTextFile(path, JSON.stringify(coco));
  return path;
}

Deno.test("hostile names reach the report escaped exactly once and the terminal without a control character", async () => {
  await withTempDir(async (dir) => {
    // prepare refuses a file with two categories, listing both names: visible escapes, no forged line
    const both = await denoTask("prepare", [
      "-q",
      ...["--data", await hostileCoco(dir, "both"), "--images", `${dir}/${IMAGES}`, "--out", `${dir}/ds`],
    ]);
    assert.equal(both.code, 1, both.stderr);
    assertCleanTerminal(both, "prepare (two categories)");
    assert.ok(both.stderr.includes("walker<img src=x onerror=alert(1)></script>'\"&\\x1b[2J\\x1b]0;title"));
    assert.ok(both.stderr.includes("\\x07\\x07\\r\\0\\nFORGED: ok"), both.stderr);

    // a missing image is listed by its path: the folder's and the file's newlines cannot start a line
    const coco = await hostileCoco(dir, "one");
    const missing = JSON.parse(await Deno.readTextFile(coco));
    missing.images[0].file_name = `gone ${MARKUP_SEGMENT}${ESCAPES}${FORGED}.png`;
    await Deno.writeTextFile(`${dir}/missing.json`, JSON.stringify(missing));
    const gone = await denoTask("prepare", [
      ...["--data", `${dir}/missing.json`, "--images", `${dir}/${IMAGES}`, "--out", `${dir}/ds`],
    ]);
    assert.equal(gone.code, 1, gone.stderr);
    assertCleanTerminal(gone, "prepare (missing image)");
    assert.match(gone.stderr, /images <img src=x onerror=alert\(1\)>'"&\\x1b\[2J.*\\nFORGED: ok\/gone /);

    const prepared = await denoTask("prepare", [
      ...["--data", await hostileCoco(dir, "one"), "--images", `${dir}/${IMAGES}`, "--out", `${dir}/ds`],
      ...["--test-size", "6"],
    ]);
    assert.equal(prepared.code, 0, prepared.stderr);
    assertCleanTerminal(prepared, "prepare");
    assert.ok(prepared.stdout.includes("walker<img src=x onerror=alert(1)></script>'\"&\\x1b[2J"));

    // two runs scored by ap (mode A) on the prepared ground truth, with hand-written run.json notes
    const gt = JSON.parse(await Deno.readTextFile(`${dir}/ds/annotations.coco.json`));
    const runDirs: string[] = [];
    for (const i of [1, 2]) {
      const runDir = `${dir}/${RUN_DIR(i)}`;
      const dets = gt.annotations.map((a: { image_id: number; bbox: number[] }, k: number) => ({
        image_id: a.image_id,
        category_id: 1,
        bbox: a.bbox.map((v, j) => Math.max(j < 2 ? 0 : 1, v + ((k * 7 + j * 3 + i) % 5) - 2)),
        score: 0.4 + ((k * 13 + i) % 10) / 20,
      }));
      await Deno.mkdir(runDir);
      await Deno.writeTextFile(`${runDir}/dets.json`, JSON.stringify(dets));
      const ap = await denoTask("ap", [
        ...["--annotations", `${dir}/ds/annotations.coco.json`, "--detections", `${runDir}/dets.json`],
        ...["--out", runDir, "--bootstrap", "50"],
      ]);
      assert.equal(ap.code, 0, ap.stderr);
      assertCleanTerminal(ap, `ap ${i}`);
      const note = i === 1 ? { name: RUN_NAME(1), kind: "original", description: DESCRIPTION } : {
        name: RUN_NAME(2),
        kind: "finetuned",
        description: DESCRIPTION,
        start: { kind: "checkpoint", path: `/models/${START_FILE}` },
        head_init: "random",
        settings: { lr: 0.001, note: SETTING },
      };
      await Deno.writeTextFile(`${runDir}/run.json`, JSON.stringify(note));
      if (i === 2) {
        const steps = [1, 2, 3, 4].map((s) => ({ epoch: s <= 2 ? 1 : 2, step: s, loss: 5 - s }));
        const epochs = [1, 2].map((e) => ({
          epoch: e,
          train_loss: 4 - e,
          val_loss: 4.5 - e,
          val_ap75: e / 10,
        }));
        await Deno.writeTextFile(`${runDir}/train-log.json`, JSON.stringify({ steps, epochs }));
      }
      runDirs.push(runDir);
    }
    // ap refuses a category that is not there, listing the hostile one
    const wrong = await denoTask("ap", [
      ...["--annotations", `${dir}/ds/annotations.coco.json`, "--detections", `${runDirs[0]}/dets.json`],
      ...["--category", "nope", "--out", `${dir}/nope`],
    ]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assertCleanTerminal(wrong, "ap --category nope");

    for (const withTitle of [true, false]) {
      const out = `${dir}/report-${withTitle}.html`;
      const report = await denoTask("report", [
        ...["--runs", ...runDirs, "--dataset", `${dir}/ds/dataset.json`, "--out", out, "--bootstrap", "50"],
        ...(withTitle ? ["--title", TITLE.replace("\0", "")] : []),
      ]);
      assert.equal(report.code, 0, report.stderr);
      assertCleanTerminal(report, "report");
      assert.ok(
        report.stderr.includes("voc <img src=x onerror=alert(1)></script>'\"&\\x1b[2J"),
        report.stderr,
      );
      const html = await Deno.readTextFile(out);

      // never raw, never twice
      assert.doesNotMatch(html, /<img|<\/?script/i, "markup from the data reached the page raw");
      assert.doesNotMatch(html, /&amp;(lt|gt|quot|#39|amp);/, "a text was escaped twice");
      // every field, escaped once, where the page shows it
      const title = withTitle
        ? TITLE.replace("\0", "")
        : `${CATEGORY.charAt(0).toUpperCase()}${
          CATEGORY.slice(1)
        } detection on the ${CATEGORY} images: original VOC detector vs fine-tuned (6 test images)`;
      assert.ok(html.includes(`<title>${escapeHtml(title)}</title>`), "title");
      assert.ok(html.includes(`<h1>${escapeHtml(title)}</h1>`), "h1");
      assert.ok(html.includes(`single-class <code>${escapeHtml(CATEGORY)}</code> detector`), "hypothesis");
      assert.ok(html.includes(`its <code>${escapeHtml(CATEGORY)}</code> class`), "hypothesis: VOC class");
      assert.ok(
        html.includes(`<th>test images / ${escapeHtml(CATEGORY)}s / detections</th>`),
        "results header",
      );
      assert.ok(html.includes(`(missed ${escapeHtml(CATEGORY)}s + false positives`), "gallery note");
      for (const i of [1, 2]) {
        const name = escapeHtml(RUN_NAME(i));
        assert.ok(html.includes(`<tr data-run="${name}"><td>`), `results row ${i}`);
        assert.ok(html.includes(`<b>${name}</b>`), `run name ${i}`);
        assert.ok(html.includes(`<figure class="panel" data-run="${name}"`), `gallery panel ${i}`);
        assert.ok(html.includes(`data-series="${name} (AP `), `PR legend ${i}`);
        assert.ok(html.includes(`<code>${escapeHtml(`${dir}/${RUN_DIR(i)}`)}</code>`), `run folder ${i}`);
      }
      assert.ok(html.includes(`<h2>Training loss: ${escapeHtml(RUN_NAME(2))}</h2>`), "training section");
      assert.ok(html.includes(`data-chart="${escapeHtml(`loss-${RUN_NAME(2)}`)}"`), "chart id");
      assertEscapedOnce(html, ` — ${DESCRIPTION}`, "description");
      assertEscapedOnce(html, `${RUN_NAME(2)} − ${RUN_NAME(1)}`, "paired difference");
      assertEscapedOnce(html, `VOC checkpoint ${START_FILE}`, "starting point");
      assertEscapedOnce(html, SETTING, "setting value");
      const shown = [...html.matchAll(/<div class="item-head"><b>([^<]*)<\/b>/g)].map((m) => m[1]);
      assert.equal(shown.length, 6, "every test image in the gallery");
      for (const s of shown) {
        assert.match(s, /^script&gt;&lt;img src=x onerror=alert\(1\)&gt;&#39;&quot;&amp;/);
      }
      assert.ok(shown.every((s) => fileNames().some((f) => s === escapeHtml(f))), "file names escaped once");

      // Chromium's DOM: the texts are text (no element came from them) and read as given
      if (!haveChromium && !Deno.env.get("CI")) continue;
      const dom = await runPiped(CHROMIUM, [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        `--user-data-dir=${dir}/profile-${withTitle}`,
        "--dump-dom",
        `file://${out}`,
      ]);
      assert.equal(dom.code, 0, dom.stderr);
      assert.doesNotMatch(dom.stdout, /<img|<script/i, "no element from the data in the DOM");
      assert.ok(dom.stdout.includes(`<h1>${domText(title)}</h1>`), "the title reads as given");
      assert.ok(dom.stdout.includes(`<b>${domText(RUN_NAME(2))}</b>`), "a run name reads as given");
    }
  });
});

/** The base names of the hostile image files (the 12 fixture images): the gallery shows these. */
function fileNames(): string[] {
  return Array.from({ length: 12 }, (_, i) => fileName(i + 1).slice("</".length));
}
