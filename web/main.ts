/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The detector page (web/index.html), bundled by `deno task serve` (lib/export/serve.ts) with esbuild from
 * the installed npm packages: TF.js core, the WebGPU, WebGL, WASM and CPU backends, tfjs-converter, and our
 * detector API (lib/export/detector.ts) and image codecs (lib/image). Nothing is fetched from outside the server.
 *
 * Backend: `?backend=webgpu|webgl|wasm|cpu`, else WebGPU when `navigator.gpu` gives a hardware adapter, else
 * WebGL when the GPU is real, WASM when WebGL is missing or a software rasteriser (SwiftShader, llvmpipe: slower
 * than WASM), CPU as the last resort.
 * `?image=/images/<name>` runs detection on that image with the default thresholds and writes `{ backend, ms,
 * detections }` into `<pre id="detections">` (`?repeat=N` runs it N times and reports the last); `?image=` and
 * `?model=` must be on this server.
 *
 * No markup is ever built from text: class names, file names, the model's source and messages go into the page
 * through `textContent`, `new Option` and the canvas only (no `innerHTML`), so they show as text.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-webgl";
import "@tensorflow/tfjs-backend-webgpu";
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import {
  type DetectedObject,
  type Detector,
  type DetectorInput,
  loadDetector,
} from "../lib/export/detector.ts";
import { decodeImage, type RgbImage, sniffImageFormat } from "../lib/image/codec.ts";
import { classColor } from "../lib/ssd/classes.ts";
import { isSoftwareAdapter } from "../lib/engine/webgpu.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const status = $<HTMLParagraphElement>("status");
const canvas = $<HTMLCanvasElement>("view");
const out = $<HTMLPreElement>("detections");

function setStatus(text: string, state: "loading" | "ready" | "busy" | "done" | "error"): void {
  status.textContent = text;
  status.dataset.state = state;
  document.documentElement.dataset.state = state;
}

/** Whether WebGL runs on a real GPU (not a software rasteriser). */
function hardwareWebgl(): boolean {
  const gl = document.createElement("canvas").getContext("webgl2") ??
    document.createElement("canvas").getContext("webgl");
  if (!gl) return false;
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = String(
    info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
  );
  return !/swiftshader|llvmpipe|software|basic render/i.test(renderer);
}

/** The WebGPU adapter TF.js would use (its `powerPreference`), when `navigator.gpu` gives one. */
async function webgpuAdapter(): Promise<GPUAdapter | null> {
  try {
    return await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" }) ?? null;
  } catch {
    return null;
  }
}

/** Whether WebGPU runs on a real GPU (not a fallback/software adapter such as SwiftShader). */
async function hardwareWebgpu(): Promise<boolean> {
  const adapter = await webgpuAdapter();
  if (!adapter) return false;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return !isSoftwareAdapter(info, fallback ?? false);
}

async function startBackend(): Promise<string> {
  tfWasm.setWasmPaths("/wasm/");
  const wanted = params.get("backend");
  const order = wanted
    ? [wanted]
    : await hardwareWebgpu()
    ? ["webgpu", "webgl", "wasm", "cpu"]
    : hardwareWebgl()
    ? ["webgl", "wasm", "cpu"]
    : ["wasm", "webgl", "cpu"];
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
    } catch (e) {
      console.warn(`backend ${name} failed: ${(e as Error).message}`);
    }
  }
  throw new Error(`no TF.js backend could start (tried ${order.join(", ")})`);
}

/** What the backend runs on: WASM SIMD/threads, the WebGL renderer or the WebGPU adapter (`data-backend-info`). */
async function backendInfo(backend: string): Promise<string> {
  if (backend === "webgpu") {
    const info = (await webgpuAdapter())?.info;
    return [info?.description, info?.vendor, info?.architecture].filter(Boolean).join(", ") || "WebGPU";
  }
  if (backend === "wasm") {
    const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
    const threads = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
    return `${simd ? "SIMD" : "no SIMD"}, ${threads ? "multi-threaded" : "single-threaded"}`;
  }
  if (backend === "webgl") {
    const gl = document.createElement("canvas").getContext("webgl2");
    const info = gl?.getExtension("WEBGL_debug_renderer_info");
    return info ? String(gl!.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "WebGL";
  }
  return backend;
}

/** Decodes image bytes with our own codecs (as `deno task detect` does), else with the browser's decoder. */
async function decodeBytes(bytes: Uint8Array, name: string): Promise<DetectorInput> {
  if (sniffImageFormat(bytes)) return decodeImage(bytes, name);
  return await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]));
}

/** Display scale: small images are drawn larger so that labels stay readable. */
function displayScale(width: number, height: number): number {
  return Math.max(1, Math.min(4, 480 / Math.max(width, height)));
}

