import assert from "node:assert/strict";
import {
  lockComposedRun,
  lockRunFolder,
  OutputFolderError,
  RunFolderBusyError,
} from "../../lib/core/run_folder.ts";
import { writeFileAtomic } from "../../lib/core/artifacts.ts";
import { pathExists, withTempDir } from "../helpers.ts";

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
const read = (path: string) => Deno.readTextFileSync(path);

/** `<dir>/photos/<photo>` holding "user's photo" (the user's files outside), and the run folder's path. */
async function photosBesideRun(dir: string, photo: string): Promise<{ outside: string; run: string }> {
  const outside = `${dir}/photos`;
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${outside}/${photo}`, "user's photo");
  return { outside, run: `${dir}/run` };
}
const exists = pathExists;

/** A child Deno process that takes the lock of `dir` and holds it until killed; resolves once it holds it. */
async function holderProcess(dir: string): Promise<Deno.ChildProcess> {
  const code = `import { lockRunFolder } from ${
    JSON.stringify(new URL("../../lib/core/mod.ts", import.meta.url).href)
  };
const f = await lockRunFolder(${JSON.stringify(dir)}, "holder");
await Deno.writeTextFile(f.staged("half.json"), "{ half");
console.log("held");
setInterval(() => {}, 60_000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /held/);
  reader.releaseLock();
  return child;
}

Deno.test("lockRunFolder(): a second holder in another process is refused naming the folder, pid, task and start; kill -9 frees it", async () => {
  await withTempDir(async (dir) => {
    const run = `${dir}/run`;
    const child = await holderProcess(run);
    try {
      await assert.rejects(() => lockRunFolder(run, "finetune"), (e: unknown) => {
        assert.ok(e instanceof RunFolderBusyError);
        assert.equal(e.holder?.pid, child.pid);
        assert.equal(e.holder?.task, "holder");
        assert.match(
          e.message,
          new RegExp(
            `^${run}: another task is writing this folder: holder \\(pid ${child.pid}, started \\d{4}-`,
          ),
        );
        return true;
      });
    } finally {
      child.kill("SIGKILL");
      await child.status;
      child.stdout.cancel().catch(() => {});
    }
    // the kernel released the lock of the dead process; its staged file is cleaned at once
    await using folder = await lockRunFolder(run, "finetune");
    assert.deepEqual(folder.recovered, ["removed the uncommitted files of an interrupted run"]);
    assert.deepEqual(names(`${run}/.ssd300`), ["lock"]);
    assert.match(read(`${run}/.ssd300/lock`), new RegExp(`"pid":${Deno.pid},"task":"finetune"`));
  });
});

Deno.test("lockRunFolder(): a second lock in the same process is refused too; release() lets the next one in", async () => {
  await withTempDir(async (dir) => {
    const first = await lockRunFolder(dir, "prepare");
    await assert.rejects(() => lockRunFolder(dir, "report"), RunFolderBusyError);
    await first.release();
    assert.deepEqual(names(dir), [], "lock file and .ssd300/ removed");
    const second = await lockRunFolder(dir, "report");
    await second.release();
    await second.release(); // idempotent
  });
});

Deno.test("lockRunFolder() creates the folder and removes it again when nothing was committed; refuses a file", async () => {
  await withTempDir(async (dir) => {
    const folder = await lockRunFolder(`${dir}/a/b`, "prepare");
    await Deno.writeTextFile(folder.staged("dataset.json"), "{}");
    await folder.release();
    assert.deepEqual(names(`${dir}/a`), []);
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(() => lockRunFolder(`${dir}/file`, "ap"), OutputFolderError);
    await assert.rejects(() => lockRunFolder(`${dir}/file/sub`, "ap"), OutputFolderError);
  });
});

Deno.test("RunFolder.commit() puts the whole set in place; an uncommitted set leaves the previous one intact", async () => {
  await withTempDir(async (dir) => {
    {
      await using f = await lockRunFolder(dir, "prepare");
      await writeFileAtomic(f.staged("dataset.json"), "old dataset");
      await writeFileAtomic(f.staged("annotations.coco.json"), "old gt");
      await writeFileAtomic(f.staged("preview/a.png"), "old a");
      const files = await f.commit({ replace: ["preview"] });
      assert.deepEqual(
        files,
        ["annotations.coco.json", "dataset.json", "preview/a.png"].map((n) => `${dir}/${n}`),
      );
    }
    {
      await using f = await lockRunFolder(dir, "prepare");
      await writeFileAtomic(f.staged("annotations.coco.json"), "new gt");
      // the task fails before its commit (a full disk, a bad input found late): nothing changes
    }
    assert.equal(read(`${dir}/annotations.coco.json`), "old gt");
    assert.equal(read(`${dir}/dataset.json`), "old dataset");
    assert.deepEqual(names(dir), [".ssd300", "annotations.coco.json", "dataset.json", "preview"]);
    assert.deepEqual(names(`${dir}/.ssd300`), ["outputs.json"]);
  });
});

