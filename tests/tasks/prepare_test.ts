import assert from "node:assert/strict";
import { CocoGroundTruthSchema, DatasetError, openDatasetSource, readDataset } from "../../lib/data/mod.ts";
import { exists, readJsonArtifact } from "../../lib/core/artifacts.ts";
import { decodeImage, decodeMask, encodeGrayPng, encodePng } from "../../lib/image/codec.ts";
import { UsageError } from "../../lib/cli/mod.ts";
import { runPrepare } from "../../tasks/prepare.ts";
import { FIXTURE_DIR, readFixtureFiles, withTempDir, writeFiles, zipFiles } from "../helpers.ts";
import { ignoreWithoutShared, runTaskScript, sharedPath } from "../helpers.ts";

const enc = new TextEncoder();
const ROOT = "PennFudanPed";

Deno.test("runPrepare() on the fixture directory writes dataset.json, COCO test ground truth and previews", async () => {
  await withTempDir(async (out) => {
    const s = await runPrepare(["--data", FIXTURE_DIR, "--out", out, "--preview", "2"]);
    const ds = await readDataset(`${out}/dataset.json`);
    assert.deepEqual(ds, s.dataset);
    assert.equal(ds.origin.kind, "directory");
    assert.equal(ds.origin.path, await Deno.realPath(FIXTURE_DIR));
    assert.equal(ds.origin.sha256, null);
    assert.deepEqual([ds.counts.images, ds.counts.train, ds.counts.test], [12, 8, 4]);
    const coco = await readJsonArtifact(`${out}/annotations.coco.json`, CocoGroundTruthSchema);
    assert.equal(coco.images.length, 4);
    assert.equal(
      coco.annotations.length,
      ds.images.filter((im) => im.split === "test").flatMap((im) => im.boxes).length,
    );
    assert.equal(s.previews.length, 2);
    const source = await openDatasetSource(ds, `${out}/dataset.json`);
    for (const [i, file] of s.previews.entries()) {
      const preview = decodeImage(await Deno.readFile(file), file);
      const original = source.readImage(ds.images[i]);
      assert.deepEqual([preview.width, preview.height], [original.width, original.height]);
      const [x0, y0] = ds.images[i].boxes[0];
      const p = (y0 * preview.width + x0) * 3; // box corner: outline colour
      assert.deepEqual([...preview.data.subarray(p, p + 3)], [230, 30, 30], `${file} corner`);
    }
  });
});

Deno.test("runPrepare() reads the official layout straight from a zip and records its SHA-256", async () => {
  await withTempDir(async (dir) => {
    const zip = zipFiles(await readFixtureFiles());
    await Deno.writeFile(`${dir}/PennFudanPed.zip`, zip);
    const s = await runPrepare(["--data", `${dir}/PennFudanPed.zip`, "--out", `${dir}/run`, "--seed", "3"]);
    assert.equal(s.dataset.origin.kind, "zip");
    assert.equal(s.dataset.origin.root, "PennFudanPed/");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", zip as Uint8Array<ArrayBuffer>));
    assert.equal(
      s.dataset.origin.sha256,
      Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
    );
    assert.equal(s.dataset.split.seed, 3);
    assert.ok(s.dataset.images.every((im) => im.file.startsWith("PennFudanPed/PNGImages/")));
  });
});

Deno.test("runPrepare() rejects bad flags with a UsageError", async () => {
  await assert.rejects(
    () => runPrepare(["--data", FIXTURE_DIR]),
    (e) => e instanceof UsageError && /--out/.test(e.message),
  );
  await assert.rejects(() => runPrepare(["--out", "/tmp/x", "--seed", "-1"]), UsageError);
  await assert.rejects(() => runPrepare(["--out", "/tmp/x", "--bogus"]), UsageError);
});

// ---------------------------------------------------------------------------------------------------------------
// Bad input: one error listing every problem, each naming its file; nothing written.

type Files = Map<string, Uint8Array>;
interface BadCase {
  name: string;
  /** Changes the fixture files; returns the (file, message pattern) problems expected. */
  mutate(files: Files): { file: RegExp; message: RegExp }[];
}

function flipInside(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] ^= 0x5a;
  return out;
}

