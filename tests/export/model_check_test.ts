/**
 * The one check of an exported model before anything is loaded (lib/export/model_json.ts `checkModelJson`), as
 * `loadDetector` applies it from a folder (Deno) and over HTTP (the browser's path): a bad model.json, a
 * manifest that does not add up, and shards that are missing, short, long, endless, a FIFO or a device are each
 * a DetectorModelError naming the file, with no tensor left behind.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/mod.ts";
import {
  checkModelJson,
  DetectorModelError,
  loadDetector,
  MAX_MODEL_WEIGHT_BYTES,
  SHARD_BYTES,
} from "../../lib/export/mod.ts";
import { withTempDir, writeTinyModelFolder } from "../helpers.ts";

await initBackend("wasm", null);

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

/** `checkModelJson` of a spoiled copy of `json` must throw a DetectorModelError matching `message`. */
function assertRefused(json: Json, spoil: (j: Json) => void, message: RegExp): void {
  const copy = structuredClone(json);
  spoil(copy);
  assert.throws(() => checkModelJson(copy, "m/model.json"), (e: unknown) => {
    assert.ok(e instanceof DetectorModelError, String(e));
    assert.match(e.message, /^m\/model\.json: /);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("checkModelJson() derives every shard's exact size and refuses a manifest that does not add up", async () => {
  await withTempDir(async (dir) => {
    const { json } = await writeTinyModelFolder(dir, 2 ** 20 + 3); // 4 MiB + 12 bytes
    assert.deepEqual(checkModelJson(json, "m/model.json").shards, [
      { name: "group1-shard1of2.bin", bytes: SHARD_BYTES },
      { name: "group1-shard2of2.bin", bytes: 12 },
    ]);
    const quantised = structuredClone(json) as Json;
    quantised.weightsManifest[0].paths = ["group1-shard1of1.bin"];
    quantised.weightsManifest[0].weights[0].quantization = {
      dtype: "uint8",
      min: 0,
      scale: 1,
      original_dtype: "float32",
    };
    assert.deepEqual(checkModelJson(quantised, "q").shards, [{
      name: "group1-shard1of1.bin",
      bytes: 2 ** 20 + 3,
    }]);

    assertRefused(json, (j) => delete j.userDefinedMetadata, /not an SSD300 export \(userDefinedMetadata: /);
    assertRefused(json, (j) => (j.format = "layers-model"), /not an SSD300 export \(format: /);
    assertRefused(json, (j) => (j.userDefinedMetadata.ssd300.classes = ["background"]), /ssd300\.classes/);
    assertRefused(json, (j) => (j.weightsManifest[0].paths = ["../../etc/passwd"]), /paths\.0: /);
    assertRefused(
      json,
      (j) => j.weightsManifest[0].paths.pop(),
      /1 shard\(s\) for 4194316 bytes of weights \(expected 2\)/,
    );
    assertRefused(
      json,
      (j) => j.weightsManifest[0].paths.reverse(),
      /"group1-shard2of2\.bin" should be shard 1 of 2/,
    );
    assertRefused(json, (j) => (j.weightsManifest[0].paths[1] = "group7-shard2of2.bin"), /of one group/);
    assertRefused(
      json,
      (j) => (j.weightsManifest[0].weights[0].name = "x"),
      /"x" is not a Const node of the graph/,
    );
    assertRefused(json, (j) => {
      j.weightsManifest.push(structuredClone(j.weightsManifest[0]));
    }, /weightsManifest\.1\.weights\.0\.name: "w" is listed twice/);
    assertRefused(
      json,
      (j) => (j.weightsManifest[0].weights[0].shape = [2 ** 20, 2 ** 20]),
      new RegExp(`more than ${MAX_MODEL_WEIGHT_BYTES} bytes`),
    );
    assertRefused(json, (j) => (j.signature.inputs = {}), /signature\.inputs: no "image" input/);
    assertRefused(json, (j) => (j.weightsManifest[0].weights[0].shape = [-1]), /not an SSD300 export/);
    for (const bad of [null, 7, "x", [], {}]) {
      assert.throws(() => checkModelJson(bad, "m/model.json"), DetectorModelError);
    }
  });
});

/** loadDetector on `dir` must fail with a DetectorModelError matching `message`, leaving no tensor. */
async function assertLoadRefused(url: string, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  await assert.rejects(loadDetector(url), (e: unknown) => {
    assert.ok(e instanceof DetectorModelError, String((e as Error)?.stack ?? e));
    assert.match(e.message, message);
    return true;
  });
  assert.equal(tf.memory().numTensors, before, "no tensor left");
}

Deno.test("loadDetector() checks model.json and every shard of a folder before loading", async () => {
  await withTempDir(async (dir) => {
    const fresh = async (name: string) => {
      await writeTinyModelFolder(`${dir}/${name}`, 2 ** 20 + 1);
      return `${dir}/${name}`;
    };
    let m = await fresh("missing");
    await Deno.remove(`${m}/group1-shard2of2.bin`);
    await assertLoadRefused(m, /\/missing\/group1-shard2of2\.bin: weight shard 2 of 2 is missing/);
    m = await fresh("short");
    await Deno.writeFile(`${m}/group1-shard2of2.bin`, new Uint8Array(3));
    await assertLoadRefused(m, /group1-shard2of2\.bin: weight shard 2 of 2 is 3 bytes, the manifest says 4/);
    m = await fresh("long");
    await Deno.writeFile(`${m}/group1-shard2of2.bin`, new Uint8Array(5));
    await assertLoadRefused(m, /is 5 bytes, the manifest says 4/);
    m = await fresh("zero");
    await Deno.remove(`${m}/group1-shard2of2.bin`);
    await Deno.symlink("/dev/zero", `${m}/group1-shard2of2.bin`);
    await assertLoadRefused(m, /group1-shard2of2\.bin: weight shard 2 of 2 is not a regular file/);
    m = await fresh("fifo");
    await Deno.remove(`${m}/group1-shard1of2.bin`);
    assert.equal(
      (await new Deno.Command("mkfifo", { args: [`${m}/group1-shard1of2.bin`] }).output()).code,
      0,
    );
    await assertLoadRefused(m, /group1-shard1of2\.bin: weight shard 1 of 2 is not a regular file/);
    m = await fresh("big");
    {
      using f = await Deno.open(`${m}/model.json`, { write: true });
      await f.truncate(17 * 2 ** 20);
    }
    await assertLoadRefused(
      m,
      /\/big\/model\.json: the model file is 17825792 bytes, over the limit of 16777216/,
    );
    m = await fresh("garbage");
    await Deno.writeTextFile(`${m}/model.json`, "\u0000{");
    await assertLoadRefused(m, /model\.json: not valid JSON/);
    m = await fresh("schema");
    const json = JSON.parse(await Deno.readTextFile(`${m}/model.json`));
    json.userDefinedMetadata.ssd300.detect_defaults.min_score = "high";
    await Deno.writeTextFile(`${m}/model.json`, JSON.stringify(json));
    await assertLoadRefused(
      m,
      /not an SSD300 export \(userDefinedMetadata\.ssd300\.detect_defaults\.min_score: /,
    );
    await assertLoadRefused(`${dir}/nothing-here`, /nothing-here\/model\.json: the model file is missing/);
    // a folder that passes every check loads (the graph is built lazily; this tiny one is no network)
    const ok = await loadDetector(await fresh("tiny"));
    assert.deepEqual(ok.classes, ["background", "person"]);
    ok.dispose();
  });
});

Deno.test({
  name: "loadDetector() over HTTP (the browser's path) stops reading a shard at its manifest size",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const { json } = await writeTinyModelFolder(dir, 2 ** 20 + 1);
      let mode: "short" | "endless" | "404" = "short";
      let sent = 0;
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
        const name = new URL(req.url).pathname.slice(1);
        if (name === "model.json") return new Response(JSON.stringify(json));
        if (mode === "404") return new Response("no", { status: 404 });
        if (name === "group1-shard1of2.bin" && mode === "endless") {
          return new Response(
            new ReadableStream({
              pull(c) {
                sent += 65536;
                c.enqueue(new Uint8Array(65536));
              },
            }),
          );
        }
        return new Response(new Uint8Array(name === "group1-shard1of2.bin" ? SHARD_BYTES : 3));
      });
      try {
        const url = `http://127.0.0.1:${server.addr.port}/model.json`;
        await assertLoadRefused(
          url,
          /group1-shard2of2\.bin: weight shard 2 of 2 is 3 bytes, the manifest says 4/,
        );
        mode = "endless";
        await assertLoadRefused(
          url,
          /group1-shard1of2\.bin: weight shard 1 of 2 is more than 4194304 bytes, the manifest says 4194304/,
        );
        assert.ok(sent < 64 * 2 ** 20, `stopped reading (the server produced ${sent} bytes)`);
        mode = "404";
        await assertLoadRefused(url, /group1-shard1of2\.bin: cannot read weight shard 1 of 2 \(HTTP 404\)/);
      } finally {
        await server.shutdown();
      }
    });
  },
});
