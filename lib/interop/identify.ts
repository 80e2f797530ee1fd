/**
 * Which model a `.pth` holds, settled before its tensors are fitted to ours:
 * - the uniform `module.` prefix of a state_dict saved from `nn.DataParallel` / `DistributedDataParallel` is
 *   removed, with a note for the user;
 * - another model's state_dict is named as such ("not an SSD300 state_dict: no base.conv1_1.weight; it has
 *   layer1.0.conv1.weight, … — a ResNet?") instead of a list of every missing and unexpected key;
 * - integer tensors (BatchNorm's int64 `num_batches_tracked`, …) are reported as what they are, after the model
 *   has been identified, instead of as a dtype error on the first of them.
 * @module
 */
import { InputError, READ_LIMITS, readRegularFile } from "../core/mod.ts";
import { type NamedTensor, readTorchCheckpoint, type TensorInfo } from "../torch/mod.ts";

/** How a `.pth` is read into one of our models. */
export interface CheckpointOptions {
  /**
   * Read a checkpoint whose pickle would call code (os.system, eval, …) anyway, keeping only its tensors
   * (lib/torch/allowlist.ts; nothing runs either way). The CLI's `--trust-checkpoint`.
   */
  trustCheckpoint?: boolean;
  /** Receives a one-line note the user should see (e.g. that a DataParallel `module.` prefix was removed). */
  onNote?: (note: string) => void;
}

/** The models whose state_dicts we read. */
export type ExpectedModel = "ssd300" | "vgg16";

/** How each expected model's state_dict is recognised. */
const EXPECTED: Record<ExpectedModel, { title: string; model: string; key: string; names: RegExp }> = {
  // the reference's names, or the module-relative head names of a saved PredictionConvolutions
  ssd300: {
    title: "an SSD300",
    model: "the reference's SSD300",
    key: "base.conv1_1.weight",
    names:
      /^(base\.conv\d|aux_convs\.conv\d|pred_convs\.(loc|cl)_conv|rescale_factors$|(loc|cl)_conv[\d_]+\.)/,
  },
  vgg16: {
    title: "a torchvision VGG16",
    model: "torchvision's VGG16",
    key: "features.0.weight",
    names: /^features\.\d+\.(weight|bias)$/,
  },
};

/**
 * Other models' state_dicts, most specific first: every pattern must match some name. The first name matched by
 * each pattern is shown as the evidence.
 */
const FAMILIES: { guess: string; patterns: RegExp[] }[] = [
  {
    guess: "torchvision's ssd300_vgg16 (another SSD300 layout, not the reference's)",
    patterns: [/^backbone\.features\.\d+\.weight$/, /^head\.classification_head\./],
  },
  {
    guess: "torchvision's SSDlite",
    patterns: [/^backbone\.features\.\d+\.\d+\./, /^head\.classification_head\./],
  },
  { guess: "a torchvision Mask R-CNN", patterns: [/^backbone\.body\./, /^roi_heads\.mask_head\./] },
  { guess: "a torchvision Keypoint R-CNN", patterns: [/^backbone\.body\./, /^roi_heads\.keypoint_head\./] },
  { guess: "a torchvision Faster R-CNN", patterns: [/^backbone\.body\./, /^rpn\.head\./] },
  {
    guess: "a torchvision RetinaNet or FCOS",
    patterns: [/^backbone\.body\./, /^head\.classification_head\./],
  },
  {
    guess: "ssd.pytorch's SSD (vgg.*, extras.*, loc.*, conf.*: another SSD300 layout)",
    patterns: [/^vgg\.\d+\.weight$/, /^extras\.\d+\.weight$/, /^conf\.\d+\.weight$/],
  },
  {
    guess: "NVIDIA's SSD300 (a ResNet-50 backbone)",
    patterns: [/^feature_extractor\.feature_extractor\./, /^conf\.\d+\.weight$/],
  },
  { guess: "an Ultralytics YOLO", patterns: [/^model\.\d+\.(conv|cv1|m)\./] },
  { guess: "a DETR", patterns: [/^transformer\.(encoder|decoder)\./, /^class_embed\./] },
  { guess: "a Vision Transformer", patterns: [/^(encoder\.layers\.encoder_layer_0|blocks\.0\.attn)\./] },
  { guess: "a ResNet", patterns: [/^layer[1-4]\.\d+\.conv\d\.weight$/] },
  { guess: "a DenseNet", patterns: [/^features\.denseblock\d\./] },
  { guess: "a MobileNet or EfficientNet", patterns: [/^features\.\d+\.\d+\./, /^classifier\.\d+\.weight$/] },
  {
    guess: "torchvision's VGG ImageNet classifier (the start of `finetune --imagenet`, not a detector)",
    patterns: [/^features\.\d+\.weight$/, /^classifier\.\d+\.weight$/],
  },
  {
    guess: "an SSD300 detector checkpoint (not ImageNet VGG16 weights)",
    patterns: [/^base\.conv1_1\.weight$/, /^pred_convs\./],
  },
];

/** How many names an identification message shows. */
const SHOWN_NAMES = 3;

/** A `.pth` holds another model than the one expected. */
export class WrongModelError extends InputError {
  override name = "WrongModelError";
  constructor(
    readonly source: string,
    readonly expected: ExpectedModel,
    /** our guess of what it is, e.g. "a ResNet"; undefined when none fits */
    readonly guess: string | undefined,
    evidence: string[],
    count: number,
  ) {
    const { title, key } = EXPECTED[expected];
    const shown = evidence.join(", ") + (count > evidence.length ? ", …" : "");
    const tail = guess ? ` — ${guess}?` : "";
    super(
      `${source}: not ${title} state_dict: no ${key}; it has ${shown} (${plural(count, "tensor")})${tail}`,
    );
  }
}

