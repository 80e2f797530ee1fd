/**
 * mergeImageShards() on hand-made shard folders (no model: the annotated copies are opaque bytes): the merged
 * files, the commit through --out's run folder, and the refusal to write a copy over an input image in --out.
 */
import assert from "node:assert/strict";
import { exists } from "../../lib/core/mod.ts";
import { type ImagesJson, mergeImageShards, ShardSetError } from "../../lib/evaluation/mod.ts";
import { withTempDir } from "../helpers.ts";

/** Shard `index` of 2 over images a, b (shard 1) and c, d (shard 2), each image's path `paths(name)`. */
async function writeShard(dir: string, index: number, paths: (name: string) => string): Promise<void> {
  const names = index === 1 ? ["a", "b"] : ["c", "d"];
  const images: ImagesJson["images"] = names.map((name, k) => ({
    id: (index - 1) * 2 + k + 1,
    file_name: `${name}.png`,
    width: 10,
    height: 8,
    path: paths(name),
    annotated: `annotated/${name}.jpg`,
  }));
  const info: ImagesJson = {
    images,
    categories: [{ id: 1, name: "person" }],
    shard: { index, count: 2, images: 4 },
  };
  await Deno.mkdir(`${dir}/annotated`, { recursive: true });
  await Deno.writeTextFile(`${dir}/images.json`, JSON.stringify(info));
  const dets = images.map((im) => ({ image_id: im.id, category_id: 1, bbox: [1, 2, 3, 4], score: 0.5 }));
  await Deno.writeTextFile(`${dir}/detections.coco.json`, JSON.stringify(dets));
  for (const name of names) await Deno.writeTextFile(`${dir}/annotated/${name}.jpg`, `jpeg of ${name}`);
}

Deno.test("mergeImageShards() joins the shards in list order and commits them into --out as one set", () =>
  withTempDir(async (dir) => {
    await writeShard(`${dir}/s2`, 2, (n) => `/photos/${n}.png`);
    await writeShard(`${dir}/s1`, 1, (n) => `/photos/${n}.png`);
    const m = await mergeImageShards([`${dir}/s2`, `${dir}/s1`], `${dir}/all`);
    assert.deepEqual(m.images.images.map((im) => im.id), [1, 2, 3, 4]);
    assert.equal(m.imagesJson, `${dir}/all/images.json`);
    const written = JSON.parse(await Deno.readTextFile(`${dir}/all/images.json`));
    assert.equal(written.shard, undefined, "the merged file is an unsharded run's");
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(`${dir}/all/detections.coco.json`)).map((d: { image_id: number }) =>
        d.image_id
      ),
      [1, 2, 3, 4],
    );
    for (const name of ["a", "b", "c", "d"]) {
      assert.equal(await Deno.readTextFile(`${dir}/all/annotated/${name}.jpg`), `jpeg of ${name}`);
    }
    assert.equal(await exists(`${dir}/all/.ssd300/staging`), false);
  }));

Deno.test("mergeImageShards() refuses to write an annotated copy over an input image inside --out", () =>
  withTempDir(async (dir) => {
    // the photos live in the merge's --out, at the name the copy of c would take
    await Deno.mkdir(`${dir}/all/annotated`, { recursive: true });
    await Deno.writeTextFile(`${dir}/all/annotated/c.jpg`, "the user's photo");
    await writeShard(`${dir}/s1`, 1, (n) => `${dir}/photos/${n}.png`);
    await writeShard(
      `${dir}/s2`,
      2,
      (n) => (n === "c" ? `${dir}/all/annotated/c.jpg` : `${dir}/photos/${n}.png`),
    );
    await assert.rejects(
      () => mergeImageShards([`${dir}/s1`, `${dir}/s2`], `${dir}/all`),
      (e) =>
        e instanceof ShardSetError &&
        /copy of image 3 would replace the input .*all\/annotated\/c\.jpg/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(`${dir}/all/annotated/c.jpg`), "the user's photo");
    assert.equal(await exists(`${dir}/all/images.json`), false);
  }));
