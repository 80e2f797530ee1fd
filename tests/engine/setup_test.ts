/**
 * The engine choice (lib/engine/setup.ts) as the tasks make it: oneDNN when libdnnl.so.2 loads, else WASM with
 * one line naming the missing library and `apt-get install libdnnl2` (simulated by pointing SSD_DNNL_LIB at a
 * missing file, in a fresh process each: the choice is process-wide); and a runner on workers gives the
 * one-thread runner's results.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  describeEngine,
  DNNL_LIBRARY_CANDIDATES,
  type EngineInfo,
  initEngine,
  machineCores,
  startRunner,
} from "../../lib/engine/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/mod.ts";
import { benchImages } from "../../lib/bench/mod.ts";

const SETUP_URL = new URL("../../lib/engine/setup.ts", import.meta.url).href;
const ROOT = new URL("../../", import.meta.url);

/** Runs initEngine(request) in a fresh process with `env`; its stdout is the EngineInfo as JSON. */
async function probe(request: object, env: Record<string, string>) {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { initEngine } from "${SETUP_URL}";
console.log(JSON.stringify(await initEngine(${JSON.stringify(request)})));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${new URL("deno.json", ROOT).pathname}`, script],
      cwd: ROOT.pathname,
      // not this process's OMP_NUM_THREADS (set by an earlier oneDNN load here), which initEngine would honour
      clearEnv: true,
      env: {
        ...Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => k !== "OMP_NUM_THREADS")),
        DENO_WEBGPU_BACKEND: "none", // no GPU: the CPU engines' choice on every machine
        ...env,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function oneDnnInstalled(): boolean {
  return DNNL_LIBRARY_CANDIDATES.some((p) => {
    try {
      return p.startsWith("/") && Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

const MISSING = { SSD_DNNL_LIB: "/nonexistent/libdnnl.so.2" };

Deno.test("initEngine() without libdnnl falls back to WASM on all cores with one line naming the fix", async () => {
  const r = await probe({ use: "train" }, MISSING);
  assert.equal(r.code, 0, r.stderr);
  const info: EngineInfo = JSON.parse(r.stdout);
  assert.deepEqual(info, {
    backend: "wasm",
    conv: "wasm",
    workers: machineCores(),
    threads: 1,
    library: null,
  });
  const lines = r.stderr.split("\n");
  assert.equal(lines.length, 2, r.stderr);
  assert.match(
    lines[0],
    /^oneDNN \(libdnnl\.so\.2\) not found: .*same results.*slower.*apt-get install libdnnl2$/,
  );
  assert.equal(lines[1], describeEngine(info));
});

Deno.test("initEngine({ conv: 'onednn' }) without libdnnl fails naming the library and the install command", async () => {
  const r = await probe({ use: "infer", conv: "onednn" }, MISSING);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--conv onednn: oneDNN could not be loaded .*nonexistent.*apt-get install libdnnl2/);
});

Deno.test({
  name: "initEngine() uses oneDNN when libdnnl loads: workers × threads = cores, the choice said once",
  ignore: !oneDnnInstalled(),
  fn: async () => {
    for (
      const [request, workers] of [[{ use: "train" }, machineCores()], [
        { use: "infer", workers: 1 },
        1,
      ]] as const
    ) {
      const r = await probe(request, {});
      assert.equal(r.code, 0, r.stderr);
      const info: EngineInfo = JSON.parse(r.stdout);
      assert.equal(info.conv, "onednn");
      assert.equal(info.workers, workers);
      assert.equal(info.workers * info.threads, Math.max(machineCores(), workers));
      assert.equal(r.stderr, describeEngine(info));
    }
  },
});

Deno.test("startRunner() on 2 workers detects and forwards exactly as on this thread", async () => {
  const engine = await initEngine({ use: "infer", workers: 2 }, null);
  const model = createSsd300(2, 5);
  const images = benchImages(3, 4); // shards of 2 and 1
  const pool = await startRunner(model, engine);
  const local = await startRunner(model, { ...engine, workers: 1 });
  try {
    const before = tf.memory().numTensors;
    const opts = { minScore: 0.2, maxOverlap: 0.45, topK: 50 };
    const [a, b] = [await pool.detect(images, opts), await local.detect(images, opts)];
    assert.equal(a.length, 3);
    assert.ok(a.some((d) => d.length > 0), "something is detected");
    a.forEach((dets, i) => {
      assert.equal(dets.length, b[i].length, `image ${i}`);
      dets.forEach((d, k) => {
        assert.equal(d.classId, b[i][k].classId);
        assert.ok(Math.abs(d.score - b[i][k].score) <= 1e-6);
        d.box.forEach((v, j) => assert.ok(Math.abs(v - b[i][k].box[j]) <= 1e-6));
      });
    });
    const [fa, fb] = [await pool.forward(images), await local.forward(images)];
    let maxDiff = 0;
    fa.scores.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - fb.scores[i]))));
    assert.ok(maxDiff <= 1e-5, `scores differ by ${maxDiff}`);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await pool.close();
    await local.close();
    disposeModel(model);
  }
});
