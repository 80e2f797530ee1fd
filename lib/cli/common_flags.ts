/**
 * Flags that several tasks share, defined once: the tf.js backend, the detector's post-processing, how a
 * checkpoint is read, the output directory.
 * @module
 */
import { BACKEND_CHOICES, CONV_CHOICES } from "../engine/mod.ts";
import { DEFAULT_MAX_IMAGE_PIXELS, setMaxImagePixels } from "../image/mod.ts";
import type { FlagSpec } from "./flags.ts";

/** `--backend auto|wasm|cpu|tensorflow|webgpu`. */
export const BACKEND_FLAG = {
  kind: "choice",
  choices: BACKEND_CHOICES,
  default: "auto",
  description:
    "tf.js backend (auto: webgpu on a hardware GPU, else tfjs-node when installed with its library, else wasm)",
} as const satisfies FlagSpec;

/** `--min-score`, `--max-overlap`, `--top-k` of the reference's `detect_objects`, with this min-score default. */
export function detectorFlags<M extends number>(minScore: M) {
  return {
    "min-score": {
      kind: "number",
      min: 0,
      max: 1,
      exclusiveMax: true,
      default: minScore,
      description: "minimum class score of a detection",
    },
    "max-overlap": { kind: "number", min: 0, max: 1, default: 0.45, description: "NMS IoU threshold" },
    "top-k": { kind: "integer", min: 1, default: 200, description: "detections kept per image" },
  } as const satisfies Record<string, FlagSpec>;
}

/** `--trust-checkpoint`: lib/interop's `CheckpointOptions.trustCheckpoint`. */
export const TRUST_CHECKPOINT_FLAG = {
  kind: "boolean",
  description: "read a .pth whose pickle would call code anyway, keeping only its tensors (nothing runs)",
} as const satisfies FlagSpec;

/** `--out DIR`, required. */
export const OUT_DIR_FLAG = {
  kind: "string",
  value: "DIR",
  required: true,
  description: "output directory",
} as const satisfies FlagSpec;

/**
 * `--conv auto|wasm|onednn` and `--workers N` of every task that runs the network (lib/engine/setup.ts): by
 * default oneDNN when libdnnl.so.2 loads and as many workers or oneDNN threads as the machine has cores.
 */
export const ENGINE_FLAGS = {
  conv: {
    kind: "choice",
    choices: CONV_CHOICES,
    default: "auto",
    description: "convolution kernels (auto: oneDNN when libdnnl.so.2 loads, else WASM)",
  },
  workers: {
    kind: "integer",
    min: 1,
    description: "data-parallel workers (default: as the engine measured fastest on all cores)",
  },
} as const satisfies Record<string, FlagSpec>;

/** The command-line flags that pass an engine choice on to child tasks (`deno task demo`, `experiments`). */
export function engineArgs(f: { backend?: string; conv?: string; workers?: number }): string[] {
  return [
    ...(f.backend ? ["--backend", f.backend] : []),
    ...(f.conv && f.conv !== "auto" ? ["--conv", f.conv] : []),
    ...(f.workers !== undefined ? ["--workers", String(f.workers)] : []),
  ];
}

/**
 * `--max-pixels N`: the limit on width × height of every image and mask decoded (checked from the header first);
 * parsing the flags sets it (lib/image's `setMaxImagePixels`).
 */
export const MAX_PIXELS_FLAG = {
  kind: "integer",
  min: 1,
  default: DEFAULT_MAX_IMAGE_PIXELS,
  apply: setMaxImagePixels,
  value: "N",
  description:
    "refuse images and masks over N pixels (width × height, from the header), as Pillow's MAX_IMAGE_PIXELS",
} as const satisfies FlagSpec;

/**
 * The flags every task that runs the network on images shares: `--conv`, `--workers` (lib/engine/setup.ts),
 * `--max-pixels` (lib/image/header.ts) and `--trust-checkpoint` (lib/torch/allowlist.ts).
 */
export const NETWORK_FLAGS = {
  ...ENGINE_FLAGS,
  "max-pixels": MAX_PIXELS_FLAG,
  "trust-checkpoint": TRUST_CHECKPOINT_FLAG,
} as const satisfies Record<string, FlagSpec>;
