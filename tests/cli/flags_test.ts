import assert from "node:assert/strict";
import {
  type CliSpec,
  closestFlag,
  editDistance,
  formatHelp,
  HelpRequested,
  parseFlags,
  UsageError,
} from "../../lib/cli/mod.ts";

const CLI = {
  task: "demo-task",
  usage: ["--out DIR [flags]"],
  summary: "A task for the tests.",
  exactlyOne: [["weights", "from-scratch"]],
  flags: {
    out: { kind: "string", value: "DIR", required: true, description: "output directory" },
    epochs: { kind: "integer", min: 1, default: 20, description: "training epochs" },
    lr: { kind: "number", min: 0, exclusiveMin: true, default: 1e-3, description: "learning rate" },
    holdout: { kind: "number", min: 0, max: 1, exclusiveMax: true, default: 0.1, description: "held out" },
    "top-k": { kind: "integer", min: 1, default: 200, description: "kept per image" },
    optimizer: { kind: "choice", choices: ["sgd", "adam"], default: "sgd", description: "optimiser" },
    augment: { kind: "boolean", negatable: true, description: "augmentation" },
    shuffle: { kind: "boolean", negatable: true, default: true, description: "reshuffle" },
    quiet: { kind: "boolean", short: "q", description: "no progress" },
    runs: { kind: "list", value: "DIR", description: "run directories" },
    weights: { kind: "string", value: "FILE", description: "start weights" },
    "from-scratch": { kind: "boolean", description: "random start" },
  },
} as const satisfies CliSpec;

const usage = (args: string[]) => {
  try {
    parseFlags(CLI, args);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`no UsageError for ${args.join(" ")}`);
};
const base = ["--out", "o", "--from-scratch"];

Deno.test("parseFlags() reads values in both spellings, defaults, negations, aliases and lists", () => {
  const f = parseFlags(CLI, [
    "--out=o/",
    "--epochs",
    "3",
    "--lr=1e-2",
    "--no-shuffle",
    "-q",
    "--runs",
    "a",
    "--runs=b",
    "--weights",
    "w.json",
  ]);
  assert.equal(f.out, "o/");
  assert.equal(f.epochs, 3);
  assert.equal(f.lr, 0.01);
  assert.equal(f.holdout, 0.1, "default");
  assert.equal(f.optimizer, "sgd");
  assert.equal(f.augment, false, "a switch not given is false");
  assert.equal(f.shuffle, false);
  assert.equal(f.quiet, true);
  assert.deepEqual(f.runs, ["a", "b"]);
  assert.equal(f.weights, "w.json");
  assert.deepEqual([...f.given].sort(), ["epochs", "lr", "out", "quiet", "runs", "shuffle", "weights"]);
  assert.equal(parseFlags(CLI, [...base, "--augment"]).augment, true);
  assert.equal(parseFlags(CLI, base).shuffle, true, "default true");
});

Deno.test("parseFlags() suggests the closest flag for a typo, and none for a stranger", () => {
  assert.equal(usage([...base, "--epoch", "3"]), "unknown flag --epoch (did you mean --epochs?)");
  assert.equal(
    usage([...base, "--optimiser", "sgd"]),
    "unknown flag --optimiser (did you mean --optimizer?)",
  );
  assert.equal(usage([...base, "--bogus"]), "unknown flag --bogus");
  assert.equal(usage([...base, "-x"]), "unknown flag -x");
  assert.equal(closestFlag("epoch", ["epochs", "lr"]), "epochs");
  assert.equal(closestFlag("zzz", ["epochs", "lr"]), undefined);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

Deno.test("parseFlags() rejects malformed and out-of-range values, naming the flag and the value", () => {
  assert.equal(usage([...base, "--top-k", "-5"]), "--top-k: expected an integer ≥ 1, got -5");
  assert.equal(usage([...base, "--epochs", "1.5"]), "--epochs: expected an integer ≥ 1, got 1.5");
  assert.equal(usage([...base, "--lr", "0"]), "--lr: expected a number > 0, got 0");
  assert.equal(usage([...base, "--lr", "abc"]), "--lr: expected a number > 0, got abc");
  assert.equal(usage([...base, "--lr", " "]), "--lr: expected a number > 0, got ' '");
  assert.equal(
    usage([...base, "--holdout", "1"]),
    "--holdout: expected a number ≥ 0 and < 1, got 1",
  );
  assert.equal(
    usage([...base, "--optimizer", "rmsprop"]),
    "--optimizer: expected one of sgd, adam, got 'rmsprop'",
  );
  assert.equal(usage([...base, "--epochs"]), "--epochs: missing value (N)");
  assert.equal(usage(["--from-scratch", "--out"]), "--out: missing value (DIR)");
  assert.equal(
    usage(["--from-scratch", "--out", "--epochs", "3"]),
    "--out: missing value (DIR), got the flag --epochs",
  );
  assert.equal(usage([...base, "--out="]), "--out: expected a value, got an empty string");
  assert.equal(usage([...base, "--augment=yes"]), "--augment takes no value (got 'yes')");
});

Deno.test("parseFlags() checks required flags, exactly-one groups, contradictions and bare arguments", () => {
  assert.equal(usage(["--from-scratch"]), "--out DIR is required");
  assert.equal(usage(["--out", "o"]), "give exactly one of --weights, --from-scratch");
  assert.equal(
    usage(["--out", "o", "--weights", "w", "--from-scratch"]),
    "give exactly one of --weights, --from-scratch",
  );
  assert.equal(
    usage([...base, "--augment", "--no-augment"]),
    "--augment and --no-augment contradict each other",
  );
  assert.equal(usage([...base, "stray"]), "unexpected argument 'stray'");
  assert.equal(parseFlags({ ...CLI, positionals: true }, [...base, "a", "b"]).positionals.join(), "a,b");
  assert.deepEqual(parseFlags({ ...CLI, positionals: true }, [...base, "--", "--x"]).positionals, ["--x"]);
});

Deno.test("parseFlags() answers --help and -h with the help text, before any other check", () => {
  for (const args of [["--help"], ["-h"], ["--bogus", "--help"]]) {
    assert.throws(
      () => parseFlags(CLI, args),
      (e: unknown) => e instanceof HelpRequested && e.text === formatHelp(CLI),
    );
  }
});

Deno.test("formatHelp() shows the synopsis, the summary and one line per flag with its default", () => {
  const lines = formatHelp(CLI).split("\n");
  assert.equal(lines[0], "usage: deno task demo-task --out DIR [flags]");
  assert.ok(lines.includes("A task for the tests."));
  const flagLines = lines.slice(lines.indexOf("flags:") + 1);
  assert.equal(flagLines.length, Object.keys(CLI.flags).length + 2, "one line per flag, --debug and --help");
  const line = (start: string) => flagLines.find((l) => l.trimStart().startsWith(start));
  assert.match(line("--epochs N")!, /training epochs \(default 20\)$/);
  assert.match(line("--out DIR")!, /output directory \(required\)$/);
  assert.match(line("--optimizer sgd|adam")!, /\(default sgd\)$/);
  assert.match(line("--[no-]shuffle")!, /reshuffle \(default true\)$/);
  assert.match(line("--[no-]augment")!, /augmentation$/, "a false default is not shown");
  assert.ok(line("-q, --quiet"));
  assert.match(line("--debug")!, /SSD_DEBUG=1/);
  assert.ok(line("-h, --help"));
});