Deno.test("RunFolder.commit() with replace removes only files its writers committed before", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/annotated/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/annotated/users-own.jpg`, "not ours");
    {
      await using f = await lockRunFolder(dir, "detect");
      for (const n of ["a", "sub/b", "sub/c"]) await Deno.writeTextFile(f.staged(`annotated/${n}.jpg`), n);
      await f.commit({ replace: ["annotated"] });
    }
    {
      await using f = await lockRunFolder(dir, "detect");
      await Deno.writeTextFile(f.staged("annotated/a.jpg"), "a2");
      await f.commit({ replace: ["annotated"] });
    }
    assert.deepEqual(names(`${dir}/annotated`), ["a.jpg", "users-own.jpg"]); // sub/ emptied, so removed
    assert.equal(read(`${dir}/annotated/a.jpg`), "a2");
    assert.deepEqual(JSON.parse(read(`${dir}/.ssd300/outputs.json`)), ["annotated/a.jpg"]);
  });
});

Deno.test("the next holder completes a commit interrupted after its journal (roll forward) at any file", async () => {
  for (let moved = 0; moved <= 3; moved++) {
    await withTempDir(async (dir) => {
      const set = ["ap.json", "detections.coco.json", "gt.coco.json"];
      for (const n of set) await Deno.writeTextFile(`${dir}/${n}`, `old ${n}`);
      await Deno.writeTextFile(`${dir}/stale.json`, "to remove");
      // the state a writer killed during its commit leaves: journal written, `moved` files renamed
      await Deno.mkdir(`${dir}/.ssd300/staging`, { recursive: true });
      for (const [i, n] of set.entries()) {
        await Deno.writeTextFile(`${dir}/${i < moved ? n : `.ssd300/staging/${n}`}`, `new ${n}`);
      }
      const journal = { version: 1, files: set, remove: ["stale.json"], outputs: null };
      await Deno.writeTextFile(`${dir}/.ssd300/journal.json`, JSON.stringify(journal));
      await using f = await lockRunFolder(dir, "ap");
      assert.deepEqual(f.recovered, ["completed an interrupted commit of 3 file(s)"]);
      for (const n of set) assert.equal(read(`${dir}/${n}`), `new ${n}`, `moved ${moved}: ${n}`);
      assert.deepEqual(names(dir), [".ssd300", ...set]);
      assert.deepEqual(names(`${dir}/.ssd300`), ["lock"]);
    });
  }
});

Deno.test("lockRunFolder() removes temps and half-written bookkeeping of a dead writer at once, not others' files", async () => {
  await withTempDir(async (dir) => {
    const leftovers = [
      `model.pth.tmp-${Deno.pid}-0a1b2c3d`, // even this process's pid: the lock proves no writer is alive
      "weights.bin.tmp-4194305-99999999",
      ".ssd300/journal.json.tmp-77-abcdef01",
    ];
    const kept = ["model.pth", "notes.tmp-1-x", "my.tmp-12-ABCDEF01"];
    await Deno.mkdir(`${dir}/.ssd300`);
    for (const n of [...leftovers, ...kept]) await Deno.writeTextFile(`${dir}/${n}`, "x");
    await Deno.mkdir(`${dir}/.model.partial-4242-aB3dE9`); // an export folder of an older version, half-written
    await using f = await lockRunFolder(dir, "finetune");
    assert.equal(f.recovered.length, 4);
    assert.deepEqual(names(dir), [".ssd300", ...kept].sort());
  });
});

Deno.test("RunFolder.commit() refuses a symlinked folder on the way and replaces (never follows) a symlinked file", async () => {
  await withTempDir(async (dir) => {
    const { outside, run } = await photosBesideRun(dir, "p.jpg");
    await Deno.mkdir(run);
    await Deno.symlink(outside, `${run}/annotated`);
    await Deno.symlink(`${outside}/p.jpg`, `${run}/out.jpg`);
    await using f = await lockRunFolder(run, "detect");
    await Deno.writeTextFile(f.staged("annotated/p.jpg"), "drawn");
    await assert.rejects(() => f.commit(), (e: unknown) => {
      assert.ok(e instanceof OutputFolderError);
      assert.match(e.message, /annotated: is a symbolic link; outputs are written only inside/);
      return true;
    });
    await f.discard();
    await Deno.writeTextFile(f.staged("out.jpg"), "drawn");
    await f.commit();
    assert.equal(read(`${outside}/p.jpg`), "user's photo");
    assert.equal(read(`${run}/out.jpg`), "drawn");
    assert.ok(!Deno.lstatSync(`${run}/out.jpg`).isSymlink);
  });
});

Deno.test("a composed task's lock excludes a second composition but not its children's writer locks", async () => {
  await withTempDir(async (dir) => {
    await using demo = await lockComposedRun(dir, "demo");
    await assert.rejects(
      () => lockComposedRun(dir, "experiments"),
      /another task is writing this folder: demo/,
    );
    {
      await using child = await lockRunFolder(dir, "prepare");
      await Deno.writeTextFile(child.staged("dataset.json"), "{}");
      await child.commit();
    }
    assert.deepEqual(names(`${dir}/.ssd300`), ["compose.lock"]);
    demo.release();
    assert.deepEqual(names(dir), ["dataset.json"]);
  });
});

Deno.test("neither a replace nor a crafted journal removes or writes through a symlinked folder", async () => {
  await withTempDir(async (dir) => {
    const { outside, run } = await photosBesideRun(dir, "x.jpg");
    await Deno.mkdir(`${run}/.ssd300/staging/annotated`, { recursive: true });
    await Deno.symlink(outside, `${run}/annotated`);
    // a record that claims annotated/x.jpg is ours, and a journal that moves a file through the link
    await Deno.writeTextFile(`${run}/.ssd300/outputs.json`, JSON.stringify(["annotated/x.jpg"]));
    await Deno.writeTextFile(`${run}/.ssd300/staging/annotated/evil.jpg`, "evil");
    const journal = { version: 1, files: ["annotated/evil.jpg"], remove: ["annotated/x.jpg"], outputs: null };
    await Deno.writeTextFile(`${run}/.ssd300/journal.json`, JSON.stringify(journal));
    await using f = await lockRunFolder(run, "detect");
    await Deno.writeTextFile(f.staged("images.json"), "[]");
    await f.commit({ replace: ["annotated"] });
    assert.deepEqual(names(outside), ["x.jpg"]);
    assert.equal(read(`${outside}/x.jpg`), "user's photo");
  });
});

Deno.test("lockRunFolder() never writes its holder through a planted link: a symlinked or hard-linked lock file, a symlinked .ssd300", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/passwd`, "root:x:0:0");
    for (const plant of ["symlink", "hardlink", "meta"] as const) {
      const run = `${dir}/${plant}`;
      await Deno.mkdir(`${run}/.ssd300`, { recursive: true });
      if (plant === "symlink") await Deno.symlink(`${dir}/passwd`, `${run}/.ssd300/lock`);
      if (plant === "hardlink") await Deno.link(`${dir}/passwd`, `${run}/.ssd300/lock`);
      if (plant === "meta") {
        await Deno.remove(`${run}/.ssd300`);
        await Deno.mkdir(`${dir}/elsewhere`);
        await Deno.symlink(`${dir}/elsewhere`, `${run}/.ssd300`);
      }
      await assert.rejects(() => lockRunFolder(run, "prepare"), OutputFolderError, plant);
      assert.equal(read(`${dir}/passwd`), "root:x:0:0", plant);
    }
    assert.deepEqual(names(`${dir}/elsewhere`), []);
  });
});

