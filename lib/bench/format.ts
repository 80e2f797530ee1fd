/**
 * The human-readable summary of bench.json (stdout of `deno task bench`): ours and PyTorch per phase with ratio,
 * GFLOP/s and % of the measured peak; ONNX Runtime's forward and inference with the ratio; the one-core
 * speed-up; the per-layer profile.
 * @module
 */
import type { BenchReport, Throughput } from "./schema.ts";
import { formatInterleaved } from "./onnx_interleaved.ts";

const PHASES = ["forward", "inference", "training"] as const;

/** Human-readable summary of a report. */
export function formatBench(r: BenchReport): string {
  const m = r.machine;
  const pad = (s: string, n: number) => s.padStart(n);
  const ms = (x: number) => pad(x.toFixed(0), 7);
  const gf = (t: Throughput, p: typeof PHASES[number]) => pad(t[p].toFixed(0), 7);
  const pct = (t: Throughput | null, p: typeof PHASES[number]) => pad(t ? `${t[p].toFixed(0)}%` : "n/a", 6);
  const isa = m.isa === m.cpu_isa
    ? m.isa
    : `${m.isa} (ONEDNN_MAX_CPU_ISA=${m.onednn_max_cpu_isa}; CPU ${m.cpu_isa})`;
  const lines = [
    `SSD300 300×300, batch ${r.batch_size}${r.quick ? " (quick)" : ""}; ${m.cpu_model ?? "unknown CPU"}, ` +
    `${m.cores} cores, ${isa}`,
    r.adapter
      ? `engine: ${r.backend} backend on ${r.adapter}`
      : `engine: ${r.conv} convolutions, ${r.workers} worker(s) × ${r.threads} thread(s), ${r.backend} backend`,
    `practical peak (large convolution, all cores): ${
      r.peak_gflops === null ? "n/a" : r.peak_gflops.toFixed(0)
    } GFLOP/s`,
    `phase (ms/img)     ours  PyTorch  ours/PT  GFLOP/s ours   PT  % peak ours   PT`,
  ];
  const ours: Record<string, number> = {
    forward: r.forward_ms_per_image,
    inference: r.inference_ms_per_image,
    training: r.training_ms_per_image,
  };
  for (const p of PHASES) {
    const t = r.torch;
    const tms = t
      ? {
        forward: t.forward_ms_per_image,
        inference: t.inference_ms_per_image,
        training: t.training_ms_per_image,
      }[p]
      : null;
    lines.push(
      `${p.padEnd(14)} ${ms(ours[p])} ${tms === null ? pad("n/a", 8) : pad(tms.toFixed(0), 8)} ${
        pad(r.ratios ? `${r.ratios[p].toFixed(2)}×` : "n/a", 8)
      } ${gf(r.gflops, p)} ${t ? gf(t.gflops, p) : pad("n/a", 7)} ${pct(r.percent_of_peak, p)} ${
        pct(t?.percent_of_peak ?? null, p)
      }`,
    );
  }
  lines.push(
    r.torch
      ? `PyTorch ${r.torch.torch_version}, ${r.torch.threads} threads (${r.torch.python})`
      : `PyTorch: ${r.torch_skipped_reason}`,
  );
  const o = r.onnxruntime;
  if (o) {
    lines.push(
      `ONNX Runtime ${o.version} (model.onnx, CPU, ${o.threads} threads, batch ${o.batch_size}), ms/img: forward ${
        o.forward.ms_per_image.toFixed(0)
      } (ours/ORT ${(r.forward_ms_per_image / o.forward.ms_per_image).toFixed(2)}×), inference ${
        o.inference.ms_per_image.toFixed(0)
      } (ours/ORT ${(r.inference_ms_per_image / o.inference.ms_per_image).toFixed(2)}×)`,
    );
  } else if (r.onnxruntime_skipped_reason) lines.push(`ONNX Runtime: ${r.onnxruntime_skipped_reason}`);
  for (const row of r.onnx_interleaved ?? []) lines.push(...formatInterleaved(row));
  lines.push(`peak RSS ${r.peak_rss_mb === null ? "n/a" : `${r.peak_rss_mb.toFixed(0)} MiB`}`);
  if (r.speedup) {
    const s = r.speedup;
    lines.push(
      `speed-up 1 core → ${s.to_workers} workers: forward ${s.forward.toFixed(2)}×, inference ${
        s.inference.toFixed(2)
      }×, training ${s.training.toFixed(2)}×`,
    );
  }
  if (r.ap_ms != null) {
    lines.push(`COCO AP of 50 images × 200 detections (pycocotools-exact): ${r.ap_ms.toFixed(1)} ms`);
  }
  if (r.profile) lines.push(...formatProfile(r.profile));
  return lines.join("\n");
}

function formatProfile(p: NonNullable<BenchReport["profile"]>): string[] {
  const lines = [
    `profile (batch ${p.batch_size}, one thread, new weights as after a step): layer, GFLOP, forward ms, ` +
    `backward ms, GFLOP/s fwd`,
  ];
  for (const l of p.layers) {
    lines.push(
      `  ${l.layer.padEnd(28)} ${l.gflop.toFixed(2).padStart(6)} ${l.forward_ms.toFixed(1).padStart(8)} ${
        l.backward_ms.toFixed(1).padStart(9)
      } ${(l.gflop / (l.forward_ms / 1000)).toFixed(1).padStart(6)}`,
    );
  }
  lines.push(
    `  other: forward ${p.forward_other_ms.toFixed(1)} ms, loss ${p.loss_ms.toFixed(1)} ms, backward ${
      p.backward_other_ms.toFixed(1)
    } ms; totals forward ${p.forward_total_ms.toFixed(0)} ms, backward ${p.backward_total_ms.toFixed(0)} ms`,
  );
  return lines;
}
