/**
 * `deno task experiments` as a plan of jobs: the plan's shape and command lines (pure), and end to end on the
 * fixtures a 2-run grid made with --plan into a folder whose name needs quoting, its command files run by GNU
 * parallel at -j 2 from another folder, collected — the same results.json numbers as the in-process run; then a
 * job killed midway (kill -9 of its process group) is reported missing by --collect and finished by a rerun.
 * Small: 1 epoch from a random initialisation with the base network frozen, batches of 2, 8 train / 4 test images.
 */
import assert from "node:assert/strict";
import {
  buildPlan,
  commandsFileText,
  ExperimentsConfigError,
  ExperimentsConfigSchema,
  planRuns,
  PlanSchema,
  ResultsJsonSchema,
  shellLine,
} from "../../tasks/compose/mod.ts";
import { exists, lockComposedRun, lockRunFolder } from "../../lib/core/mod.ts";
import { denoTask, FIXTURE_DIR, type RunOutput, runPiped, withTempDir } from "../helpers.ts";

Deno.test("shellLine() quotes every word so that a POSIX shell reads it back unchanged", async () => {
  const words = [
    "plain/path-1.json",
    "with space",
    "it's",
    'say "hi"',
    "$HOME",
    "*",
    "a\\b",
    "",
    "é ü",
    "--x=1",
  ];
  const r = await runPiped("/bin/sh", ["-c", `printf '%s\\n' ${shellLine(words)}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\n").slice(0, -1), words);
  assert.equal(shellLine(["deno", "task", "ap", "--out", "/a/b"]), "deno task ap --out /a/b");
});

const config = (extra: Record<string, unknown>) =>
  ExperimentsConfigSchema.parse({
    start: { checkpoint: "voc.pth" },
    base: { epochs: 2, lr: 0.001 },
    variants: [{ name: "sgd", settings: {} }, { name: "adam", settings: { optimizer: "adam" } }],
    ...extra,
  });

const planOf = (c: ReturnType<typeof config>, out = "/runs/my grid") =>
  buildPlan({
    config: c,
    configPath: "/cfg/experiments.json",
    runs: planRuns(c),
    resolve: (p) => `/cfg/${p}`,
    out,
    projectRoot: "/repo",
    stageFlags: ["--max-pixels", "100"],
    prepareFlags: ["--max-pixels", "100"],
  });

Deno.test("buildPlan() puts prepare first, then the original and one job per run, each with its command line", () => {
  const plan = PlanSchema.parse(planOf(config({ data: "PennFudanPed.zip", baseline: true })));
  assert.deepEqual(plan.jobs.map((j) => [j.name, j.kind, j.level, j.depends_on]), [
    ["prepare", "prepare", 1, []],
    ["original", "original", 2, ["prepare"]],
    ["sgd", "run", 2, ["prepare"]],
    ["adam", "run", 2, ["prepare"]],
  ]);
  assert.deepEqual(plan.levels, [
    { level: 1, file: "commands-1.txt", jobs: ["prepare"] },
    { level: 2, file: "commands-2.txt", jobs: ["original", "sgd", "adam"] },
  ]);
  assert.equal(
    commandsFileText(plan, 1),
    "cd /repo && deno task experiments --plan '/runs/my grid' --job prepare\n",
  );
  assert.equal(commandsFileText(plan, 2).split("\n").length, 4);
  const adam = plan.jobs.find((j) => j.name === "adam")!;
  assert.deepEqual(adam.steps.map((s) => s.task), ["finetune", "ap"]);
  assert.deepEqual(adam.steps[0].args, [
    ...[
      "--dataset",
      "/runs/my grid/dataset.json",
      "--checkpoint",
      "/cfg/voc.pth",
      "--out",
      "/runs/my grid/adam",
    ],
    ...["--epochs", "2", "--lr", "0.001", "--optimizer", "adam", "--max-pixels", "100"],
  ]);
  assert.equal(adam.shell[1].slice(0, 48), "deno task ap --dataset '/runs/my grid/dataset.js");
  assert.equal(adam.output, "/runs/my grid/adam/ap.json");
  assert.equal(plan.collect, "cd /repo && deno task experiments --collect '/runs/my grid'");
  // a prepared dataset: no prepare job, one level; no baseline: no original
  const flat = planOf(config({ dataset: "d/dataset.json" }));
  assert.deepEqual(flat.jobs.map((j) => [j.name, j.level, j.depends_on]), [["sgd", 1, []], ["adam", 1, []]]);
  assert.equal(flat.dataset, "/cfg/d/dataset.json");
});

Deno.test("buildPlan() refuses a run named as a shared job, and a path a command file cannot hold", () => {
  const clash = config({ dataset: "d.json", variants: [{ name: "original", settings: {} }] });
  assert.throws(() => planOf(clash), (e) => e instanceof ExperimentsConfigError && /"original"/.test(`${e}`));
  assert.throws(() => planOf(config({ dataset: "d.json" }), "/runs/a\nb"), /line break/);
});

/** GNU parallel (not moreutils' `parallel`, which reads no command lines from stdin) is installed. */
function haveParallel(): boolean {
  try {
    const out = new Deno.Command("parallel", { args: ["--version"], stdout: "piped", stderr: "null" })
      .outputSync();
    return out.success && new TextDecoder().decode(out.stdout).startsWith("GNU parallel");
  } catch {
    return false;
  }
}

/** GNU parallel over one command file, run from `/` (the lines carry their own `cd`). */
const parallel = (file: string): Promise<RunOutput> =>
  runPiped("bash", ["-c", 'parallel -j 2 < "$1"', "parallel", file], { cwd: "/" });

type Results = ReturnType<typeof ResultsJsonSchema.parse>;
const readResults = async (dir: string): Promise<Results> =>
  ResultsJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/results.json`)));
/** What must not depend on how the grid ran (seconds do). */
const numbers = (r: Results) =>
  r.map(({ name, settings, ap50, ap75, ap, ar100, evaluated, status }) => ({
    name,
    settings,
    ap50,
    ap75,
    ap,
    ar100,
    evaluated,
    status,
  }));

/** Starts one command line in its own process group, waits for the finetune step's engine line, kills the group. */
async function killMidway(line: string): Promise<string> {
  const child = new Deno.Command("bash", {
    args: ["-c", line],
    cwd: "/",
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let seen = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (!/\$ deno task finetune[\s\S]*\nengine: /.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the job ended before training started:\n${seen}`);
      seen += value;
    }
    Deno.kill(-child.pid, "SIGKILL"); // the whole group: bash, deno task experiments, deno task finetune
  } finally {
    for (let r = await reader.read(); !r.done; r = await reader.read()) seen += r.value;
  }
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", seen);
  return seen;
}

Deno.test({
  name:
    "experiments --plan run by GNU parallel -j 2 and --collect equals the in-process run; a killed job is missing, then finished by a rerun",
  ignore: !haveParallel() && !Deno.env.get("CI"),
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      const grid = {
        data: FIXTURE_DIR,
        start: { from_scratch: true },
        base: {
          epochs: 1,
          batch_size: 2,
          lr: 0.001,
          optimizer: "sgd",
          schedule: "constant",
          augment: false,
          val_fraction: 0,
          seed: 0,
          freeze: "base",
        },
        variants: [{ name: "sgd", settings: {} }, {
          name: "adam",
          settings: { optimizer: "adam", lr: 0.0001 },
        }],
      };
      await Deno.writeTextFile(`${dir}/grid.json`, JSON.stringify(grid));
      const inProcess = `${dir}/in-process`;
      const local = await denoTask("experiments", ["--config", `${dir}/grid.json`, "--out", inProcess]);
      assert.equal(local.code, 0, local.stderr);
      const expected = numbers(await readResults(inProcess));
      assert.ok(
        expected.some((r) => (r.ap50 ?? 0) > 0),
        "some run scores above 0, so that equality says something",
      );

      const planDir = `${dir}/it's a "plan"`;
      const made = await denoTask("experiments", ["--config", `${dir}/grid.json`, "--plan", planDir]);
      assert.equal(made.code, 0, made.stderr);
      const unknown = await denoTask("experiments", ["--plan", planDir, "--job", "nope"]);
      assert.equal(unknown.code, 2, unknown.stderr);
      assert.match(unknown.stderr, /--job nope: no such job in .*\(jobs: prepare, sgd, adam\)/);
      const levels = ["commands-1.txt", "commands-2.txt"].map((f) => `${planDir}/${f}`);
      assert.deepEqual(
        (await Deno.readTextFile(levels[1])).trimEnd().split("\n").map((l) => l.split(" --job ")[1]),
        ["sgd", "adam"],
      );
      for (const file of levels) {
        const r = await parallel(file);
        assert.equal(r.code, 0, `${file}\n${r.stderr}`);
      }
      const collected = await denoTask("experiments", ["--collect", planDir]);
      assert.equal(collected.code, 0, collected.stderr);
      assert.deepEqual(numbers(await readResults(planDir)), expected);
      assert.ok((await Deno.stat(`${planDir}/report.html`)).isFile);
      assert.ok((await readResults(planDir)).every((r) => r.seconds !== null && r.seconds > 0));

      // kill the adam job midway: --collect names it missing
      await Deno.remove(`${planDir}/jobs/adam`, { recursive: true });
      await Deno.remove(`${planDir}/adam`, { recursive: true });
      const adamLine = (await Deno.readTextFile(levels[1])).split("\n").find((l) =>
        l.endsWith("--job adam")
      )!;
      await killMidway(adamLine);
      const record = JSON.parse(await Deno.readTextFile(`${planDir}/jobs/adam/job.json`));
      assert.equal(record.status, "running");
      const partial = await denoTask("experiments", ["--collect", planDir]);
      assert.equal(partial.code, 1, partial.stderr);
      assert.match(
        partial.stderr,
        /1 of 3 jobs not done: adam \(missing: started on .*no end recorded: killed \(its lock is free\)/,
      );
      const afterKill = await readResults(planDir);
      assert.deepEqual(afterKill.map((r) => [r.name, r.status, r.ap75 === null]), [
        ["sgd", "done", false],
        ["adam", "missing", true],
      ]);
      assert.match(await Deno.readTextFile(`${planDir}/results.md`), /\| adam \(missing: started on /);

      // rerunning the level skips the finished job and finishes the killed one
      const rerun = await parallel(levels[1]);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.match(rerun.stderr, /job sgd has finished .*; skipped/);
      const final = await denoTask("experiments", ["--collect", planDir]);
      assert.equal(final.code, 0, final.stderr);
      assert.deepEqual(numbers(await readResults(planDir)), expected);
    }, "experiments_plan_test_"),
});

Deno.test("experiments refuses mixed modes and a job of no plan, exit 2 or 1 with one message", async () => {
  const cases: [string[], number, RegExp][] = [
    [[], 2, /give --config FILE with --out DIR \(run\) or --plan DIR/],
    [["--config", "c.json"], 2, /exactly one of --out DIR .* or --plan DIR/],
    [["--config", "c.json", "--plan", "p", "--jobs", "2"], 2, /--jobs does not go with --plan DIR/],
    [["--job", "x"], 2, /--job NAME needs --plan DIR/],
    [["--plan", "p", "--job", "x", "--workers", "1"], 2, /--workers does not go with --job/],
    [["--collect", "d", "--config", "c.json"], 2, /--config does not go with --collect/],
    [["--collect", "/nonexistent/grid"], 1, /\/nonexistent\/grid: no plan\.json here; make one with/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await denoTask("experiments", args);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

Deno.test("a job runs once at a time, --collect tells a running job from a killed one, and one grid writes a plan folder", () =>
  withTempDir(async (dir) => {
    const grid = {
      data: FIXTURE_DIR,
      start: { from_scratch: true },
      variants: [{ name: "sgd", settings: {} }],
    };
    await Deno.writeTextFile(`${dir}/grid.json`, JSON.stringify(grid));
    const planDir = `${dir}/plan`;
    const made = await denoTask("experiments", ["--config", `${dir}/grid.json`, "--plan", planDir]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(
      await exists(`${planDir}/.ssd300`),
      false,
      "plan.json and the command files committed, lock released",
    );
    {
      // the job is running in another process: it holds its record folder's lock, its record says running
      await using _job = await lockRunFolder(`${planDir}/jobs/sgd`, "experiments --job sgd");
      const record = {
        job: "sgd",
        status: "running",
        host: "h",
        pid: 1,
        started: "2026-01-01T00:00:00Z",
        steps: [],
      };
      await Deno.writeTextFile(`${planDir}/jobs/sgd/job.json`, JSON.stringify(record));
      const twice = await denoTask("experiments", ["--plan", planDir, "--job", "sgd"]);
      assert.equal(twice.code, 1, twice.stderr);
      assert.match(
        twice.stderr,
        /jobs\/sgd: another task is writing this folder: experiments --job sgd \(pid \d+/,
      );
      const running = await denoTask("experiments", ["--collect", planDir]);
      assert.equal(running.code, 1, running.stderr);
      assert.match(
        running.stderr,
        /2 of 2 jobs not done: prepare \(missing: not run\); sgd \(missing: started on h .*still running \(it holds its lock\)\)/,
      );
    }
    const killed = await denoTask("experiments", ["--collect", planDir]);
    assert.equal(killed.code, 1, killed.stderr);
    assert.match(
      killed.stderr,
      /sgd \(missing: started on h .*no end recorded: killed \(its lock is free\)\)/,
    );
    // a grid running into the folder holds its composition lock: a second plan or local run into it exits 1
    await using _grid = await lockComposedRun(planDir, "experiments");
    for (const mode of ["--plan", "--out"]) {
      const second = await denoTask("experiments", ["--config", `${dir}/grid.json`, mode, planDir]);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, /plan: another task is writing this folder: experiments \(pid \d+/);
    }
  }, "experiments_plan_locks_test_"));
