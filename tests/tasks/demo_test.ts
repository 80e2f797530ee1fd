/**
 * deno task demo: the README's two commands — the smoke demo and `--data … --checkpoint X.pth` — in one output
 * folder, in both orders (smoke → real → smoke again), each in its own run directory; the real one scores its
 * run's best/ epoch. Small: the fixtures as data, the golden 21-class VOC-shaped checkpoint as X.pth, 1 epoch.
 */
import assert from "node:assert/strict";
import { demoRunDir, PROJECT_ROOT } from "../../tasks/compose/mod.ts";
import { FIXTURE_DIR, ignoreWithoutShared, sharedPath, withTempDir } from "../helpers.ts";

const TASK = `${PROJECT_ROOT}tasks/demo.ts`;

/** Runs `deno task demo` as a child process; returns exit code and stderr. */
async function demo(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, out: dec(r.stdout), err: dec(r.stderr) };
}

Deno.test("demoRunDir() gives every combination of data and checkpoint its own directory", async () => {
  const a = await demoRunDir("/o", "/d/PennFudanPed.zip");
  const b = await demoRunDir("/o", "/d/PennFudanPed.zip", "/c/ssd300.pth");
  const c = await demoRunDir("/o", "/e/PennFudanPed.zip", "/c/ssd300.pth");
  assert.match(a, /^\/o\/PennFudanPed\+scratch-[0-9a-f]{8}$/);
  assert.match(b, /^\/o\/PennFudanPed\+ssd300-[0-9a-f]{8}$/);
  assert.equal(new Set([a, b, c]).size, 3);
  assert.equal(await demoRunDir("/o", "/d/PennFudanPed.zip"), a, "deterministic");
});

Deno.test({
  name:
    "deno task demo: the smoke demo and the real one (--data --checkpoint) work in either order in one --out",
  ignore: ignoreWithoutShared("golden/ssd300_voc.pth"),
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      const out = `${dir}/demo`;
      const smoke = ["--out", out, "--epochs", "1"]; // training on 2 workers with oneDNN where it loads
      const real = [...smoke, "--data", FIXTURE_DIR, "--checkpoint", sharedPath("golden/ssd300_voc.pth")];
      const first = await demo(smoke);
      assert.equal(first.code, 0, first.err);
      const second = await demo(real);
      assert.equal(second.code, 0, second.err);
      assert.doesNotMatch(
        second.err,
        /resuming|other settings/,
        "the real demo does not touch the smoke run",
      );
      assert.match(second.err, /ap: using .*\/finetuned\/best\/weights\.json \(epoch 1 of 1/);
      const third = await demo(smoke);
      assert.equal(third.code, 0, third.err);
      assert.match(third.err, /resuming after epoch 1/, "the smoke run is still its own");
      const smokeDir = await demoRunDir(out, FIXTURE_DIR.replace(/\/+$/, ""));
      const realDir = await demoRunDir(out, FIXTURE_DIR, sharedPath("golden/ssd300_voc.pth"));
      for (const d of [smokeDir, realDir]) {
        assert.ok((await Deno.stat(`${d}/report.html`)).isFile, d);
        assert.ok((third.out + second.out).includes(`report: ${d}/report.html`), d);
      }
      const ap = JSON.parse(await Deno.readTextFile(`${realDir}/finetuned/ap.json`));
      assert.equal(ap.settings.weights_choice, "best");
    }, "demo_test_"),
});
