/**
 * The machine a benchmark ran on: CPU model and vector ISA from /proc/cpuinfo (or lscpu), capped by
 * oneDNN's `ONEDNN_MAX_CPU_ISA` (or the older `DNNL_MAX_CPU_ISA`) when set, since that is what oneDNN may use.
 * @module
 */
import { machineCores } from "../engine/mod.ts";
import type { Machine } from "./schema.ts";

type Isa = Machine["isa"];
const ISA_ORDER: readonly Isa[] = ["unknown", "other", "sse41", "avx2", "avx512"];

/** Widest ISA in a /proc/cpuinfo `flags` line. */
export function isaOfFlags(flags: readonly string[]): Isa {
  const has = new Set(flags);
  if (has.has("avx512f")) return "avx512";
  if (has.has("avx2") && has.has("fma")) return "avx2";
  if (has.has("sse4_1")) return "sse41";
  return "other";
}

/** The ISA a ONEDNN_MAX_CPU_ISA value allows at most (`AVX512_CORE`, `AVX2`, `SSE41`, `ALL` …); null: no cap. */
export function isaOfOneDnnCap(value: string): Isa | null {
  const v = value.toUpperCase();
  if (v === "ALL" || v === "DEFAULT") return null;
  if (v.startsWith("AVX512")) return "avx512";
  if (v.startsWith("AVX2")) return "avx2";
  if (v.startsWith("AVX")) return "sse41"; // AVX without AVX2: no FMA path in oneDNN's f32 kernels
  if (v.startsWith("SSE4")) return "sse41";
  return "other";
}

/** What /proc/cpuinfo (or `cpuinfo`, for tests) says, capped by the environment's oneDNN ISA limit. */
export function describeMachine(
  cpuinfo: string | null = readCpuinfo(),
  cap: string | undefined = Deno.env.get("ONEDNN_MAX_CPU_ISA") ?? Deno.env.get("DNNL_MAX_CPU_ISA"),
): Machine {
  const model = cpuinfo ? /^model name\s*:\s*(.+)$/im.exec(cpuinfo)?.[1].trim() ?? null : null;
  const flagsLine = cpuinfo ? /^flags\s*:\s*(.+)$/im.exec(cpuinfo)?.[1] : undefined;
  const cpuIsa: Isa = flagsLine ? isaOfFlags(flagsLine.trim().split(/\s+/)) : "unknown";
  const capIsa = cap ? isaOfOneDnnCap(cap) : null;
  const isa = capIsa && ISA_ORDER.indexOf(capIsa) < ISA_ORDER.indexOf(cpuIsa) ? capIsa : cpuIsa;
  return { cpu_model: model, cores: machineCores(), isa, cpu_isa: cpuIsa, onednn_max_cpu_isa: cap ?? null };
}

/** /proc/cpuinfo, or `lscpu`'s output (same "model name" and "flags" lines): Deno reads /proc only with -A. */
function readCpuinfo(): string | null {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    try {
      const out = new Deno.Command("lscpu", { stdout: "piped", stderr: "null" }).outputSync();
      return out.success ? new TextDecoder().decode(out.stdout) : null;
    } catch {
      return null;
    }
  }
}