/** A state_dict of the expected model that also holds integer (or other non-float) tensors we cannot load. */
export class NonFloatTensorsError extends InputError {
  override name = "NonFloatTensorsError";
  constructor(
    readonly source: string,
    readonly expected: ExpectedModel,
    readonly tensors: Map<string, TensorInfo>,
  ) {
    const { title, model } = EXPECTED[expected];
    const listed = [...tensors].slice(0, SHOWN_NAMES).map(([n, t]) => `${n} (${t.dtype} [${t.shape}])`);
    const shown = listed.join(", ") + (tensors.size > listed.length ? ", …" : "");
    const what = `${title.replace(/^an? /, "")} state_dict with ${plural(tensors.size, "non-float tensor")}`;
    super(
      `${source}: ${what}: ${shown}; ${model} has only float weights, so this is another variant of it ` +
        `(BatchNorm layers keep an int64 num_batches_tracked), which is not supported`,
    );
  }
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** The uniform DataParallel prefix of `names` (`module.`, or `module.module.` when wrapped twice), else "". */
export function dataParallelPrefix(names: readonly string[]): string {
  let prefix = "";
  while (names.length > 0 && names.every((n) => n.startsWith(`${prefix}module.`))) prefix += "module.";
  return prefix;
}

/** `entries` with `prefix` removed from every name. */
function withoutPrefix<T>(entries: Map<string, T>, prefix: string): Map<string, T> {
  if (!prefix) return entries;
  return new Map([...entries].map(([k, v]) => [k.slice(prefix.length), v]));
}

/** What `names` look like when they are not `expected`'s: a guess and the names that support it. */
export function guessModel(names: readonly string[]): { guess?: string; evidence: string[] } {
  for (const { guess, patterns } of FAMILIES) {
    const evidence = patterns.map((p) => names.find((n) => p.test(n)));
    if (evidence.every((n) => n !== undefined)) return { guess, evidence: evidence as string[] };
  }
  // our own names under a wrapper key this reader does not unwrap (e.g. `{'net': state_dict}` → `net.base.…`)
  const wrapped = names.find((n) => /^.+\.base\.conv1_1\.weight$/.test(n));
  if (wrapped) {
    const prefix = wrapped.slice(0, -"base.conv1_1.weight".length);
    return {
      guess: `an SSD300 whose names start with '${prefix}' (a wrapper this reader does not unwrap)`,
      evidence: [wrapped],
    };
  }
  return { evidence: names.slice(0, SHOWN_NAMES) };
}

/**
 * Checks that `tensors` (and `nonFloat`, the tensors that were not read) are `expected`'s state_dict: some name
 * must be one of its own.
 * @throws WrongModelError naming what the state_dict looks like instead
 * @throws NonFloatTensorsError when it is `expected`'s but holds non-float tensors
 */
export function checkModelIdentity(
  source: string,
  expected: ExpectedModel,
  tensors: Map<string, unknown>,
  nonFloat: Map<string, TensorInfo> = new Map(),
): void {
  const names = [...tensors.keys(), ...nonFloat.keys()];
  if (!names.some((n) => EXPECTED[expected].names.test(n))) {
    const { guess, evidence } = guessModel(names);
    throw new WrongModelError(source, expected, guess, evidence, names.length);
  }
  if (nonFloat.size > 0) throw new NonFloatTensorsError(source, expected, nonFloat);
}

/**
 * Reads a `.pth` (zip or legacy; see readTorchCheckpoint) as `expected`'s state_dict: refuses pickles that would
 * run code unless `trustCheckpoint`, removes a DataParallel `module.` prefix (telling `onNote`), and checks that it
 * is `expected`'s ({@link checkModelIdentity}). Whether every key fits is the caller's check.
 * @returns the float tensors by name (torch layout)
 * @throws UntrustedCheckpointError, TorchFormatError, WrongModelError, NonFloatTensorsError (all InputErrors)
 */
export function readStateDict(
  bytes: Uint8Array,
  source: string,
  expected: ExpectedModel,
  opts: CheckpointOptions = {},
): Map<string, NamedTensor> {
  const ck = readTorchCheckpoint(bytes, source, { trustCheckpoint: opts.trustCheckpoint, nonFloat: "list" });
  const prefix = dataParallelPrefix([...ck.tensors.keys(), ...ck.nonFloat.keys()]);
  const tensors = withoutPrefix(ck.tensors, prefix);
  checkModelIdentity(source, expected, tensors, withoutPrefix(ck.nonFloat, prefix));
  if (prefix) {
    opts.onNote?.(
      `${source}: saved from nn.DataParallel/DistributedDataParallel: removed the '${prefix}' prefix of its ` +
        `${tensors.size} names`,
    );
  }
  return tensors;
}

/** {@link readStateDict} of a file: a regular file of at most `READ_LIMITS.model` (2 GiB). */
export async function readStateDictFile(
  path: string,
  expected: ExpectedModel,
  opts: CheckpointOptions = {},
): Promise<Map<string, NamedTensor>> {
  return readStateDict(await readRegularFile(path, READ_LIMITS.model), path, expected, opts);
}
