/**
 * `--shard K/N|auto` of `detect --images` and `ap --dataset`: which K-th (1-based) of N slices of the input list
 * this process takes (lib/evaluation/shards.ts). `auto` reads the index from the job scheduler that started the
 * process:
 * - Slurm job array: K = (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1 and
 *   N = SLURM_ARRAY_TASK_COUNT, so `--array=0-9`, `--array=1-10` and `--array=100-109` all give shards 1…10
 *   (task ids start at the --array offset; SLURM_ARRAY_TASK_STEP is 1 when unset); the range must be contiguous
 *   (`A-B` or `A-B:S`, not a list);
 * - Kubernetes Indexed Job: K = JOB_COMPLETION_INDEX + 1 (Kubernetes sets it, 0-based) and N = JOB_COMPLETIONS,
 *   which Kubernetes does NOT set: the manifest sets it to `.spec.completions` (examples/kubernetes/).
 * Slurm's variables win when both are set.
 * @module
 */
import { UsageError } from "./flags.ts";
import type { FlagSpec } from "./flags.ts";

/** `--shard K/N|auto`. */
export const SHARD_FLAG = {
  kind: "string",
  value: "K/N|auto",
  description:
    "only the K-th of N slices of the sorted input list (1-based); auto: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX",
} as const satisfies FlagSpec;

/** A shard and where its numbers came from (for the one line the task prints). */
export interface ShardChoice {
  index: number;
  count: number;
  /** e.g. `--shard 2/3`, `SLURM_ARRAY_TASK_ID=5 (min 4, step 1, count 3)` */
  from: string;
}

const INT = /^\d+$/;

function envInt(env: (name: string) => string | undefined, name: string, why: string): number {
  const raw = env(name);
  if (raw === undefined || raw === "") throw new UsageError(`--shard auto: ${name} is not set (${why})`);
  if (!INT.test(raw.trim())) throw new UsageError(`--shard auto: ${name}=${raw} is not a whole number`);
  return Number(raw.trim());
}

/**
 * Parses `--shard`: `K/N` (1 ≤ K ≤ N) or `auto` (from the environment, see the module comment).
 * @param env reads an environment variable (default: Deno.env.get)
 * @throws UsageError for a malformed value, or `auto` without a scheduler's variables or with inconsistent ones
 */
export function parseShardFlag(
  spec: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): ShardChoice {
  let index: number, count: number, from: string;
  if (spec === "auto") {
    if (env("SLURM_ARRAY_TASK_ID") !== undefined) {
      const why = "set by Slurm in the tasks of a job array (sbatch --array)";
      const id = envInt(env, "SLURM_ARRAY_TASK_ID", why);
      const min = envInt(env, "SLURM_ARRAY_TASK_MIN", why);
      count = envInt(env, "SLURM_ARRAY_TASK_COUNT", why);
      const step = env("SLURM_ARRAY_TASK_STEP") ? envInt(env, "SLURM_ARRAY_TASK_STEP", why) : 1;
      if (step < 1 || id < min || (id - min) % step !== 0) {
        throw new UsageError(
          `--shard auto: SLURM_ARRAY_TASK_ID=${id} is not on the range from ${min} in steps of ${step}; ` +
            "give the array a contiguous range (--array=A-B or A-B:S)",
        );
      }
      index = (id - min) / step + 1;
      from = `SLURM_ARRAY_TASK_ID=${id} (min ${min}, step ${step}, count ${count})`;
    } else if (env("JOB_COMPLETION_INDEX") !== undefined) {
      const completion = envInt(
        env,
        "JOB_COMPLETION_INDEX",
        "set by Kubernetes in the pods of an Indexed Job",
      );
      count = envInt(env, "JOB_COMPLETIONS", "set it to the Job's .spec.completions in the manifest");
      index = completion + 1;
      from = `JOB_COMPLETION_INDEX=${completion} of JOB_COMPLETIONS=${count}`;
    } else {
      throw new UsageError(
        "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes " +
          "Indexed Job) is set; give --shard K/N",
      );
    }
    if (count < 1 || index > count) {
      throw new UsageError(`--shard auto: ${from} gives shard ${index} of ${count}, outside 1…${count}`);
    }
  } else {
    const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
    if (!m) throw new UsageError(`--shard: expected K/N (e.g. 2/3) or auto, got '${spec}'`);
    [index, count] = [Number(m[1]), Number(m[2])];
    if (count < 1 || index < 1 || index > count) {
      throw new UsageError(`--shard: expected 1 ≤ K ≤ N, got ${spec}`);
    }
    from = `--shard ${spec}`;
  }
  return { index, count, from };
}
