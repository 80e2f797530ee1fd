/**
 * Experiment grids for `deno task experiments`: a config names a base of fine-tuning settings and the factors the
 * homework asks about (augmentation, learning rate, optimiser, freezing, head init, prior set); this module
 * expands it into named runs (pure), maps each run to `deno task finetune` flags, and renders the comparison
 * table from the runs' `ap.json`.
 * @module
 */
import { z } from "zod";
import { InputError } from "../../lib/core/mod.ts";
import type { FlagSpec } from "../../lib/cli/mod.ts";
import { FINETUNE_CLI, type FinetuneSettings, SETTING_FLAGS } from "../finetune.ts";

export type { FinetuneSettings };

/** The zod type of one flag's value: what `deno task finetune` accepts for it. */
function flagValueSchema(spec: FlagSpec): z.ZodType {
  switch (spec.kind) {
    case "boolean":
      return z.boolean();
    case "choice":
      return z.enum(spec.choices as [string, ...string[]]);
    case "number":
    case "integer": {
      let n = spec.kind === "integer" ? z.number().int() : z.number();
      if (spec.min !== undefined) n = spec.exclusiveMin ? n.gt(spec.min) : n.min(spec.min);
      if (spec.max !== undefined) n = spec.exclusiveMax ? n.lt(spec.max) : n.max(spec.max);
      return n;
    }
    default:
      return z.string().min(1);
  }
}

const snake = (flag: string) => flag.replaceAll("-", "_");

/**
 * One run's fine-tuning settings: every field is a `deno task finetune` flag (snake_case → --kebab-case) and
 * takes the values that flag takes (derived from its flag table, {@link FINETUNE_CLI}).
 */
export const FinetuneSettingsSchema: z.ZodType<FinetuneSettings> = z.strictObject(
  Object.fromEntries(
    SETTING_FLAGS.map((flag) => [snake(flag), flagValueSchema(FINETUNE_CLI.flags[flag]).optional()]),
  ),
) as unknown as z.ZodType<FinetuneSettings>;

/** Where the runs start from: exactly one of a checkpoint, our weights, ImageNet VGG16, or from scratch. */
export const StartSchema = z.union([
  z.strictObject({ checkpoint: z.string().min(1) }),
  z.strictObject({ weights: z.string().min(1) }),
  z.strictObject({ imagenet: z.string().min(1) }),
  z.strictObject({ from_scratch: z.literal(true) }),
]);
export type Start = z.infer<typeof StartSchema>;

/** `experiments.json`. Paths are relative to the config file's directory. */
export const ExperimentsConfigSchema = z.strictObject({
  /** Prepared dataset.json; or `data` (zip/dir) to prepare first. */
  dataset: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  start: StartSchema,
  /** Also score the starting checkpoint (the original 21-class VOC detector) as the baseline run. */
  baseline: z.boolean().default(false),
  base: FinetuneSettingsSchema.default({}),
  /** One factor at a time: each variant overrides `base`. */
  variants: z.array(
    // a folder name inside --out: no `/`, not `.`/`..`, not hidden
    z.strictObject({ name: z.string().regex(/^[\w+-][\w.+-]*$/), settings: FinetuneSettingsSchema }),
  )
    .default([]),
  /** Full factorial: every combination of the listed values (names are built from the values). */
  grid: z.record(z.string(), z.array(z.union([z.string(), z.number(), z.boolean()])).min(1)).default({}),
  ap: z.strictObject({
    split: z.enum(["train", "test"]).default("test"),
    min_score: z.number().min(0).max(1).default(0.01),
    max_overlap: z.number().min(0).max(1).default(0.45),
    top_k: z.number().int().positive().default(200),
  }).default({ split: "test", min_score: 0.01, max_overlap: 0.45, top_k: 200 }),
}).refine((c) => (c.dataset === undefined) !== (c.data === undefined), {
  message:
    "give exactly one of `dataset` (a prepared dataset.json) or `data` (a zip or directory to prepare)",
});
export type ExperimentsConfig = z.infer<typeof ExperimentsConfigSchema>;

/** A planned run: its directory name and full settings (base merged with the variant / grid point). */
export interface PlannedRun {
  name: string;
  settings: FinetuneSettings;
}

/** Thrown when a config's grid names an unknown setting or a value of the wrong type. */
export class ExperimentsConfigError extends InputError {
  override name = "ExperimentsConfigError";
}