/** Draws the image (RGB bytes or a DOM source) and the boxes with class and score. */
function draw(image: DetectorInput, found: readonly DetectedObject[], classes: readonly string[]): void {
  const ctx = canvas.getContext("2d")!;
  let source: CanvasImageSource, width: number, height: number;
  if ("data" in image && !(image instanceof tf.Tensor)) {
    const rgb = image as RgbImage;
    [width, height] = [rgb.width, rgb.height];
    const rgba = new ImageData(width, height);
    for (let p = 0; p < width * height; p++) {
      rgba.data.set(rgb.data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba.data[p * 4 + 3] = 255;
    }
    const tmp = new OffscreenCanvas(width, height);
    tmp.getContext("2d")!.putImageData(rgba, 0, 0);
    source = tmp;
  } else {
    const src = image as HTMLVideoElement | ImageBitmap;
    width = "videoWidth" in src ? src.videoWidth : src.width;
    height = "videoHeight" in src ? src.videoHeight : src.height;
    source = src;
  }
  const s = displayScale(width, height);
  canvas.width = Math.round(width * s);
  canvas.height = Math.round(height * s);
  ctx.imageSmoothingEnabled = s === 1;
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const line = 2;
  ctx.lineWidth = line;
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "top";
  for (const d of found) {
    const [r, g, b] = classColor(Math.max(0, classes.indexOf(d.class)));
    const [x, y, w, h] = d.bbox.map((v) => v * s);
    ctx.strokeStyle = `rgb(${r},${g},${b})`;
    ctx.strokeRect(x, y, w, h);
    const label = `${d.class} ${d.score.toFixed(2)}`;
    const tw = ctx.measureText(label).width + 6;
    const ty = Math.max(0, y - 16);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x - line / 2, ty, tw, 16);
    ctx.fillStyle = r * 0.299 + g * 0.587 + b * 0.114 > 150 ? "#000" : "#fff";
    ctx.fillText(label, x + 3 - line / 2, ty + 2);
  }
}

async function run(detector: Detector, backend: string, image: DetectorInput, repeat = 1): Promise<void> {
  setStatus(`${backend}: detecting…`, "busy");
  const minScore = Number(($<HTMLInputElement>("min-score")).value);
  const times: number[] = [];
  let found: DetectedObject[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    found = await detector.detect(image, Number.isFinite(minScore) ? { minScore } : {});
    times.push(performance.now() - t0);
  }
  const ms = times[times.length - 1];
  draw(image, found, detector.classes);
  out.textContent = JSON.stringify({
    backend,
    ms,
    ...(repeat > 1 ? { runs_ms: times } : {}),
    detections: found,
  });
  setStatus(`${backend}: ${found.length} detections, ${ms.toFixed(0)} ms per image`, "done");
}

async function main(): Promise<void> {
  const backend = await startBackend();
  document.documentElement.dataset.backendInfo = await backendInfo(backend);
  setStatus(`${backend}: loading model…`, "loading");
  const detector = await loadDetector(sameOrigin(params.get("model") ?? "/model/"));
  const m = detector.metadata;
  $<HTMLElement>("model-info").textContent = `(${m.classes.length - 1} classes, ${m.prior_set} priors, ` +
    `${m.quantization === "none" ? "float32" : m.quantization} weights, from ${m.source})`;
  ($<HTMLInputElement>("min-score")).value = String(m.detect_defaults.min_score);
  setStatus(`${backend}: ready — pick or drop an image`, "ready");

  const fromBytes = async (bytes: Uint8Array, name: string) =>
    run(detector, backend, await decodeBytes(bytes, name));
  $<HTMLInputElement>("file").addEventListener("change", async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) await fromBytes(new Uint8Array(await file.arrayBuffer()), file.name).catch(fail);
  });
  const drop = $<HTMLDivElement>("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer?.files[0];
    if (file) await fromBytes(new Uint8Array(await file.arrayBuffer()), file.name).catch(fail);
  });
  const camera = $<HTMLButtonElement>("camera");
  if (!navigator.mediaDevices?.getUserMedia) camera.disabled = true;
  camera.addEventListener("click", async () => {
    const video = $<HTMLVideoElement>("video");
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true }).catch((e) => {
      fail(e);
      return null;
    });
    if (!video.srcObject) return;
    await video.play();
    const loop = async () => {
      await run(detector, backend, video).catch(fail);
      requestAnimationFrame(loop);
    };
    loop();
  });
  const listing = await fetch("/images/").then((r) => (r.ok ? r.json() as Promise<string[]> : []), () => []);
  const served = $<HTMLSelectElement>("served");
  if (listing.length) {
    served.hidden = false;
    for (const name of listing) served.add(new Option(name, `/images/${encodeURIComponent(name)}`));
    served.addEventListener("change", () => served.value && open(served.value).catch(fail));
  }
  async function open(url: string, repeat = 1): Promise<void> {
    const res = await fetch(sameOrigin(url));
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    const image = await decodeBytes(new Uint8Array(await res.arrayBuffer()), url);
    await run(detector, backend, image, repeat);
  }
  const image = params.get("image");
  if (image) await open(image, Math.max(1, Number(params.get("repeat") ?? 1) || 1));
}

/** `url` resolved against the page; an error when it points to another origin. */
function sameOrigin(url: string): string {
  const resolved = new URL(url, location.href);
  if (resolved.origin !== location.origin) throw new Error(`${url}: not on this server`);
  return resolved.href;
}

function fail(e: unknown): void {
  console.error(e);
  setStatus(`error: ${(e as Error).message ?? e}`, "error");
}

main().catch(fail);
