/**
 * The PyTorch side of `deno task bench`: lib/bench/bench_torch.py (the same workload: forward, inference,
 * training step, ms per image) run with the first python that imports torch, in the same run as ours.
 * @module
 */
import { z } from "zod";

/** The JSON line bench_torch.py prints. */
export const TorchLineSchema = z.object({
  torch_version: z.string(),
  threads: z.number().int().positive(),
  batch_size: z.number().int().positive(),
  forward_ms_per_image: z.number().positive(),
  inference_ms_per_image: z.number().positive(),
  training_ms_per_image: z.number().positive(),
  detections_per_image: z.number().nonnegative(),
});

/** PyTorch's figures and the interpreter that gave them. */
export type TorchFigures = z.infer<typeof TorchLineSchema> & { python: string };

/**
 * Runs lib/bench/bench_torch.py with the first interpreter that imports torch.
 * @returns its figures, or the reason it was skipped
 */
export async function runTorchBench(
  pythons: readonly string[],
  script: string,
  batchSize: number,
  threads: number,
  quick: boolean,
): Promise<{ torch: TorchFigures | null; reason: string | null }> {
  const tried: string[] = [];
  for (const python of pythons) {
    let probe;
    try {
      probe = await new Deno.Command(python, { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
        .output();
    } catch {
      tried.push(`${python}: not found`);
      continue;
    }
    if (!probe.success) {
      tried.push(`${python}: no torch`);
      continue;
    }
    const args = [script, "--batch-size", String(batchSize), "--threads", String(threads)];
    if (quick) args.push("--quick");
    const out = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      throw new Error(
        `${python} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
      );
    }
    const line = text.split("\n").at(-1) ?? "";
    const parsed = TorchLineSchema.safeParse(JSON.parse(line));
    if (!parsed.success) throw new Error(`${script} printed an unexpected line: ${line.slice(0, 500)}`);
    return { torch: { python, ...parsed.data }, reason: null };
  }
  return { torch: null, reason: tried.length ? tried.join("; ") : "no python interpreter given" };
}