const BAD_CASES: BadCase[] = [
  {
    name: "a non-image file posing as an image",
    mutate(files) {
      files.set(`${ROOT}/PNGImages/FudanPed00003.png`, enc.encode("<html>not found</html>"));
      return [{ file: /PNGImages\/FudanPed00003\.png$/, message: /not a PNG or JPEG/ }];
    },
  },
  {
    name: "a non-image file in the image folder",
    mutate(files) {
      files.set(`${ROOT}/PNGImages/notes.txt`, enc.encode("todo"));
      return [{ file: /PNGImages\/notes\.txt$/, message: /not an image file/ }];
    },
  },
  {
    name: "a truncated image",
    mutate(files) {
      const png = files.get(`${ROOT}/PNGImages/PennPed00002.png`)!;
      files.set(`${ROOT}/PNGImages/PennPed00002.png`, png.slice(0, png.length >> 1));
      return [{ file: /PNGImages\/PennPed00002\.png$/, message: /truncated/ }];
    },
  },
  {
    name: "a corrupted image",
    mutate(files) {
      const png = files.get(`${ROOT}/PNGImages/PennPed00003.png`)!;
      files.set(`${ROOT}/PNGImages/PennPed00003.png`, flipInside(png, png.length >> 1));
      return [{ file: /PNGImages\/PennPed00003\.png$/, message: /CRC/ }];
    },
  },
  {
    name: "a missing mask",
    mutate(files) {
      files.delete(`${ROOT}/PedMasks/FudanPed00004_mask.png`);
      return [{
        file: /PNGImages\/FudanPed00004\.png$/,
        message: /missing mask .*PedMasks\/FudanPed00004_mask\.png/,
      }];
    },
  },
  {
    name: "a mask without an image",
    mutate(files) {
      files.set(
        `${ROOT}/PedMasks/Extra00001_mask.png`,
        files.get(`${ROOT}/PedMasks/FudanPed00001_mask.png`)!,
      );
      return [{ file: /PedMasks\/Extra00001_mask\.png$/, message: /mask without an image/ }];
    },
  },
  {
    name: "a mask with no instance",
    mutate(files) {
      const mask = decodeMask(files.get(`${ROOT}/PedMasks/FudanPed00005_mask.png`)!);
      const empty = encodeGrayPng({ ...mask, data: new Uint8Array(mask.data.length) });
      files.set(`${ROOT}/PedMasks/FudanPed00005_mask.png`, empty);
      return [{ file: /PedMasks\/FudanPed00005_mask\.png$/, message: /no instance/ }];
    },
  },
  {
    name: "an image and mask of different sizes",
    mutate(files) {
      const mask = decodeMask(files.get(`${ROOT}/PedMasks/PennPed00001_mask.png`)!);
      const w = mask.width - 3;
      const data = new Uint8Array(w * mask.height);
      for (let y = 0; y < mask.height; y++) {
        data.set(mask.data.subarray(y * mask.width, y * mask.width + w), y * w);
      }
      files.set(
        `${ROOT}/PedMasks/PennPed00001_mask.png`,
        encodeGrayPng({ width: w, height: mask.height, data }),
      );
      return [{
        file: /PedMasks\/PennPed00001_mask\.png$/,
        message: new RegExp(`mask is ${w}×${mask.height} but its image .* is ${mask.width}×${mask.height}`),
      }];
    },
  },
  {
    name: "an RGB image used as a mask",
    mutate(files) {
      const rgb = encodePng({
        width: 2,
        height: 2,
        data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
      });
      files.set(`${ROOT}/PedMasks/PennPed00004_mask.png`, rgb);
      return [{ file: /PedMasks\/PennPed00004_mask\.png$/, message: /colour/ }];
    },
  },
  {
    name: "an unreadable annotation",
    mutate(files) {
      files.set(`${ROOT}/Annotation/FudanPed00006.txt`, Uint8Array.of(0xff, 0xfe, 0, 0x41, 0, 0x42));
      return [{ file: /Annotation\/FudanPed00006\.txt$/, message: /UTF-8|binary/ }];
    },
  },
  {
    name: "a malformed annotation",
    mutate(files) {
      const text = new TextDecoder().decode(files.get(`${ROOT}/Annotation/PennPed00005.txt`)!);
      files.set(
        `${ROOT}/Annotation/PennPed00005.txt`,
        enc.encode(text.replace(/\(Xmax, Ymax\) : \(\d+/, "(Xmax, Ymax) : (x")),
      );
      return [{ file: /Annotation\/PennPed00005\.txt$/, message: /malformed bounding box line/ }];
    },
  },
];

async function expectProblems(
  args: string[],
  out: string,
  expected: { file: RegExp; message: RegExp }[],
  exact = true,
): Promise<void> {
  await assert.rejects(() => runPrepare([...args, "--out", out, "--quiet"]), (e) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${e}`);
    for (const x of expected) {
      assert.ok(
        e.problems.some((p) => x.file.test(p.file) && x.message.test(p.message)),
        `no problem matching ${x.file} / ${x.message} in:\n${e.message}`,
      );
      assert.match(e.message, x.message);
    }
    if (exact) assert.equal(e.problems.length, expected.length, e.message);
    return true;
  });
  assert.ok(!await exists(`${out}/dataset.json`), "dataset.json must not be written");
  assert.ok(!await exists(`${out}/annotations.coco.json`), "annotations.coco.json must not be written");
}

for (const c of BAD_CASES) {
  Deno.test(`runPrepare() reports ${c.name}, naming the file, and writes nothing`, async () => {
    await withTempDir(async (dir) => {
      const files = await readFixtureFiles();
      const expected = c.mutate(files);
      await Deno.writeFile(`${dir}/data.zip`, zipFiles(files));
      await expectProblems(["--data", `${dir}/data.zip`], `${dir}/run`, expected);
    });
  });
}

Deno.test("runPrepare() lists EVERY problem at once (all bad cases together, from a directory)", async () => {
  await withTempDir(async (dir) => {
    const files = await readFixtureFiles();
    const expected = BAD_CASES.flatMap((c) => c.mutate(files));
    await writeFiles(`${dir}/data`, files);
    await expectProblems(["--data", `${dir}/data`], `${dir}/run`, expected);
  });
});

Deno.test("runPrepare() reports a corrupt zip (garbage bytes) and a truncated zip, naming the archive", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/garbage.zip`, Uint8Array.from({ length: 5000 }, (_, i) => (i * 131) % 251));
    await expectProblems(["--data", `${dir}/garbage.zip`], `${dir}/run`, [
      { file: /garbage\.zip$/, message: /not a zip archive, or truncated/ },
    ]);
    const zip = zipFiles(await readFixtureFiles());
    await Deno.writeFile(`${dir}/cut.zip`, zip.slice(0, Math.floor(zip.length * 0.6)));
    await expectProblems(["--data", `${dir}/cut.zip`], `${dir}/run`, [
      { file: /cut\.zip$/, message: /truncated/ },
    ]);
  });
});

