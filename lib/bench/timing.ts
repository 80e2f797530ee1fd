/**
 * Timing and memory of the benchmark phases: medians of repeated batches in ms per image, the process's peak
 * resident set size (workers are threads, so included).
 * @module
 */
/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Samples this process's resident set size (workers are threads: included) while the main thread awaits them;
 * Deno refuses /proc/self/status (VmHWM) without --allow-all, so this is the portable peak measure.
 */
export class RssSampler {
  private peak = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  constructor(intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }
  private sample(): void {
    this.peak = Math.max(this.peak, Deno.memoryUsage().rss);
  }
  /** Stops sampling; the largest RSS seen, MiB. */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peak / 2 ** 20;
  }
}

/** Peak resident set size of this process (all threads, incl. workers) in MiB, from /proc/self/status VmHWM. */
export function peakRssMb(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak-RSS counter (VmHWM) so that the next phase measures its own peak; false if refused. */
export function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Timings of one phase: median and every run, ms per image. */
export interface PhaseTiming {
  ms_per_image: number;
  runs_ms_per_image: number[];
}

/** Times `fn` (one batch) after `warmup` untimed runs; returns ms per image. */
export async function timeBatches(
  fn: () => Promise<void>,
  batchSize: number,
  reps: number,
  warmup: number,
  progress?: (line: string) => void,
): Promise<PhaseTiming> {
  for (let i = 0; i < warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    runs.push((performance.now() - t0) / batchSize);
    progress?.(`  run ${i + 1}/${reps}: ${runs[i].toFixed(0)} ms/image`);
  }
  return { ms_per_image: median(runs), runs_ms_per_image: runs };
}
