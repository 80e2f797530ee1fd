/**
 * The command-line contract of every task, through `deno task` as a user runs it (issue 10): `--help` on stdout
 * with exit 0; a bad command line in at most 3 lines on stderr with exit 2; a known input problem (a corrupt
 * dataset.json, a missing checkpoint, …) as a clean message with exit 1 — no "Uncaught", no stack trace, unless
 * `--debug` or SSD_DEBUG=1.
 */
import assert from "node:assert/strict";
import { buildDataset, openDirectorySource, writeDataset } from "../../lib/data/mod.ts";
import { call, denoTask, dict, FIXTURE_DIR, flagArgs, pickle, str, zipCheckpoint } from "../helpers.ts";

const TASKS = [
  ...["prepare", "detect", "finetune", "ap", "report", "demo", "experiments", "bench", "fixtures"],
  ...["export", "serve"],
];

const task = denoTask;

const STACK_LINE = /^\s+at /m;

/** Exit 1 with a clean message that starts with the task name and matches `pattern`. */
function assertCleanFailure(name: string, r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(!r.stderr.includes("Uncaught"), r.stderr);
  assert.ok(!STACK_LINE.test(r.stderr), `stack trace in:\n${r.stderr}`);
  const message = r.stderr.slice(r.stderr.lastIndexOf(`\n${name}: `) + 1); // after the task's own progress
  assert.ok(message.startsWith(`${name}: `), r.stderr);
  assert.match(message, pattern, r.stderr);
}

