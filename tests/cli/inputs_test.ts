import assert from "node:assert/strict";
import { checkInputFiles, MissingInputError } from "../../lib/cli/mod.ts";
import { isKnownError } from "../../lib/cli/mod.ts";

Deno.test("checkInputFiles() names the flag and the missing path; skips flags not given", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/d.json`, "{}");
    await checkInputFiles({ dataset: `${dir}/d.json`, checkpoint: undefined }, ["dataset", "checkpoint"]);
    await assert.rejects(
      checkInputFiles({ dataset: `${dir}/d.json`, checkpoint: `${dir}/x.pth` }, ["dataset", "checkpoint"]),
      (e: unknown) => {
        assert.ok(e instanceof MissingInputError && isKnownError(e));
        assert.equal(e.message, `--checkpoint ${dir}/x.pth: no such file or directory`);
        return true;
      },
    );
    await assert.rejects(checkInputFiles({ headInit: `${dir}/nope` }, ["head-init"]), /--head-init/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
