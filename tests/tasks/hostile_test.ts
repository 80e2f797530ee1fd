/**
 * Hostile inputs through the tasks (issue 15): a decompression-bomb mask, an image whose zlib stream is broken,
 * an output file that is a directory — each a clean exit 1 naming the file, within seconds, nothing written.
 */
import assert from "node:assert/strict";
import { runCli } from "../../lib/cli/mod.ts";
import { sha256Hex } from "../../lib/core/mod.ts";
import { buildDataset, openZipBytes, writeDataset } from "../../lib/data/mod.ts";
import { main as finetuneMain } from "../../tasks/finetune.ts";
import { denoTask, pngFromParts, readFixtureFiles, withTempDir, zipFiles } from "../helpers.ts";

const task = (name: string, args: string[]) => denoTask(name, args);

const STACK_LINE = /^\s+at /m;
const MASK = "PennFudanPed/PedMasks/FudanPed00001_mask.png";

Deno.test("deno task prepare refuses a 60000×60000 mask from its header: exit 1, file and size named, nothing written", async () => {
  await withTempDir(async (dir) => {
    const files = await readFixtureFiles();
    files.set(
      MASK,
      pngFromParts(60000, 60000, Uint8Array.of(0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01)),
    );
    await Deno.writeFile(`${dir}/bomb.zip`, zipFiles(files));
    const prepareBomb = (...extra: string[]) =>
      task("prepare", ["-q", "--data", `${dir}/bomb.zip`, "--out", `${dir}/run`, ...extra]);
    const t0 = performance.now();
    const r = await prepareBomb();
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!STACK_LINE.test(r.stderr), r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`${MASK}: image is 60000×60000 = 3600000000 pixels, over the limit of 89478485`),
    );
    assert.ok(performance.now() - t0 < 30_000);
    assert.equal(await Deno.stat(`${dir}/run`).catch(() => null), null);
    // --max-pixels below the fixtures' sizes refuses every image, all listed at once
    const small = await prepareBomb("--max-pixels", "100");
    assert.equal(small.code, 1, small.stderr);
    assert.match(small.stderr, /12 problems|2\d problems/);
    assert.match(small.stderr, /FudanPed00002\.png: image is \d+×\d+ = \d+ pixels, over the limit of 100/);
  });
});

Deno.test("finetune lists every image whose zlib stream is broken (CRCs valid) before the first step, writing nothing", async () => {
  await withTempDir(async (dir) => {
    const files = await readFixtureFiles();
    const good = buildDataset(openZipBytes(zipFiles(files), "x.zip"), {
      origin: { path: "x.zip", sha256: null },
    });
    const broken = good.images.filter((im) => im.split === "train").slice(0, 2);
    for (const im of broken) {
      files.set(
        im.file,
        pngFromParts(im.width, im.height, Uint8Array.of(0x78, 0x9c, 0xff, 0xff, 0xff, 0x00)),
      );
    }
    const zip = zipFiles(files);
    await Deno.writeFile(`${dir}/x.zip`, zip);
    // prepare's structure check (chunk CRCs) passes them: the dataset is built as prepare would build it
    const ds = buildDataset(openZipBytes(zip, "x.zip"), {
      origin: { path: "x.zip", sha256: await sha256Hex(zip) },
    });
    await writeDataset(`${dir}/dataset.json`, ds);
    const errors: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => errors.push(a.join(" "));
    let code;
    try {
      code = await runCli("finetune", finetuneMain, [
        ...["--dataset", `${dir}/dataset.json`, "--from-scratch", "--out", `${dir}/run`, "--backend", "cpu"],
      ]);
    } finally {
      console.error = error;
    }
    const text = errors.join("\n");
    assert.equal(code, 1, text);
    assert.match(text, /finetune: 2 problems in the input data/);
    for (const im of broken) assert.match(text, new RegExp(`${im.file}: not a valid PNG`));
    assert.equal(await Deno.stat(`${dir}/run`).catch(() => null), null, "nothing written");
  });
});

Deno.test("deno task report --out <existing directory> is a clean exit 1 naming it", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/report.html/x`, { recursive: true });
    const r = await task("report", ["--runs", `${dir}/no-run`, "--out", `${dir}/report.html`]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!STACK_LINE.test(r.stderr), r.stderr);
    assert.match(r.stderr, /^report: .*report\.html: is a directory; give the path of a file to write/m);
  });
});
