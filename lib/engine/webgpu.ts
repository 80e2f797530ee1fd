/**
 * The WebGPU engine: TF.js's own WebGPU backend (`@tensorflow/tfjs-backend-webgpu`) on the GPU that Deno exposes
 * as `navigator.gpu` (Vulkan on Linux, Metal on macOS, DX12 on Windows), so one code path runs on any vendor's GPU.
 *
 * - {@link probeWebGpu} asks for the adapter TF.js would use (`powerPreference: "high-performance"`, as
 *   tfjs-backend-webgpu asks) and describes it from `adapter.info` (vendor, architecture, device, description)
 *   and whether it is a software adapter (`isFallbackAdapter`, or a known software rasteriser: llvmpipe,
 *   lavapipe, SwiftShader, WARP), which `--backend auto` never picks.
 * - {@link startWebGpu} registers and starts the backend. The package is imported only then: importing it
 *   registers `webgpu` with TF.js's highest priority, which would make it the default backend of code that never
 *   chose one.
 * - Reading a GPU tensor back is asynchronous only: tfjs-backend-webgpu's `dataSync` goes through an
 *   OffscreenCanvas, which Deno lacks, so every read on the engine's paths is `await tensor.data()`. A stray
 *   synchronous read fails with a message saying so (not the backend's `clearRect` TypeError).
 * - A GPU error (an invalid shader or pipeline, out of memory, a lost device) invalidates every command queued
 *   with it, and TF.js does not listen for it: results would silently be garbage. The device's errors are
 *   recorded here and the next read back throws {@link WebGpuError} with the first one. (Seen: TF.js 4.22's
 *   WebGPU `PadV2` fails to compile for rank > 4, which lib/engine/conv_grad.ts therefore avoids.)
 * - Mesa's Vulkan driver prints "XDG_RUNTIME_DIR is invalid or not set" (twice, harmless) when that variable is
 *   unset, as on servers and in containers without a login session; {@link ensureRuntimeDir} gives it a private
 *   folder under the temporary directory first.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The GPU adapter the WebGPU backend runs on, as Deno's `adapter.info` gives it. */
export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** a software rasteriser (llvmpipe, SwiftShader, …): correct but slower than the CPU engines */
  software: boolean;
  /** the largest buffer a kernel can bind, bytes (bounds the images per pass: {@link webGpuImagesPerPass}) */
  maxBindingBytes: number;
}

/** The adapter options tfjs-backend-webgpu uses (its `WEBGPU_USE_LOW_POWER_GPU` flag is off by default). */
const ADAPTER_OPTIONS: GPURequestAdapterOptions = { powerPreference: "high-performance" };

/** Adapter names of software rasterisers, for drivers that do not set `isFallbackAdapter`. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

/** Whether an adapter is a software one (`isFallbackAdapter`, or its strings name a software rasteriser). */
export function isSoftwareAdapter(
  info: Pick<WebGpuAdapter, "vendor" | "architecture" | "device" | "description">,
  isFallbackAdapter = false,
): boolean {
  return isFallbackAdapter ||
    SOFTWARE_ADAPTER.test([info.description, info.vendor, info.architecture, info.device].join(" "));
}

/**
 * One line naming an adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) [vendor 65541, device 0, software adapter]`.
 */
export function describeAdapter(a: WebGpuAdapter): string {
  const name = a.description || a.architecture || "unnamed adapter";
  const ids = [
    a.vendor && `vendor ${a.vendor}`,
    a.architecture && a.architecture !== name && `architecture ${a.architecture}`,
    a.device && `device ${a.device}`,
    a.software ? "software adapter" : "hardware adapter",
  ].filter(Boolean);
  return `${name} [${ids.join(", ")}]`;
}

/**
 * Sets `XDG_RUNTIME_DIR` to a private folder (`<tmp>/ssd300-pennfudan-runtime-<uid>`, mode 0700) when it is unset
 * on Linux, before the Vulkan driver loads (see the module comment). Leaves a set value alone; does nothing
 * without the permissions (the driver's warning is then the only effect).
 */