Deno.test("kill -9 of a real process during its commit: the next holder completes the set (roll forward)", async () => {
  await withTempDir(async (dir) => {
    const n = 3_000;
    const rel = (i: number) => `set/${String(i).padStart(5, "0")}.txt`;
    {
      await using f = await lockRunFolder(dir, "old");
      for (let i = 0; i < n; i++) Deno.writeTextFileSync(f.staged(rel(i)), "old");
      await f.commit();
    }
    const code = `import { lockRunFolder } from ${
      JSON.stringify(new URL("../../lib/core/mod.ts", import.meta.url).href)
    };
const f = await lockRunFolder(${JSON.stringify(dir)}, "writer");
for (let i = 0; i < ${n}; i++) Deno.writeTextFileSync(f.staged("set/" + String(i).padStart(5, "0") + ".txt"), "new");
await f.commit();`;
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", code], stderr: "inherit" }).spawn();
    const journal = `${dir}/.ssd300/journal.json`;
    for (const t0 = Date.now(); !exists(journal); await new Promise((r) => setTimeout(r, 1))) {
      assert.ok(Date.now() - t0 < 120_000, "the commit did not start");
    }
    child.kill("SIGKILL");
    await child.status;
    const moved = [...Array(n).keys()].filter((i) => read(`${dir}/${rel(i)}`) === "new").length;
    assert.ok(moved < n, `killed after the commit (${moved} of ${n} moved)`);
    await using f = await lockRunFolder(dir, "next");
    assert.deepEqual(f.recovered, [`completed an interrupted commit of ${n} file(s)`]);
    for (let i = 0; i < n; i++) assert.equal(read(`${dir}/${rel(i)}`), "new", rel(i));
    assert.deepEqual(names(`${dir}/.ssd300`), ["lock"]);
  });
});

Deno.test("a FIFO planted as the journal or the outputs record does not hang the next holder", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/.ssd300`);
    for (const name of ["journal.json", "outputs.json"]) {
      const r = await new Deno.Command("mkfifo", { args: [`${dir}/.ssd300/${name}`] }).output();
      assert.ok(r.success);
    }
    await using f = await lockRunFolder(dir, "prepare");
    await Deno.writeTextFile(f.staged("preview/a.png"), "a");
    await f.commit({ replace: ["preview"] });
    assert.deepEqual(names(`${dir}/preview`), ["a.png"]);
  });
});
