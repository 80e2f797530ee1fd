/**
 * The writers' guarantees through the real tasks, each run as its own process with the permissions deno.json gives
 * it (issue 20, lib/core/run_folder.ts, lib/core/paths.ts, lib/core/io_errors.ts): outputs stay inside --out
 * (hostile list-file lines, shared names), one writer per run folder (two real finetune processes), all-or-nothing
 * sets (kill -9 mid-write; the next run recovers), and known I/O failures (a real full tmpfs, a read-only one, a
 * real permission refusal) as one line naming the path, exit 1, no stack trace.
 *
 * Mounting needs root (CAP_SYS_ADMIN): without it the disk tests are skipped with a warning (also under CI: a
 * container may forbid mounts); tests/cli/run_test.ts classifies the same failures without a mount.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { initBackend } from "../../lib/engine/backend.ts";
import { saveWeights } from "../../lib/interop/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { writeDataset } from "../../lib/data/mod.ts";
import { encodeJpeg } from "../../lib/image/mod.ts";
import { decodeImage } from "../../lib/image/codec.ts";
import { ImagesJsonSchema } from "../../lib/evaluation/mod.ts";
import { decodeResumeState } from "../../lib/train/mod.ts";
import { PROJECT_ROOT } from "../../tasks/compose/mod.ts";
import {
  fakeRun,
  FIXTURE_DIR,
  fixtureFolderDataset,
  flagArgs,
  pathExists,
  type RunOutput,
  runPiped,
  withTempDir,
} from "../helpers.ts";

await initBackend("wasm", null);

const STACK_LINE = /^\s+at /m;
const TASKS: Record<string, string> = JSON.parse(
  await Deno.readTextFile(`${PROJECT_ROOT}deno.json`),
).tasks;

/** `deno run <the task's own permission flags> tasks/<name>.ts`, as `deno task <name>` runs it. */
function taskCommand(name: string, args: string[]): string[] {
  const words = TASKS[name].split(/\s+/);
  assert.equal(words[0], "deno");
  return [...words.slice(1).map((w) => (w.startsWith("tasks/") ? `${PROJECT_ROOT}${w}` : w)), ...args];
}

/** Starts task `name` as a process (its pid is the lock holder's). */
function spawnTask(name: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: taskCommand(name, args),
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs task `name` to its end (see {@link spawnTask}), under the command `prefix` when given (e.g. setpriv). */
async function runTask(name: string, args: string[], prefix: string[] = []): Promise<RunOutput> {
  const command = [...prefix, Deno.execPath(), ...taskCommand(name, args)];
  return await runPiped(command[0], command.slice(1), {
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  });
}

/** The text of `path`, or "" when it cannot be read (yet). */
const textOf = (path: string) => {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
};
const exists = pathExists;

const decoded = async (child: Deno.ChildProcess): Promise<RunOutput> => {
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
};

/** Every file below `dir` (relative paths, sorted), symlinks as files. */
function filesBelow(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(dir, rel))) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...filesBelow(dir, child));
    else out.push(child);
  }
  return out.sort();
}

/** Path → bytes of every file below `dir`. */
function snapshot(dir: string): Map<string, string> {
  return new Map(
    filesBelow(dir).map((f) => [f, new TextDecoder("latin1").decode(Deno.readFileSync(join(dir, f)))]),
  );
}

/** Waits until `ready()` holds (polling every few ms); kills `child` and fails after `timeoutMs`. */
async function until(ready: () => boolean, child: Deno.ChildProcess, what: string, timeoutMs = 300_000) {
  const t0 = Date.now();
  while (!ready()) {
    if (Date.now() - t0 > timeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 3));
  }
}

const count = (dir: string) => {
  try {
    return filesBelow(dir).length;
  } catch {
    return 0;
  }
};

/** A known failure: exit 1, one `<task>: <path>…` line naming `path`, no stack trace. */
function assertKnown(r: RunOutput, task: string, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(!STACK_LINE.test(r.stderr), r.stderr);
  assert.ok(!/internal error/.test(r.stderr), r.stderr);
  assert.match(r.stderr, new RegExp(`^${task}: ${message.source}`, "m"));
}