for (const name of TASKS) {
  Deno.test(`deno task ${name} --help prints the usage and one line per flag on stdout, exit 0`, async () => {
    const r = await task(name, ["--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.ok(r.stdout.startsWith(`usage: deno task ${name}`), r.stdout);
    const flagLines = r.stdout.slice(r.stdout.indexOf("\nflags:\n") + 8).trimEnd().split("\n");
    assert.ok(flagLines.every((l) => /^ {2}-/.test(l)), r.stdout);
    assert.ok(flagLines.some((l) => l.includes("-h, --help")));
    assert.deepEqual((await task(name, ["-h"])).stdout, r.stdout);
  });

  Deno.test(`deno task ${name} with an unknown flag exits 2 with at most 3 lines on stderr`, async () => {
    const r = await task(name, ["--bogus-flag", "1"]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.ok(lines.length <= 3, r.stderr);
    assert.equal(lines[0], `${name}: unknown flag --bogus-flag`);
    assert.equal(lines.at(-1), `see deno task ${name} --help`);
    assert.equal(r.stdout, "");
  });
}

Deno.test("a near miss gets a suggestion; bad values are refused before any work, exit 2", async () => {
  const cases: [string, string[], RegExp][] = [
    ["finetune", ["--epoch", "3"], /^finetune: unknown flag --epoch \(did you mean --epochs\?\)$/],
    ["detect", ["--top-k", "-5"], /^detect: --top-k: expected an integer ≥ 1, got -5$/],
    ["ap", ["--dataset", "d.json", "--weights", "w.json", "--out", "o", "--top-k", "-5"], /--top-k/],
    [
      "finetune",
      ["--dataset", "d", "--out", "o", "--from-scratch", "--lr", "abc"],
      /--lr: expected a number > 0/,
    ],
    [
      "prepare",
      ["--out", "o", "--test-size", "500", "--data", FIXTURE_DIR],
      /--test-size 500: .* has 12 images/,
    ],
    ["bench", ["--batch-size", "0"], /^bench: --batch-size: expected an integer ≥ 1, got 0$/],
  ];
  for (const [name, args, pattern] of cases) {
    const r = await task(name, args);
    assert.equal(r.code, 2, `${name} ${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split("\n");
    assert.ok(lines.length <= 3, r.stderr);
    assert.match(lines[0], pattern);
  }
});

Deno.test("a corrupt dataset.json or a missing checkpoint exits 1 with a clean message, for every task taking one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    const bad = `${dir}/dataset.json`;
    await Deno.writeTextFile(bad, '{"version": 1, "images": [');
    await Deno.writeTextFile(`${dir}/w.json`, "{}");
    const missing = `${dir}/missing.pth`;
    let nConfigs = 0;
    const experiments = async (config: object) => {
      const file = `${dir}/exp${++nConfigs}.json`;
      await Deno.writeTextFile(file, JSON.stringify(config));
      return ["--config", file, "--out", `${dir}/exp`];
    };
    const cases: [string, string[], RegExp][] = [
      [
        "finetune",
        ["--dataset", bad, "--from-scratch", "--out", `${dir}/ft`],
        /dataset\.json: not valid JSON/,
      ],
      [
        "finetune",
        ["--dataset", bad, "--checkpoint", missing, "--out", `${dir}/ft`],
        /--checkpoint .*missing\.pth: no such file/,
      ],
      [
        "ap",
        ["--dataset", bad, "--weights", `${dir}/w.json`, "--out", `${dir}/ap`],
        /dataset\.json: not valid JSON/,
      ],
      [
        "ap",
        ["--dataset", bad, "--checkpoint", missing, "--out", `${dir}/ap`],
        /--checkpoint .*missing\.pth: no such file/,
      ],
      [
        "report",
        ["--runs", dir, "--dataset", bad, "--out", `${dir}/r.html`],
        /dataset\.json: not valid JSON/,
      ],
      [
        "experiments",
        await experiments({ dataset: bad, start: { from_scratch: true } }),
        /dataset\.json: not valid JSON/,
      ],
      [
        "detect",
        flagArgs({ checkpoint: missing, image: bad, out: `${dir}/a.png`, json: `${dir}/a.json` }),
        /--checkpoint .*no such file/,
      ],
      [
        "demo",
        ["--checkpoint", missing, "--out", `${dir}/demo`],
        /--checkpoint .*missing\.pth: no such file/,
      ],
      ["prepare", ["--data", bad, "--out", `${dir}/p`], /not a zip archive/],
      ["export", ["--checkpoint", missing, "--out", `${dir}/export`], /missing\.pth/],
    ];
    const expMissing = await experiments({ dataset: `${dir}/w.json`, start: { checkpoint: missing } });
    cases.push(["experiments", expMissing, /start\.checkpoint .*missing\.pth: no such file/]);
    for (const [name, args, pattern] of cases) assertCleanFailure(name, await task(name, args), pattern);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--debug and SSD_DEBUG=1 add the stack trace to a known error", async () => {
  const args = ["--dataset", "/nonexistent/dataset.json", "--from-scratch", "--out", "/tmp/x"];
  for (const [extra, env] of [[["--debug"], {}], [[], { SSD_DEBUG: "1" }]] as const) {
    const r = await task("finetune", [...args, ...extra], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^finetune: --dataset \/nonexistent\/dataset\.json: no such file or directory\n/);
    assert.ok(STACK_LINE.test(r.stderr), r.stderr);
  }
});

Deno.test("--trust-checkpoint reaches the checkpoint reader of detect, ap and finetune", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_trust_" });
  try {
    // a state_dict with a payload that would call posix.system under torch.load
    const evil = `${dir}/evil.pth`;
    await Deno.writeFile(
      evil,
      zipCheckpoint(pickle(dict(str("x"), call("posix", "system", str("echo hi"))))),
    );
    const dataset = buildDataset(await openDirectorySource(FIXTURE_DIR), {
      origin: { path: FIXTURE_DIR, sha256: null },
      seed: 0,
    });
    await writeDataset(`${dir}/dataset.json`, dataset);
    const runs: [string, string[]][] = [
      ["detect", [
        "--image",
        `${FIXTURE_DIR}/PNGImages/FudanPed00001.png`,
        "--out",
        `${dir}/a.png`,
        "--json",
        `${dir}/a.json`,
      ]],
      ["ap", ["--dataset", `${dir}/dataset.json`, "--out", `${dir}/ap`]],
      ["finetune", ["--dataset", `${dir}/dataset.json`, "--out", `${dir}/ft`, "--epochs", "1"]],
    ];
    for (const [name, args] of runs) {
      const refused = await task(name, [...args, "--checkpoint", evil, "--backend", "wasm"]);
      assertCleanFailure(name, refused, /refusing to load .*evil\.pth: its pickle calls posix\.system/);
      const trusted = await task(name, [
        ...args,
        "--checkpoint",
        evil,
        "--backend",
        "wasm",
        "--trust-checkpoint",
      ]);
      assertCleanFailure(name, trusted, /evil\.pth: no tensors found/); // read past the refusal
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