function cartesian(grid: Record<string, readonly (string | number | boolean)[]>): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(grid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

function valueLabel(key: string, value: unknown): string {
  if (typeof value === "boolean") return value ? key : `no-${key}`;
  return `${key}=${String(value)}`;
}

/**
 * Expands a config into runs: the variants in order, then every grid point (names `key=value,…`), deduplicated
 * by name. Pure; does not mutate `config`. Validates each merged setting against {@link FinetuneSettingsSchema}.
 */
export function planRuns(config: ExperimentsConfig): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const seen = new Set<string>();
  const add = (name: string, overrides: Record<string, unknown>) => {
    if (seen.has(name)) throw new ExperimentsConfigError(`two runs are named ${JSON.stringify(name)}`);
    const parsed = FinetuneSettingsSchema.safeParse({ ...config.base, ...overrides });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ExperimentsConfigError(
        `run ${name}: setting ${issue.path.join(".") || "(root)"}: ${issue.message}`,
      );
    }
    seen.add(name);
    runs.push({ name, settings: parsed.data });
  };
  for (const v of config.variants) add(v.name, v.settings);
  if (Object.keys(config.grid).length > 0) {
    for (const point of cartesian(config.grid)) {
      add(Object.entries(point).map(([k, v]) => valueLabel(k, v)).join(","), point);
    }
  }
  if (runs.length === 0) add("base", {});
  return runs;
}

/**
 * `deno task finetune` flags for a run's settings (without --dataset/--out and the start flag), by the flag
 * table: a value flag as `--name value`; a switch as `--name` when true (omitted when that is its default) and
 * `--no-name` when false.
 */
export function finetuneFlags(settings: FinetuneSettings): string[] {
  const flags: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    const flag = key.replaceAll("_", "-") as keyof typeof FINETUNE_CLI.flags;
    const spec: FlagSpec | undefined = FINETUNE_CLI.flags[flag];
    if (!spec || !(SETTING_FLAGS as readonly string[]).includes(flag)) {
      throw new ExperimentsConfigError(`setting ${key} is not a deno task finetune flag`);
    }
    if (spec.kind !== "boolean") flags.push(`--${flag}`, String(value));
    else if (!value) flags.push(`--no-${flag}`);
    else if (spec.default !== true) flags.push(`--${flag}`);
  }
  return flags;
}

/** `deno task finetune` flag that selects the starting point. */
export function startFlags(start: Start, resolve: (path: string) => string): string[] {
  if ("checkpoint" in start) return ["--checkpoint", resolve(start.checkpoint)];
  if ("weights" in start) return ["--weights", resolve(start.weights)];
  if ("imagenet" in start) return ["--imagenet", resolve(start.imagenet)];
  return ["--from-scratch"];
}

/** A finished run's measurements for the table (from its ap.json; null when the run failed). */
export interface RunResult {
  name: string;
  settings: FinetuneSettings | null;
  ap50: number | null;
  ap75: number | null;
  ap: number | null;
  ar100: number | null;
  seconds: number | null;
  /** which weights ap scored: `best epoch N` (the run's best/) or `last epoch`; absent in older results */
  evaluated?: string;
  error?: string;
}

const fmt = (x: number | null) => (x === null ? "—" : x.toFixed(4));

/**
 * The comparison table as GitHub markdown: one row per run, sorted as given; the best AP@0.75 in bold; the
 * settings column lists only what differs from `base`.
 */
export function resultsMarkdown(results: readonly RunResult[], base: FinetuneSettings): string {
  const best = Math.max(...results.map((r) => r.ap75 ?? -1));
  const lines = [
    "| run | differs from base | AP@0.5 | AP@0.75 | AP@[.5:.95] | AR@100 | time (s) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    const diff = r.settings
      ? Object.entries(r.settings)
        .filter(([k, v]) => (base as Record<string, unknown>)[k] !== v)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ")
      : "";
    const ap75 = r.ap75 !== null && r.ap75 === best ? `**${fmt(r.ap75)}**` : fmt(r.ap75);
    const time = r.seconds === null ? "—" : r.seconds.toFixed(0);
    const note = r.error
      ? ` (failed: ${r.error.replaceAll("|", "/").slice(0, 80)})`
      : r.evaluated
      ? ` (${r.evaluated})`
      : "";
    lines.push(
      `| ${r.name}${note} | ${diff || "—"} | ${fmt(r.ap50)} | ${ap75} | ${fmt(r.ap)} | ${
        fmt(r.ar100)
      } | ${time} |`,
    );
  }
  return lines.join("\n") + "\n";
}