/** A COCO instances file over copies of fixture images: `n` folders d00… holding `a.png` each (one base name). */
async function cocoWithSharedNames(dir: string, n: number): Promise<string[]> {
  const sizes: [number, number][] = [[128, 125], [156, 157], [122, 122]];
  const images = [], annotations = [];
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    const folder = `d${String(i).padStart(2, "0")}`;
    await Deno.mkdir(`${dir}/images/${folder}`, { recursive: true });
    await Deno.copyFile(`${FIXTURE_DIR}/PNGImages/FudanPed0000${k + 1}.png`, `${dir}/images/${folder}/a.png`);
    const [width, height] = sizes[k];
    images.push({ id: i + 1, file_name: `${folder}/a.png`, width, height });
    annotations.push({ id: i + 1, image_id: i + 1, category_id: 1, bbox: [10, 10, 40, 60], iscrowd: 0 });
  }
  const gt = { images, annotations, categories: [{ id: 1, name: "figure" }] };
  await Deno.writeTextFile(`${dir}/instances.json`, JSON.stringify(gt));
  return ["--data", `${dir}/instances.json`, "--images", `${dir}/images`, "-q"];
}

/** A seeded 2-class model's weights.json (+ .bin) in `dir`. */
async function smallModel(dir: string): Promise<string> {
  const model = { ...createSsd300(2, 9), classNames: ["background", "figure"] };
  await saveWeights(`${dir}/w.json`, model);
  disposeModel(model);
  return `${dir}/w.json`;
}

// --- 1. outputs stay inside --out --------------------------------------------------------------------------

