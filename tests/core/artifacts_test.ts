import assert from "node:assert/strict";
import { z } from "zod";
import { ArtifactError, readJsonArtifact, writeJsonArtifact } from "../../lib/core/artifacts.ts";

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