Deno.test("runPrepare() reports a corrupted entry inside a zip by its CRC, naming archive and entry", async () => {
  await withTempDir(async (dir) => {
    const files = await readFixtureFiles();
    const zip = zipFiles(files);
    // Find the deflated data of one annotation entry (text compresses, so a flipped byte changes the output).
    const name = enc.encode(`${ROOT}/Annotation/FudanPed00002.txt`);
    let at = -1;
    for (let i = 0; i < zip.length - name.length && at < 0; i++) {
      if (
        zip[i] === 0x50 && zip[i + 1] === 0x4b && zip[i + 2] === 3 &&
        name.every((b, k) => zip[i + 30 + k] === b)
      ) at = i;
    }
    assert.ok(at >= 0);
    await Deno.writeFile(`${dir}/bad.zip`, flipInside(zip, at + 30 + name.length + 40));
    await expectProblems(["--data", `${dir}/bad.zip`], `${dir}/run`, [
      { file: /Annotation\/FudanPed00002\.txt$/, message: /CRC-32 mismatch|corrupt deflate/ },
    ]);
  });
});

Deno.test("`deno task prepare` exits 1 and prints every problem on stderr (subprocess)", async () => {
  await withTempDir(async (dir) => {
    const files = await readFixtureFiles();
    const expected = [BAD_CASES[0], BAD_CASES[4], BAD_CASES[9]].flatMap((c) => c.mutate(files));
    await writeFiles(`${dir}/data`, files);
    const { code, stderr: text } = await runTaskScript("prepare", [
      "--data",
      `${dir}/data`,
      "--out",
      `${dir}/run`,
    ]);
    assert.equal(code, 1, text);
    assert.match(text, /3 problems in the input data/);
    for (const x of expected) assert.match(text, x.message);
    assert.ok(!await exists(`${dir}/run/dataset.json`));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The real release (runs in CI, where ../shared exists).

Deno.test({
  name:
    "prepare on PennFudanPed.zip: 170 images, 423 boxes, 120/50 split, every box equal to its mask's extremes",
  ignore: ignoreWithoutShared("data/PennFudanPed.zip"),
  async fn() {
    await withTempDir(async (out) => {
      const zipPath = sharedPath("data/PennFudanPed.zip");
      const s = await runPrepare(["--data", zipPath, "--out", out]);
      const ds = await readDataset(s.datasetPath);
      assert.deepEqual(ds.counts, { images: 170, boxes: 423, train: 120, test: 50 });
      assert.deepEqual([ds.split.train_size, ds.split.test_size, ds.split.seed], [120, 50, 0]);
      assert.deepEqual(ds.classes, ["background", "person"]);
      assert.equal(ds.origin.layout, "official");
      const source = await openDatasetSource(ds, s.datasetPath);
      for (const im of ds.images) {
        const mask = source.readMask(im);
        assert.deepEqual([mask.width, mask.height], [im.width, im.height], im.name);
        // Independent extremes, the reference's way: for each id, min/max over np.where(mask == id).
        const ids = [...new Set(mask.data)].filter((v) => v > 0).sort((a, b) => a - b);
        assert.deepEqual(im.instance_ids, ids, im.name);
        const boxes = ids.map((id) => {
          let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
          for (let i = 0; i < mask.data.length; i++) {
            if (mask.data[i] !== id) continue;
            const x = i % mask.width, y = (i - x) / mask.width;
            x0 = Math.min(x0, x), y0 = Math.min(y0, y), x1 = Math.max(x1, x), y1 = Math.max(y1, y);
          }
          return [x0, y0, x1, y1];
        });
        assert.deepEqual(im.boxes, boxes, im.name);
      }
      const coco = await readJsonArtifact(s.cocoPath, CocoGroundTruthSchema);
      assert.equal(coco.images.length, 50);
      assert.equal(
        coco.annotations.length,
        ds.images.filter((im) => im.split === "test").reduce((n, im) => n + im.boxes.length, 0),
      );
      console.log(
        `prepare on the real zip: ${s.seconds.toFixed(1)} s, ${ds.warnings.length} annotation warnings`,
      );
    });
  },
});