Deno.test("detect --images keeps annotated copies inside --out: `..` and absolute list lines, shared names, inputs inside --out", async () => {
  await withTempDir(async (dir) => {
    const png = (k: number) => Deno.readFileSync(`${FIXTURE_DIR}/PNGImages/FudanPed0000${k}.png`);
    // the user's own photo, which `annotated/a/../../../photos/p.jpg` joined to --out used to overwrite
    await Deno.mkdir(`${dir}/photos`);
    const photo = encodeJpeg(decodeImage(png(1)));
    await Deno.writeFile(`${dir}/photos/p.jpg`, photo);
    await Deno.mkdir(`${dir}/l1/l2/x`, { recursive: true });
    await Deno.mkdir(`${dir}/l1/l2/y`, { recursive: true });
    await Deno.writeFile(`${dir}/l1/l2/x/q.png`, png(2));
    await Deno.writeFile(`${dir}/l1/l2/y/q.png`, png(3));
    await Deno.writeFile(`${dir}/l1/l2/q.png`, png(2));
    await Deno.writeFile(`${dir}/l1/l2/Q.jpg`, encodeJpeg(decodeImage(png(3))));
    // a file of the user's inside --out, at the name an input's annotated copy would get
    await Deno.mkdir(`${dir}/run/annotated`, { recursive: true });
    await Deno.writeFile(`${dir}/run/annotated/q.jpg`, photo);
    const lines = [
      "a/../../../photos/p.jpg", // leaves the list's folder, and --out's annotated/ the old way
      `${dir}/l1/l2/x/q.png`, // absolute
      "y/q.png",
      "q.png", // → annotated/q.jpg: taken by the user's file inside --out
      "Q.jpg", // the same name but for letter case
      "../../run/annotated/q.jpg", // an input inside --out
    ];
    await Deno.writeTextFile(`${dir}/l1/l2/list.txt`, lines.join("\n") + "\n");
    const before = snapshot(dir);
    const weights = await smallModel(`${dir}/model`);
    const r = await runTask("detect", [
      ...["--weights", weights, "--images", `${dir}/l1/l2/list.txt`, "--out", `${dir}/run`],
      ...["--backend", "wasm", "--batch-size", "3"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const after = snapshot(dir);
    for (const [file, bytes] of before) assert.equal(after.get(file), bytes, `${file} changed`);
    const created = [...after.keys()].filter((f) => !before.has(f) && !f.startsWith("model/"));
    assert.equal(created.length, lines.length + 3, created.join("\n")); // + images.json, detections, outputs.json
    assert.ok(created.every((f) => f.startsWith("run/")), created.join("\n"));
    const info = ImagesJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/run/images.json`)));
    assert.deepEqual(info.images.map((im) => im.annotated), [
      "annotated/a/photos/p.jpg",
      `annotated/${relative("/", dir)}/l1/l2/x/q.jpg`,
      "annotated/y/q.jpg",
      "annotated/q-2.jpg",
      "annotated/Q-3.jpg",
      "annotated/run/annotated/q.jpg",
    ]);
    for (const im of info.images) assert.ok(after.has(`run/${im.annotated}`), im.annotated);
    assert.deepEqual(filesBelow(`${dir}/run/.ssd300`), ["outputs.json"]);
  });
});

Deno.test("prepare writes one preview per image when COCO images share a base name or are inputs in --out; a smaller --preview removes only its own old previews", async () => {
  await withTempDir(async (dir) => {
    const input = await cocoWithSharedNames(dir, 5);
    const prepare = (preview: number) =>
      runTask("prepare", [...input, ...flagArgs({ "test-size": 1, preview, out: `${dir}/run` })]);
    const first = await prepare(5);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(filesBelow(`${dir}/run/preview`), ["a-2.png", "a-3.png", "a-4.png", "a-5.png", "a.png"]);
    await Deno.writeTextFile(`${dir}/run/preview/notes.txt`, "mine");
    const second = await prepare(2);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(filesBelow(`${dir}/run/preview`), ["a-2.png", "a.png", "notes.txt"]);
    // the images themselves in --out/preview/: each preview gets another name, no input is overwritten
    const own = `${dir}/own`;
    await Deno.mkdir(`${own}/preview`, { recursive: true });
    const gt = JSON.parse(await Deno.readTextFile(`${dir}/instances.json`));
    gt.images = gt.images.slice(0, 3).map((im: { file_name: string }, i: number) => ({
      ...im,
      file_name: `${"abc"[i]}.png`,
    }));
    gt.annotations = gt.annotations.slice(0, 3);
    for (const [i, im] of gt.images.entries()) {
      await Deno.copyFile(`${dir}/images/d0${i}/a.png`, `${own}/preview/${im.file_name}`);
    }
    await Deno.writeTextFile(`${own}/instances.json`, JSON.stringify(gt));
    const inputs = snapshot(`${own}/preview`);
    const third = await runTask("prepare", [
      ...["--data", `${own}/instances.json`, "--images", `${own}/preview`, "-q"],
      ...["--test-size", "1", "--preview", "3", "--out", own],
    ]);
    assert.equal(third.code, 0, third.stderr);
    const after = snapshot(`${own}/preview`);
    for (const [file, bytes] of inputs) assert.equal(after.get(file), bytes, `${file} overwritten`);
    assert.deepEqual([...after.keys()], ["a-2.png", "a.png", "b-2.png", "b.png", "c-2.png", "c.png"]);
  });
});

// --- 2. one writer per run folder; 3. all-or-nothing (kill -9) ----------------------------------------------

Deno.test({
  name:
    "two finetune processes into one --out: the second exits 1 naming the folder and the first; kill -9 of the first while it stages an epoch keeps the last epoch; the next run recovers",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      await writeDataset(`${dir}/dataset.json`, await fixtureFolderDataset(9));
      const weights = await smallModel(dir);
      const run = `${dir}/run`;
      const args = [
        ...["--dataset", `${dir}/dataset.json`, "--weights", weights, "--out", run, "--epochs", "4"],
        ...["--batch-size", "3", "--freeze", "base+aux", "--val-fraction", "0", "--backend", "wasm"],
      ];
      const first = spawnTask("finetune", args);
      await until(() => /"task":"finetune"/.test(textOf(`${run}/.ssd300/lock`)), first, "lock");
      const second = await runTask("finetune", args);
      assertKnown(
        second,
        "finetune",
        new RegExp(
          `${run}: another task is writing this folder: finetune \\(pid ${first.pid}, started \\d{4}-`,
        ),
      );
      // epoch 1 committed; then kill -9 while epoch 2's set is being staged
      await until(
        () => exists(`${run}/resume.bin`) && !exists(`${run}/.ssd300/journal.json`),
        first,
        "epoch 1",
      );
      const epochOf = () => decodeResumeState(Deno.readFileSync(`${run}/resume.bin`)).state.epoch;
      const committed = epochOf();
      const before = snapshot(run);
      // (a commit between the two reads would make `before` a mix of two sets: then it is not compared)
      const beforeIsOneSet = epochOf() === committed && !exists(`${run}/.ssd300/journal.json`);
      await until(() => count(`${run}/.ssd300/staging`) > 0, first, "the next epoch's staging");
      first.kill("SIGKILL");
      assert.equal((await decoded(first)).code, 137, "killed");
      // killed while staging: the committed set as it was; killed inside a commit (its journal written; a
      // starved test process can see the staging that late): the next run rolls that commit forward
      const inCommit = exists(`${run}/.ssd300/journal.json`);
      let resumeAfter = committed;
      if (!inCommit) {
        const killed = snapshot(run);
        resumeAfter = epochOf(); // an epoch's set may have been committed between the two polls
        for (const [file, bytes] of before) {
          if (beforeIsOneSet && resumeAfter === committed && !file.startsWith(".ssd300/")) {
            assert.equal(killed.get(file), bytes, `${file} changed`);
          }
        }
        const log = JSON.parse(Deno.readTextFileSync(`${run}/train-log.json`));
        assert.equal(log.epochs.length, resumeAfter, "train-log.json and resume.bin are of one epoch");
      }
      const next = await runTask("finetune", args);
      assert.equal(next.code, 0, next.stderr);
      const resumed = Number(/resuming after epoch (\d+)/.exec(next.stderr)?.[1]);
      if (inCommit) assert.ok(resumed > committed, `resumed after epoch ${resumed}, committed ${committed}`);
      else assert.equal(resumed, resumeAfter);
      assert.equal(decodeResumeState(Deno.readFileSync(`${run}/resume.bin`)).state.epoch, 4);
      assert.ok(
        !filesBelow(dir).some((f) => f.includes(".ssd300") || /\.tmp-/.test(f)),
        filesBelow(dir).join("\n"),
      );
    }),
});

Deno.test("prepare killed by kill -9 while it stages its previews leaves the previous set; the next prepare recovers and commits", async () => {
  await withTempDir(async (dir) => {
    const input = await cocoWithSharedNames(dir, 45);
    const run = `${dir}/run`;
    const args = (seed: number) => [...input, "--seed", String(seed), "--preview", "45", "--out", run];
    assert.equal((await runTask("prepare", args(1))).code, 0);
    const previous = snapshot(run);
    const child = spawnTask("prepare", args(2));
    await until(() => count(`${run}/.ssd300/staging/preview`) >= 2, child, "previews staged");
    child.kill("SIGKILL");
    await decoded(child);
    assert.ok(count(`${run}/.ssd300/staging/preview`) < 45, "killed before the commit");
    const left = snapshot(run);
    for (const [file, bytes] of previous) assert.equal(left.get(file), bytes, `${file} changed`);
    assert.equal(JSON.parse(left.get("dataset.json")!).split.seed, 1);
    const next = await runTask("prepare", args(2));
    assert.equal(next.code, 0, next.stderr);
    assert.equal(JSON.parse(Deno.readTextFileSync(`${run}/dataset.json`)).split.seed, 2);
    assert.deepEqual(filesBelow(`${run}/.ssd300`), ["outputs.json"]);
    assert.equal(count(`${run}/preview`), 45);
  });
});

// --- 4. known I/O failures ----------------------------------------------------------------------------------

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN). */
async function canMount(): Promise<boolean> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const dir = await Deno.makeTempDir();
  try {
    const r = await runPiped("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
    if (r.code !== 0) return false;
    await runPiped("umount", [dir]);
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const MOUNT = await canMount();
if (!MOUNT) console.warn("writers_test: cannot mount a tmpfs here (needs root): the disk tests are skipped");

/** Runs `fn` with a tmpfs of `size` mounted at `<dir>/disk`. */
async function withDisk(dir: string, size: string, fn: (disk: string) => Promise<void>): Promise<void> {
  const disk = `${dir}/disk`;
  await Deno.mkdir(disk);
  const m = await runPiped("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", disk]);
  assert.equal(m.code, 0, m.stderr);
  try {
    await fn(disk);
  } finally {
    await runPiped("umount", [disk]);
  }
}

/** Fills `disk` with a file `filler` until `leaveKiB` KiB are free. */
async function fill(disk: string, leaveKiB: number): Promise<void> {
  await Deno.remove(`${disk}/filler`).catch(() => {});
  const df = await runPiped("df", ["-k", "--output=avail", disk]);
  const avail = Number(df.stdout.trim().split("\n").at(-1));
  await Deno.writeFile(`${disk}/filler`, new Uint8Array(Math.max(0, avail - leaveKiB) * 1024));
}

const remount = (disk: string, options: string) => runPiped("mount", ["-o", `remount,${options}`, disk]);

Deno.test({
  name:
    "a full disk during prepare, ap, report, export and detect: exit 1 naming the path [ENOSPC], no stack, the previous set intact, nothing staged left",
  ignore: !MOUNT,
  fn: () =>
    withTempDir(async (dir) => {
      const input = await cocoWithSharedNames(dir, 6);
      const weights = await smallModel(`${dir}/model`);
      const runData = fakeRun("r", "finetuned", 4, { perImage: true });
      await Deno.mkdir(`${dir}/runs/r`, { recursive: true });
      await Deno.writeTextFile(`${dir}/runs/r/ap.json`, JSON.stringify(runData.ap));
      await Deno.writeTextFile(`${dir}/gt.json`, JSON.stringify(runData.groundTruth));
      await Deno.writeTextFile(`${dir}/dets.json`, JSON.stringify(runData.detections));
      await withDisk(dir, "4m", async (disk) => {
        const prep = (...extra: string[]) =>
          runTask("prepare", [...input, "--test-size", "1", "--out", `${disk}/p`, ...extra]);
        assert.equal((await prep()).code, 0);
        const previous = snapshot(`${disk}/p`);
        await fill(disk, 24);
        // previews do not fit: nothing of the new set is committed
        assertKnown(
          await prep("--seed", "5", "--preview", "6"),
          "prepare",
          new RegExp(`${disk}/p/preview/a(-\\d)?\\.png: no space left on device .*\\[ENOSPC\\]$`),
        );
        assert.deepEqual(snapshot(`${disk}/p`), previous);
        const known = /\S+: no space left on device .*\[ENOSPC\]$/;
        // each fails while it writes (the lock file fits, the outputs do not) …
        await fill(disk, 8);
        const runs = ["--runs", `${dir}/runs/r`, "--gallery", "0"];
        const noSpace = (path: string) => new RegExp(`${path}: no space left on device .*\\[ENOSPC\\]$`);
        assertKnown(
          await runTask("report", [...runs, "--out", `${disk}/report.html`]),
          "report",
          noSpace(`${disk}/report\\.html`),
        );
        await fill(disk, 24);
        assertKnown(
          await runTask("export", ["--weights", weights, "--out", `${disk}/model`, "--backend", "wasm"]),
          "export",
          noSpace(`${disk}/model/group1-shard1of\\d+\\.bin`), // named where it goes, not where it is staged
        );
        const detect = ["--weights", weights, "--images", `${dir}/images`, "--out", `${disk}/det`];
        await fill(disk, 12);
        assertKnown(
          await runTask("detect", [...detect, "--backend", "wasm"]),
          "detect",
          noSpace(`${disk}/det/(annotated/d\\d\\d/a\\.jpg|images\\.json|detections\\.coco\\.json)`),
        );
        // … or already at its lock file, on a disk with no block free
        await fill(disk, 0);
        assertKnown(
          await runTask(
            "ap",
            flagArgs({ annotations: `${dir}/gt.json`, detections: `${dir}/dets.json`, out: `${disk}/ap` }),
          ),
          "ap",
          known,
        );
        await Deno.remove(`${disk}/filler`);
        assert.deepEqual(
          filesBelow(disk),
          [...previous.keys()].map((f) => `p/${f}`),
          "nothing else left on the disk",
        );
      });
    }),
});

Deno.test({
  name:
    "a full disk at finetune's second epoch: exit 1 naming resume.bin [ENOSPC], epoch 1's set intact; with space again the run resumes",
  ignore: !MOUNT,
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      await writeDataset(`${dir}/dataset.json`, await fixtureFolderDataset(9));
      const weights = await smallModel(dir);
      // resume.bin: the weights (w.bin) + the heads' momentum (small): one fits, a second one (staged) does not
      const weightBytes = Deno.statSync(`${dir}/w.bin`).size;
      await withDisk(dir, `${Math.ceil((weightBytes * 1.5) / 2 ** 20)}m`, async (disk) => {
        const args = [
          ...flagArgs({ dataset: `${dir}/dataset.json`, weights, out: `${disk}/run`, epochs: 2 }),
          ...["--batch-size", "3", "--freeze", "base+aux", "--val-fraction", "0", "--backend", "wasm"],
        ];
        const full = await runTask("finetune", args);
        assertKnown(
          full,
          "finetune",
          new RegExp(`${disk}/run/resume\\.bin: no space left on device .*\\[ENOSPC\\]$`),
        );
        assert.equal(decodeResumeState(Deno.readFileSync(`${disk}/run/resume.bin`)).state.epoch, 1);
        assert.deepEqual(filesBelow(`${disk}/run`), ["resume.bin", "train-log.csv", "train-log.json"]);
        assert.equal((await remount(disk, `size=${Math.ceil((weightBytes * 4) / 2 ** 20)}m`)).code, 0);
        const resumed = await runTask("finetune", args);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.match(resumed.stderr, /resuming after epoch 1/);
      });
    }),
});

Deno.test({
  name: "a read-only file system: prepare and report exit 1 naming the path [EROFS]; the previous set stays",
  ignore: !MOUNT,
  fn: () =>
    withTempDir(async (dir) => {
      const input = await cocoWithSharedNames(dir, 3);
      const runData = fakeRun("r", "finetuned", 4);
      await Deno.mkdir(`${dir}/runs/r`, { recursive: true });
      await Deno.writeTextFile(`${dir}/runs/r/ap.json`, JSON.stringify(runData.ap));
      await withDisk(dir, "4m", async (disk) => {
        const prep = () => runTask("prepare", [...input, "--test-size", "1", "--out", `${disk}/p`]);
        assert.equal((await prep()).code, 0);
        const previous = snapshot(`${disk}/p`);
        assert.equal((await remount(disk, "ro")).code, 0);
        assertKnown(await prep(), "prepare", new RegExp(`${disk}/p: read-only file system .*\\[EROFS\\]$`));
        assert.deepEqual(snapshot(`${disk}/p`), previous);
        assertKnown(
          await runTask("report", [
            "--runs",
            `${dir}/runs/r`,
            "--gallery",
            "0",
            "--out",
            `${disk}/new/report.html`,
          ]),
          "report",
          new RegExp(`${disk}/new: read-only file system .*\\[EROFS\\]$`),
        );
      });
    }),
});

Deno.test("a folder the task may not write: exit 1 naming it [EACCES] (as root: the task runs as nobody)", async (t) => {
  const root = Deno.uid() === 0;
  const home = await Deno.makeTempDir();
  try {
    await Deno.chmod(home, 0o777);
    const asNobody = root
      ? [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "env",
        `HOME=${home}`,
        `DENO_DIR=${home}/deno`,
      ]
      : [];
    // as nobody the task must still start: setpriv there, the checkout readable by others
    const probe = await runTask("report", ["--help"], asNobody).catch(() => null);
    if (probe?.code !== 0) {
      console.warn(
        `skipping ${t.name}: the task cannot start as another user here (no setpriv, or a private checkout)`,
      );
      return;
    }
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o755);
      const runData = fakeRun("r", "finetuned", 4);
      await Deno.mkdir(`${dir}/runs/r`, { recursive: true });
      await Deno.writeTextFile(`${dir}/runs/r/ap.json`, JSON.stringify(runData.ap));
      await Deno.mkdir(`${dir}/locked`, { mode: 0o755 });
      if (!root) await Deno.chmod(`${dir}/locked`, 0o555);
      const args = ["--runs", `${dir}/runs/r`, "--gallery", "0", "--out", `${dir}/locked/report.html`];
      const r = await runTask("report", args, asNobody);
      assertKnown(r, "report", new RegExp(`${dir}/locked: permission denied \\[EACCES\\]$`));
      assert.deepEqual(filesBelow(`${dir}/locked`), []);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
