import assert from "node:assert/strict";
import { readJsonArtifact } from "../../lib/core/artifacts.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import {
  benchBoxes,
  BenchReportSchema,
  benchTargets,
  createSsd300Bench,
  describeMachine,
  median,
  PERSON_LOGIT_SHIFT,
  SSD300_FORWARD_GFLOP,
} from "../../lib/bench/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { runTaskScript } from "../helpers.ts";

await initBackend("wasm", null);

Deno.test("median() of odd and even lists; rejects an empty list", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

Deno.test("createSsd300Bench() lowers only the person logit biases by PERSON_LOGIT_SHIFT", () => {
  const shifted = createSsd300Bench();
  const plain = createSsd300(2, 0);
  try {
    for (const [name, v] of plain.params) {
      const a = shifted.params.get(name)!.dataSync(), b = v.dataSync();
      const isClsBias = /^pred_convs\.cl_.*\.bias$/.test(name);
      for (let i = 0; i < b.length; i++) {
        const expected = isClsBias && i % 2 === 1 ? b[i] - PERSON_LOGIT_SHIFT : b[i];
        assert.equal(a[i], Math.fround(expected), `${name}[${i}]`);
      }
    }
  } finally {
    disposeModel(shifted);
    disposeModel(plain);
  }
});

Deno.test("benchTargets() matches every image's boxes and totals the positives", () => {
  const boxes = benchBoxes(3, 7);
  const { targets, nPositivesTotal } = benchTargets(boxes);
  assert.equal(targets.length, 3);
  for (const t of targets) {
    assert.ok(t.nPositives >= 3, "each of the 3 objects claims at least its best prior");
    assert.equal(t.nPositives, t.trueClasses.reduce((s, c) => s + (c === 1 ? 1 : 0), 0));
  }
  assert.equal(nPositivesTotal, targets.reduce((s, t) => s + t.nPositives, 0));
});

Deno.test("describeMachine() reads the CPU model and widest ISA, capped by ONEDNN_MAX_CPU_ISA", () => {
  const cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 9B45\nflags\t\t: fpu sse4_1 avx2 fma avx512f\n";
  const m = describeMachine(cpuinfo, undefined);
  assert.equal(m.cpu_model, "AMD EPYC 9B45");
  assert.deepEqual([m.isa, m.cpu_isa, m.onednn_max_cpu_isa], ["avx512", "avx512", null]);
  assert.deepEqual([describeMachine(cpuinfo, "AVX2").isa, describeMachine(cpuinfo, "avx2").cpu_isa], [
    "avx2",
    "avx512",
  ]);
  assert.equal(describeMachine(cpuinfo, "ALL").isa, "avx512");
  assert.equal(
    describeMachine("flags\t: fpu sse4_1 avx2 fma\n", "AVX512_CORE").isa,
    "avx2",
    "a cap never raises",
  );
  assert.deepEqual([describeMachine(null, undefined).isa, describeMachine(null, undefined).cpu_model], [
    "unknown",
    null,
  ]);
});

Deno.test("deno task bench --quick --compare writes a bench.json that matches the schema (1 core vs 2, profile, ONNX Runtime)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/bench.json`;
    const { code, stdout, stderr } = await runTaskScript("bench", [
      "--quick",
      "--batch-size",
      "2",
      "--workers",
      "2",
      "--compare",
      "--skip-torch",
      "--onnx-rounds",
      "1",
      "--out",
      out,
    ]);
    assert.ok(code === 0, `bench failed:\n${stderr.slice(-3000)}`);
    assert.equal(stderr.split("\n").filter((l) => l.startsWith("engine: ")).length, 1, "the choice, once");
    const r = await readJsonArtifact(out, BenchReportSchema);
    assert.equal(r.batch_size, 2);
    assert.equal(r.workers, 2);
    assert.deepEqual(r.runs.map((x) => x.workers), [1, 2]);
    assert.ok(r.speedup && r.speedup.to_workers === 2);
    assert.equal(r.torch, null);
    assert.match(r.torch_skipped_reason ?? "", /skip-torch/);
    assert.equal(r.inference_ms_per_image, r.runs[1].inference.ms_per_image);
    assert.equal(r.forward_ms_per_image, r.runs[1].forward.ms_per_image);
    assert.ok(r.peak_gflops! > 0 && r.percent_of_peak!.training > 0);
    assert.ok(Math.abs(r.gflops.forward - SSD300_FORWARD_GFLOP / (r.forward_ms_per_image / 1000)) < 1e-6);
    // the same weights and data in both runs: the first training loss agrees across worker counts
    assert.ok(
      Math.abs(r.runs[0].loss_first_step - r.runs[1].loss_first_step) < 1e-3 * r.runs[0].loss_first_step,
    );
    assert.ok(r.profile);
    const names = r.profile.layers.map((l) => l.layer);
    assert.equal(names.length, 15 + 8 + 12, "every conv of SSD300 is profiled");
    assert.ok(names.includes("base.conv1_1") && names.includes("pred_convs.cl_conv11_2"));
    assert.ok(r.profile.layers.filter((l) => l.layer !== "base.conv1_1").every((l) => l.backward_ms > 0));
    const gflop = r.profile.layers.reduce((s, l) => s + l.gflop, 0) / r.profile.batch_size;
    assert.ok(
      Math.abs(gflop - SSD300_FORWARD_GFLOP) < 0.05,
      `SSD300_FORWARD_GFLOP: the layers sum to ${gflop}`,
    );
    // ONNX Runtime on the same model, images, batch and threads; its detections are ours
    const ort = r.onnxruntime!;
    assert.deepEqual([ort.threads, ort.batch_size], [2, 2]);
    assert.ok(
      ort.forward.ms_per_image > 0 && ort.inference.ms_per_image > 0 && ort.model_bytes > 80 * 2 ** 20,
    );
    assert.ok(
      Math.abs(ort.detections_per_image - r.runs[1].detections_per_image) <=
        1 + 0.02 * r.runs[1].detections_per_image,
      `detections per image: ONNX Runtime ${ort.detections_per_image}, ours ${
        r.runs[1].detections_per_image
      }`,
    );
    assert.match(
      stdout,
      /ONNX Runtime 1\.30\.0 \(model\.onnx, CPU, 2 threads, batch 2\), ms\/img: forward \d+/,
    );
    // --onnx-rounds 1: one interleaved round of the bench model, every phase timed once
    const [row, ...more] = r.onnx_interleaved ?? [];
    assert.equal(more.length, 0);
    assert.deepEqual([row.model, row.num_classes, row.batch_size], ["bench 2-class model", 2, 2]);
    assert.deepEqual(Object.values(row.runs_ms_per_image).map((v) => v.length), [1, 1, 1, 1]);
    assert.match(stdout, /ours vs ONNX Runtime, interleaved, bench 2-class model/);
    assert.match(stdout, /speed-up 1 core → 2 workers/);
    assert.match(stdout, /practical peak/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench rejects bad arguments with a usage message", async () => {
  const res = await runTaskScript("bench", ["--batch-size", "0"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--batch-size: expected an integer ≥ 1, got 0/);
  const alone = await runTaskScript("bench", ["--checkpoint", "x.pth"]);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--checkpoint needs --onnx-rounds N/);
});
