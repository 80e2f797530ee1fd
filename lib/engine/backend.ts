/**
 * TensorFlow.js backend selection.
 *
 * `auto` prefers WebGPU on a hardware GPU adapter (lib/engine/webgpu.ts; never a software rasteriser such as
 * llvmpipe, which is slower than the CPU), then the native bindings (`@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`) when they are installed and their native library loads; otherwise it uses the WASM
 * backend, whose `.wasm` binaries are read from the installed npm package (never fetched from the network).
 * `webgpu` uses whatever adapter there is, software ones included.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// A namespace import: a bare named import does not evaluate the package's backend registration under Deno.
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import { InputError } from "../core/errors.ts";
import { describeAdapter, probeWebGpu, startWebGpu } from "./webgpu.ts";

/** Backends a task can be asked for on the command line (`--backend`). */
export const BACKEND_CHOICES = ["auto", "wasm", "cpu", "tensorflow", "webgpu"] as const;
export type BackendChoice = typeof BACKEND_CHOICES[number];

/** Thrown when the requested backend cannot be started. */
export class BackendUnavailableError extends InputError {
  override name = "BackendUnavailableError";
}

/** Type guard for `--backend` values. */
export function isBackendChoice(value: string): value is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(value);
}

/** Project root (the folder holding `deno.json`), where optional native packages would be installed. */
const PROJECT_ROOT = new URL("../../", import.meta.url);

async function tryNativeBinding(): Promise<string | undefined> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const dir = new URL(`node_modules/${pkg}/`, PROJECT_ROOT);
    // Only packages whose install script fetched libtensorflow have a native binding; importing one without it
    // would half-register kernels before failing, so look for the binding first.
    try {
      const hasBinding = [...Deno.readDirSync(new URL("lib/", dir))].some((e) => e.name.startsWith("napi-v"));
      if (!hasBinding) continue;
      const manifest = JSON.parse(Deno.readTextFileSync(new URL("package.json", dir)));
      await import(new URL(manifest.main ?? "index.js", dir).href);
      if (tf.findBackend("tensorflow")) return pkg;
    } catch {
      // not installed, or its native library failed to load: try the next one
    }
  }
  return undefined;
}

/** Directory URL of the installed WASM binaries, so that no network fetch is ever attempted. */
function wasmDirectory(): string {
  const resolved = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  return new URL("./", resolved).pathname;
}

let initialised: string | undefined;

/** The message of `--backend webgpu` without an adapter (exit 1). */
export const NO_WEBGPU_ADAPTER =
  "--backend webgpu: no WebGPU adapter found (Linux: install the Vulkan driver of the " +
  "GPU, e.g. mesa-vulkan-drivers; macOS uses Metal, Windows DX12)";

/**
 * Starts the requested backend and returns its name (`wasm`, `cpu`, `tensorflow` or `webgpu`).
 * Idempotent: later calls with the same choice return the running backend.
 * @param choice `auto` | `wasm` | `cpu` | `tensorflow` | `webgpu`
 * @param log where to print the choice (stderr by default); pass `null` to stay quiet
 * @throws BackendUnavailableError when the requested backend cannot start (`webgpu` without an adapter)
 */
export async function initBackend(
  choice: BackendChoice = "auto",
  log: ((line: string) => void) | null = (line) => console.error(line),
): Promise<string> {
  if (initialised && (choice === "auto" || choice === initialised)) return initialised;
  let name: string;
  let why = "";
  if (choice === "webgpu" || choice === "auto") {
    const probe = choice === "auto" ? await probeWebGpu() : null;
    if (choice === "webgpu" || (probe && !probe.software)) {
      const adapter = await startWebGpu();
      if (!adapter) throw new BackendUnavailableError(NO_WEBGPU_ADAPTER);
      initialised = "webgpu";
      log?.(`backend: webgpu (${describeAdapter(adapter)})`);
      return initialised;
    }
  }
  if (choice === "tensorflow" || choice === "auto") {
    const pkg = await tryNativeBinding();
    if (pkg) {
      name = "tensorflow";
      why = ` (${pkg})`;
    } else if (choice === "tensorflow") {
      throw new BackendUnavailableError(
        "--backend tensorflow: neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node could be loaded " +
          "(they need their native libtensorflow; tfjs-node-gpu also needs CUDA 11.2 + cuDNN 8.1)",
      );
    } else {
      name = "wasm";
      why = " (no native TensorFlow binding found)";
    }
  } else {
    name = choice;
  }
  if (name === "wasm") {
    tfWasm.setWasmPaths(wasmDirectory());
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendUnavailableError(`backend '${name}' failed to initialise`);
  await tf.ready();
  initialised = name;
  log?.(`backend: ${name}${why}`);
  return name;
}
