/**
 * The scheduler examples under examples/: examples/run-line.sh picks line K of a command file from Slurm's array
 * variables or a Kubernetes Indexed Job's index and runs it; the shell scripts parse; the Kubernetes manifests
 * parse as YAML (with Debian's python3-yaml) and are Indexed Jobs whose JOB_COMPLETIONS equals their completions.
 * No scheduler runs here: what the schedulers provide is the environment, which these tests set.
 */
import assert from "node:assert/strict";
import { PROJECT_ROOT } from "../../tasks/compose/mod.ts";
import { havePythonModule, runPiped, withTempDir } from "../helpers.ts";

/** Debian's python, which has PyYAML (python3-yaml). */
const PYTHON = "/usr/bin/python3";

const EXAMPLES = `${PROJECT_ROOT}examples`;
const RUN_LINE = `${EXAMPLES}/run-line.sh`;

Deno.test("run-line.sh runs line K from SLURM_ARRAY_TASK_ID/MIN/STEP or JOB_COMPLETION_INDEX, with its exit status", () =>
  withTempDir(async (dir) => {
    const file = `${dir}/commands 1.txt`;
    await Deno.writeTextFile(file, ["echo one", "echo 'two words'", "exit 3"].map((l) => `${l}\n`).join(""));
    const run = (env: Record<string, string>, ...k: string[]) =>
      runPiped("bash", [RUN_LINE, file, ...k], { env, clearEnv: true, cwd: "/" });
    const cases: [Record<string, string>, string[], string][] = [
      [{}, ["2"], "two words\n"],
      [{ SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_COUNT: "3" }, [], "one\n"],
      [
        { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_MIN: "4", SLURM_ARRAY_TASK_COUNT: "3" },
        [],
        "two words\n",
      ],
      [{ SLURM_ARRAY_TASK_ID: "0", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_COUNT: "3" }, [], "one\n"],
      [
        { SLURM_ARRAY_TASK_ID: "12", SLURM_ARRAY_TASK_MIN: "10", SLURM_ARRAY_TASK_STEP: "2" },
        [],
        "two words\n",
      ],
      [{ JOB_COMPLETION_INDEX: "0" }, [], "one\n"],
      [{ JOB_COMPLETION_INDEX: "1" }, [], "two words\n"],
    ];
    for (const [env, k, out] of cases) {
      const r = await run(env, ...k);
      assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.equal(r.stdout, out, JSON.stringify(env));
    }
    assert.equal((await run({ JOB_COMPLETION_INDEX: "2" })).code, 3, "the line's exit status");
    const beyond = await run({ JOB_COMPLETION_INDEX: "3" });
    assert.equal(beyond.code, 2);
    assert.match(beyond.stderr, /has no line 4 \(3 lines\)/);
    assert.match((await run({})).stderr, /give K, or run in a Slurm array task/);
  }));

Deno.test("the example shell scripts parse", async () => {
  for (
    const script of [
      "run-line.sh",
      "parallel/grid.sh",
      "slurm/grid.sh",
      "slurm/line.sbatch",
      "slurm/detect.sbatch",
    ]
  ) {
    const r = await runPiped("bash", ["-n", `${EXAMPLES}/${script}`]);
    assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  }
});

Deno.test({
  name: "the Kubernetes examples are Indexed Jobs; detect.yaml's JOB_COMPLETIONS equals its completions",
  ignore: !havePythonModule("yaml") && !Deno.env.get("CI"),
  async fn() {
    const load = async (file: string, subs: Record<string, string> = {}) => {
      let text = await Deno.readTextFile(`${EXAMPLES}/kubernetes/${file}`);
      for (const [k, v] of Object.entries(subs)) text = text.replaceAll(k, v);
      const tmp = await Deno.makeTempFile({ suffix: ".yaml" });
      try {
        await Deno.writeTextFile(tmp, text);
        const out = await runPiped(PYTHON, [
          "-c",
          "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
          tmp,
        ]);
        assert.equal(out.code, 0, out.stderr);
        return JSON.parse(out.stdout);
      } finally {
        await Deno.remove(tmp);
      }
    };
    const level = await load("grid-level.yaml", { "@LEVEL@": "2", "@COUNT@": "3" });
    assert.equal(level.kind, "Job");
    assert.equal(level.spec.completionMode, "Indexed");
    assert.equal(level.spec.completions, 3);
    const container = level.spec.template.spec.containers[0];
    assert.deepEqual(container.command, ["bash", "/app/examples/run-line.sh", "/shared/grid/commands-2.txt"]);
    const detect = await load("detect.yaml");
    assert.equal(detect.spec.completionMode, "Indexed");
    const env = detect.spec.template.spec.containers[0].env;
    assert.deepEqual(env, [{ name: "JOB_COMPLETIONS", value: String(detect.spec.completions) }]);
    assert.match(detect.spec.template.spec.containers[0].args[0], /--shard auto/);
  },
});