export function ensureRuntimeDir(): void {
  if (Deno.build.os !== "linux") return;
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const tmp = Deno.env.get("TMPDIR") || "/tmp";
    const dir = `${tmp}/ssd300-pennfudan-runtime-${Deno.uid() ?? "user"}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // no --allow-env / --allow-write: the driver only warns
  }
}

/**
 * The adapter TF.js's WebGPU backend would get, or null (no `navigator.gpu`, no driver, no GPU).
 * Costs one adapter request (≈ 70 ms on Mesa's llvmpipe); creates no device.
 */
export async function probeWebGpu(): Promise<WebGpuAdapter | null> {
  ensureRuntimeDir();
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return null;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(ADAPTER_OPTIONS);
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = info.isFallbackAdapter ??
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const strings = {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
  };
  return {
    ...strings,
    software: isSoftwareAdapter(strings, fallback),
    maxBindingBytes: Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize),
  };
}

let running: WebGpuAdapter | null = null;

/** The adapter the WebGPU backend runs on in this thread, or null when it was not started. */
export function webGpuAdapter(): WebGpuAdapter | null {
  return running;
}

/**
 * Starts TF.js's WebGPU backend on the adapter {@link probeWebGpu} finds and makes it the current backend.
 * @returns the adapter, or null when there is none (nothing is changed then)
 * @throws Error when the adapter exists but the backend fails to start
 */
export async function startWebGpu(): Promise<WebGpuAdapter | null> {
  if (running && tf.getBackend() === "webgpu") return running;
  const adapter = await probeWebGpu();
  if (!adapter) return null;
  await import("@tensorflow/tfjs-backend-webgpu"); // registers the backend (see the module comment)
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error(`the WebGPU backend failed to start on ${describeAdapter(adapter)}`);
  }
  await tf.ready();
  guardReads();
  running = adapter;
  return adapter;
}

/** Float32 bytes of the largest activation of one SSD300 image (conv1_x: 300 × 300 × 64). */
const LARGEST_ACTIVATION_BYTES = 300 * 300 * 64 * 4;

/**
 * Images one SSD300 pass (forward, or forward + backward) may hold on this adapter: every tensor must fit the
 * adapter's largest binding (128 MiB on llvmpipe → 5 images; several GiB on discrete GPUs). Infinity when the
 * WebGPU backend is not running.
 */
export function webGpuImagesPerPass(): number {
  if (!running) return Infinity;
  return Math.max(1, Math.floor(running.maxBindingBytes / LARGEST_ACTIVATION_BYTES));
}

/** Thrown by a synchronous read of a GPU tensor on the WebGPU backend (a bug: reads must be `await data()`). */
export class WebGpuSyncReadError extends Error {
  override name = "WebGpuSyncReadError";
}

/** A GPU error of the WebGPU device: the results of the commands queued with it are invalid. */
export class WebGpuError extends Error {
  override name = "WebGpuError";
}

interface TensorData {
  values?: unknown;
  dtype: string;
  shape: number[];
}

interface WebGpuBackendInternals {
  device: GPUDevice;
  read(dataId: object): Promise<unknown>;
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): TensorData | undefined };
  guarded?: boolean;
}

/**
 * Makes reads fail loudly instead of returning wrong values: `readSync` of a tensor whose values are only on the GPU
 * throws {@link WebGpuSyncReadError} (instead of a TypeError on a missing OffscreenCanvas, after a console
 * warning); `read` throws {@link WebGpuError} once the device reported an error (values already on the CPU,
 * uploaded or read before, still read).
 */
function guardReads(): void {
  const backend = tf.backend() as unknown as WebGpuBackendInternals;
  if (backend.guarded) return;
  let failure: string | null = null;
  backend.device.addEventListener("uncapturederror", (e) => {
    failure ??= (e as GPUUncapturedErrorEvent).error.message.trim().split("\n")[0].slice(0, 300);
  });
  backend.device.lost.then((info) => failure ??= `device lost: ${info.message || info.reason}`);
  const check = () => {
    if (failure !== null) {
      throw new WebGpuError(`the GPU reported an error, so results are invalid: ${failure}`);
    }
  };
  const read = backend.read.bind(backend);
  backend.read = async (dataId: object) => {
    check();
    const values = await read(dataId);
    check();
    return values;
  };
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    const d = backend.tensorMap.get(dataId);
    if (d && d.values == null && d.dtype !== "string" && d.dtype !== "complex64") {
      throw new WebGpuSyncReadError(
        `a synchronous read (dataSync/arraySync) of a ${d.dtype} tensor [${d.shape}] on the WebGPU backend: ` +
          "Deno cannot read GPU buffers synchronously; read it with `await tensor.data()`",
      );
    }
    return readSync(dataId);
  };
  backend.guarded = true;
}
