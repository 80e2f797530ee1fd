/**
 * TensorFlow.js backend selection.
 *
 * `auto` prefers the native bindings (`@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node`) when they are
 * installed and their native library loads; otherwise it uses the WASM backend, whose `.wasm` binaries are read
 * from the installed npm package (never fetched from the network).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// A namespace import: a bare named import does not evaluate the package's backend registration under Deno.
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import { InputError } from "../core/errors.ts";

/** Backends a task can be asked for on the command line (`--backend`). */
export const BACKEND_CHOICES = ["auto", "wasm", "cpu", "tensorflow"] as const;
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

/**
 * Starts the requested backend and returns its name (`wasm`, `cpu` or `tensorflow`).
 * Idempotent: later calls with the same choice return the running backend.
 * @param choice `auto` | `wasm` | `cpu` | `tensorflow`
 * @param log where to print the choice (stderr by default); pass `null` to stay quiet
 */
export async function initBackend(
  choice: BackendChoice = "auto",
  log: ((line: string) => void) | null = (line) => console.error(line),
): Promise<string> {
  if (initialised && (choice === "auto" || choice === initialised)) return initialised;
  let name: string;
  let why = "";
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
