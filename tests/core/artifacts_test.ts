import assert from "node:assert/strict";
import { z } from "zod";
import {
  ArtifactError,
  checkOutputFile,
  OutputIsDirectoryError,
  readJsonArtifact,
  writeFileAtomic,
  writeJsonArtifact,
} from "../../lib/core/artifacts.ts";
import { withTempDir } from "../helpers.ts";

const Schema = z.object({ version: z.literal(1), items: z.array(z.object({ id: z.number().int() })) });

Deno.test("writeJsonArtifact() then readJsonArtifact() round-trips a valid artifact", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/a.json`;
  await writeJsonArtifact(file, Schema, { version: 1, items: [{ id: 3 }] });
  assert.deepEqual(await readJsonArtifact(file, Schema), { version: 1, items: [{ id: 3 }] });
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.json"]);
});

Deno.test("writeJsonArtifact() refuses an invalid value and leaves no file behind", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/a.json`;
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => writeJsonArtifact(file, Schema, { version: 1, items: [{ id: 1.5 }] } as any),
    (e: unknown) => e instanceof ArtifactError && /items\.0\.id/.test(e.message) && /1\.5/.test(e.message),
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("readJsonArtifact() names the file and the field of a bad value", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/bad.json`;
  await Deno.writeTextFile(file, JSON.stringify({ version: 2, items: [] }));
  await assert.rejects(
    () => readJsonArtifact(file, Schema),
    (e: unknown) => e instanceof ArtifactError && e.message.includes(file) && /field version/.test(e.message),
  );
  await Deno.writeTextFile(file, "{");
  await assert.rejects(() => readJsonArtifact(file, Schema), /not valid JSON/);
});

Deno.test("writeFileAtomic() removes its target's stale temps of dead writers, not live ones nor others'", async () => {
  await withTempDir(async (dir) => {
    // a pid no process can have: above Linux's PID_MAX_LIMIT (2^22)
    const dead = { pid: 4_194_305 };
    // /proc needs --allow-all in Deno; without it liveness is unknown and a temp untouched for a minute is stale
    const procReadable = (() => {
      try {
        Deno.statSync("/proc/self");
        return true;
      } catch {
        return false;
      }
    })();
    const old = new Date(Date.now() - 3600_000);
    const temps = {
      stale: `model.pth.tmp-${dead.pid}-0a1b2c3d`, // killed writer of this target: removed
      live: `model.pth.tmp-1-0a1b2c3d`, // pid 1 is alive: a concurrent writer's, kept (where /proc says so)
      other: `weights.bin.tmp-${dead.pid}-0a1b2c3d`, // another target's: not this writer's to remove
      fresh: `model.pth.tmp-${dead.pid}-99999999`, // modified after this process started: kept
    };
    for (const name of Object.values(temps)) await Deno.writeTextFile(`${dir}/${name}`, "partial");
    for (const key of ["stale", "live", "other"] as const) await Deno.utime(`${dir}/${temps[key]}`, old, old);
    await writeFileAtomic(`${dir}/model.pth`, "complete");
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const kept = procReadable ? [temps.live, temps.fresh, temps.other] : [temps.fresh, temps.other];
    assert.deepEqual(names, ["model.pth", ...kept].sort());
  });
});

Deno.test("writeFileAtomic() and checkOutputFile() refuse an existing directory as the output file", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/report.html/inner`, { recursive: true });
    await assert.rejects(() => checkOutputFile(`${dir}/report.html`), OutputIsDirectoryError);
    await assert.rejects(
      () => writeFileAtomic(`${dir}/report.html`, "x"),
      (e: unknown) => e instanceof OutputIsDirectoryError && /report\.html: is a directory/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["report.html"], "no temp left");
    await checkOutputFile(`${dir}/absent.html`);
  });
});
