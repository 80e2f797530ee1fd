/**
 * Backend selection (lib/engine/backend.ts) as the tasks use it: each case runs in its own process, because a tf.js
 * backend is process-global. Processes get no --allow-net, so loading the WASM binaries from the network would
 * fail: they must come from the installed npm package.
 */
import assert from "node:assert/strict";
import { BACKEND_CHOICES, isBackendChoice } from "../../lib/engine/backend.ts";

const BACKEND_URL = new URL("../../lib/engine/backend.ts", import.meta.url).href;
const ROOT = new URL("../../", import.meta.url);

function nativeInstalled(): boolean {
  return ["tfjs-node-gpu", "tfjs-node"].some((p) => {
    try {
      return [...Deno.readDirSync(new URL(`node_modules/@tensorflow/${p}/lib/`, ROOT))].some((e) =>
        e.name.startsWith("napi-v")
      );
    } catch {
      return false;
    }
  });
}

/**
 * Runs initBackend(choice) and a tiny op in a fresh process without network permission. GPUs are hidden from it
 * (`DENO_WEBGPU_BACKEND=none`), so that `auto` means the CPU backends on every machine (tests/tasks/webgpu_test.ts
 * checks `auto` with the GPU visible).
 */
async function runBackend(choice: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "${BACKEND_URL}";
const name = await initBackend(${JSON.stringify(choice)});
const y = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([10, 20]));
console.log(JSON.stringify({ name, active: tf.getBackend(), y: Array.from(y.dataSync()) }));
`,
    );
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        "--allow-ffi",
        "--allow-sys",
        `--config=${new URL("deno.json", ROOT).pathname}`,
        script,
      ],
      cwd: ROOT.pathname,
      env: { DENO_WEBGPU_BACKEND: "none" },
      stdout: "piped",
      stderr: "piped",
    });
    const out = await cmd.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("isBackendChoice() accepts exactly auto, wasm, cpu, tensorflow, webgpu", () => {
  assert.deepEqual([...BACKEND_CHOICES], ["auto", "wasm", "cpu", "tensorflow", "webgpu"]);
  for (const c of BACKEND_CHOICES) assert(isBackendChoice(c));
  for (const c of ["", "webgl", "WASM", "gpu", "node", "WebGPU"]) assert(!isBackendChoice(c), c);
});

Deno.test("initBackend() starts wasm and cpu without network access, computes, and prints the choice", async () => {
  for (const choice of ["wasm", "cpu"]) {
    const { code, stdout, stderr } = await runBackend(choice);
    assert.deepEqual(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), {
      name: choice,
      active: choice,
      y: [11, 22],
    });
    assert(stderr.includes(`backend: ${choice}`), stderr);
  }
});

Deno.test("initBackend('auto') uses a native binding when it loads, else WASM, and says why", async () => {
  const { code, stdout, stderr } = await runBackend("auto");
  assert.deepEqual(code, 0, stderr);
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
  if (nativeInstalled()) {
    assert.deepEqual(result.name, "tensorflow");
  } else {
    assert.deepEqual(result, { name: "wasm", active: "wasm", y: [11, 22] });
    assert(stderr.includes("backend: wasm (no native TensorFlow binding found)"), stderr);
  }
});

Deno.test("initBackend('tensorflow') fails with BackendUnavailableError when no native binding is installed", async (t) => {
  if (nativeInstalled()) {
    console.warn(`skipping ${t.name}: a native binding is installed`);
    return;
  }
  const { code, stderr } = await runBackend("tensorflow");
  assert(code !== 0);
  assert(/BackendUnavailableError/.test(stderr) && /tfjs-node/.test(stderr), stderr);
});
