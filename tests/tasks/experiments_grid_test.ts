import assert from "node:assert/strict";
import {
  ExperimentsConfigError,
  ExperimentsConfigSchema,
  FINETUNE_CLI,
  finetuneFlags,
  FinetuneSettingsSchema,
  parseFinetuneArgs,
  planRuns,
  resultsMarkdown,
  startFlags,
} from "../../tasks/compose/mod.ts";
import { FIXTURES_ROOT } from "../helpers.ts";

const parse = (value: unknown) => ExperimentsConfigSchema.parse(value);

Deno.test("planRuns() merges each variant over base, in order", () => {
  const config = parse({
    dataset: "d.json",
    start: { from_scratch: true },
    base: { epochs: 2, lr: 0.001, optimizer: "sgd" },
    variants: [{ name: "a", settings: {} }, { name: "adam", settings: { optimizer: "adam", lr: 1e-4 } }],
  });
  assert.deepEqual(planRuns(config), [
    { name: "a", settings: { epochs: 2, lr: 0.001, optimizer: "sgd" } },
    { name: "adam", settings: { epochs: 2, lr: 1e-4, optimizer: "adam" } },
  ]);
});

Deno.test("planRuns() expands a grid into its full factorial with readable names", () => {
  const config = parse({
    dataset: "d.json",
    start: { from_scratch: true },
    grid: { augment: [false, true], lr: [0.001, 0.01] },
  });
  assert.deepEqual(planRuns(config).map((r) => r.name), [
    "no-augment,lr=0.001",
    "no-augment,lr=0.01",
    "augment,lr=0.001",
    "augment,lr=0.01",
  ]);
  assert.deepEqual(planRuns(config)[3].settings, { augment: true, lr: 0.01 });
});

Deno.test("planRuns() rejects a grid value of the wrong type and duplicate names", () => {
  const bad = parse({
    dataset: "d.json",
    start: { from_scratch: true },
    grid: { optimizer: ["sgd", "lbfgs"] },
  });
  assert.throws(
    () => planRuns(bad),
    (e: unknown) => e instanceof ExperimentsConfigError && /optimizer/.test(`${e}`),
  );
  const dup = parse({
    dataset: "d.json",
    start: { from_scratch: true },
    variants: [{ name: "x", settings: {} }, { name: "x", settings: { lr: 1 } }],
  });
  assert.throws(() => planRuns(dup), /two runs are named "x"/);
});

Deno.test("planRuns() does not mutate its input", () => {
  const config = parse({
    dataset: "d.json",
    start: { from_scratch: true },
    base: { lr: 0.1 },
    grid: { seed: [1, 2] },
  });
  const before = structuredClone(config);
  planRuns(config);
  assert.deepEqual(config, before);
});

Deno.test("ExperimentsConfigSchema requires exactly one of dataset and data", () => {
  assert.throws(() => parse({ start: { from_scratch: true } }));
  assert.throws(() => parse({ dataset: "a", data: "b", start: { from_scratch: true } }));
  assert.throws(() => parse({ dataset: "a", start: { from_scratch: true }, base: { lr: -1 } }));
});

Deno.test("finetuneFlags() maps settings to deno task finetune flags", () => {
  const table: [Record<string, unknown>, string[]][] = [
    [{ batch_size: 4, lr: 0.001 }, ["--batch-size", "4", "--lr", "0.001"]],
    [{ augment: false, shuffle: false }, ["--no-augment", "--no-shuffle"]],
    [{ augment: true, shuffle: true }, ["--augment"]],
    [{ freeze: "base+aux", head_init: "voc-person" }, ["--freeze", "base+aux", "--head-init", "voc-person"]],
    [{ priors: "pedestrian" }, ["--priors", "pedestrian"]],
  ];
  for (const [settings, flags] of table) assert.deepEqual(finetuneFlags(settings), flags);
});

Deno.test("startFlags() resolves paths and picks the start flag", () => {
  const r = (p: string) => `/cfg/${p}`;
  assert.deepEqual(startFlags({ checkpoint: "voc.pth" }, r), ["--checkpoint", "/cfg/voc.pth"]);
  assert.deepEqual(startFlags({ from_scratch: true }, r), ["--from-scratch"]);
});

Deno.test("resultsMarkdown() bolds the best AP@0.75 and lists only settings that differ from base", () => {
  const md = resultsMarkdown([
    { name: "sgd", settings: { lr: 0.001 }, ap50: 0.9, ap75: 0.5, ap: 0.4, ar100: 0.6, seconds: 10 },
    { name: "hi", settings: { lr: 0.01 }, ap50: 0.95, ap75: 0.7, ap: 0.5, ar100: 0.7, seconds: 12 },
    { name: "bad", settings: null, ap50: null, ap75: null, ap: null, ar100: null, seconds: null, error: "x" },
  ], { lr: 0.001 });
  const rows = md.trim().split("\n");
  assert.equal(rows.length, 5);
  assert.match(rows[2], /^\| sgd \| — \| 0\.9000 \| 0\.5000 \|/);
  assert.match(rows[3], /^\| hi \| lr=0\.01 \| 0\.9500 \| \*\*0\.7000\*\* \|/);
  assert.match(rows[4], /bad \(failed: x\).*— \| — \|/);
});

Deno.test("the example experiment configs in fixtures/ are valid and plan their runs", async () => {
  for (const file of ["experiments.fixtures.json", "experiments.pennfudan.json"]) {
    const text = await Deno.readTextFile(`${FIXTURES_ROOT}/${file}`);
    const runs = planRuns(parse(JSON.parse(text)));
    assert.ok(runs.length >= 4, file);
    if (file === "experiments.pennfudan.json") {
      assert.deepEqual(runs.filter((r) => r.settings.priors).map((r) => r.settings.priors), ["pedestrian"]);
    }
  }
  assert.throws(
    () =>
      planRuns(
        parse({
          dataset: "d",
          start: { from_scratch: true },
          variants: [{ name: "a", settings: { priors: "x" } }],
        }),
      ),
    /priors/,
  );
});

Deno.test("FinetuneSettingsSchema takes exactly the values deno task finetune's flags take", () => {
  const ok = (settings: unknown) => FinetuneSettingsSchema.safeParse(settings).success;
  assert.ok(ok({ epochs: 1, lr: 1e-5, val_fraction: 0.95, seed: -3, momentum: 1.5, augment: false }));
  for (
    const bad of [{ epochs: 0 }, { lr: 0 }, { val_fraction: 1 }, { freeze: "all" }, { workers: 2 }, {
      seed: 1.5,
    }]
  ) {
    assert.ok(!ok(bad), JSON.stringify(bad));
  }
  for (const [key, flag] of Object.entries({ batch_size: "batch-size", head_init: "head-init" })) {
    assert.ok(flag in FINETUNE_CLI.flags, key);
  }
  // every setting maps to flags that parse back to the same config
  const settings = {
    batch_size: 4,
    micro_batch: 1,
    optimizer: "adam",
    augment: true,
    shuffle: false,
  } as const;
  const a = parseFinetuneArgs(["--dataset", "d", "--out", "o", "--from-scratch", ...finetuneFlags(settings)]);
  assert.deepEqual(
    [a.config.batchSize, a.config.microBatch, a.config.optimizer, a.config.augment, a.config.shuffle],
    [4, 1, "adam", true, false],
  );
});
