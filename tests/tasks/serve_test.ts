/**
 * `deno task serve` (run as `deno task serve`, under its own permissions):
 * - hardened: only regular files whose real path is inside the served folders (symlinks to /etc/passwd in the
 *   image and model folders, FIFOs, `..` and `%2e%2e` in raw request lines are 404); only requests whose Host is
 *   exactly `127.0.0.1:PORT` (421 otherwise); a model folder with a missing, short, long, linked-out or FIFO
 *   shard, or a bad or oversized model.json, is refused before listening (exit 1 naming the file);
 * - hostile class names, model source and image file names show as text on the page (no element, no dialog),
 *   and never reach the terminal raw;
 * - with the golden VOC model exported, opened in Debian's headless Chromium (driven by playwright-core in
 *   tests/web/chromium_page.ts, no browser download): `/?image=/images/<fixture>` gives the detections of
 *   `deno task detect` on the same image, the canvas shows the boxes, and every request the page makes stays
 *   on the local server.
 * The Chromium tests are skipped without Chromium (or ../shared) locally; under CI (env CI set) they run and
 * fail instead.
 */
import assert from "node:assert/strict";
import {
  assertSameDetections,
  comparablePixelDetections,
  detectOneImageArgs,
  FIXTURE_DIR,
  ignoreWithoutShared,
  runPiped,
  sharedPath,
  taskRunArgs,
  withTempDir,
  writeTinyModelFolder,
} from "../helpers.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import { exportClassNames, exportGraphModel } from "../../lib/export/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { loadCheckpointFile } from "../../lib/interop/mod.ts";
import { classColor, createSsd300, DetectionsJsonSchema, disposeModel } from "../../lib/ssd/mod.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const ROOT = new URL("../../", import.meta.url).pathname;
const IMAGE = "FudanPed00001.png";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Reads the child's stdout until the server prints its URL; `lines` receives what it printed. */
async function serverUrl(child: Deno.ChildProcess, timeoutMs: number, lines: string[] = []): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel(), timeoutMs);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`deno task serve ended before listening: ${text}`);
      text += value;
      const m = /serving (http:\/\/127\.0\.0\.1:\d+)\/.*\n/.exec(text);
      if (m) {
        lines.push(text);
        return m[1];
      }
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/** `deno task serve ARGS` in the background (port 0), its URL once it listens, and what it printed. */
async function startServe(
  args: string[],
): Promise<{ child: Deno.ChildProcess; origin: string; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...taskRunArgs("serve"), ...args, "--port", "0"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const lines: string[] = [];
  try {
    return { child, origin: await serverUrl(child, 120_000, lines), out: lines.join("") };
  } catch (e) {
    await stopServe(child);
    throw e;
  }
}

/** Stops the server: SIGTERM, then SIGKILL when it has not ended within 10 s (a request it cannot finish). */
async function stopServe(child: Deno.ChildProcess): Promise<void> {
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already exited (its own error is the one to see)
    }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), 10_000);
  await child.status;
  clearTimeout(timer);
}

/**
 * One raw HTTP/1.x request over TCP, the request line and Host header exactly as given (`host` null: none), so
 * that neither a URL parser nor fetch normalises them first.
 * @returns the status code and the body text
 */
async function rawRequest(
  port: number,
  target: string,
  host: string | null,
  version = "1.1",
): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 10_000);
  try {
    const head = [
      `GET ${target} HTTP/${version}`,
      ...(host === null ? [] : [`Host: ${host}`]),
      "Connection: close",
    ];
    await conn.write(new TextEncoder().encode(`${head.join("\r\n")}\r\n\r\n`));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) chunks.push(buf.slice(0, n));
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
    if (!m) throw new Error(`no HTTP status for ${target}: ${JSON.stringify(text.slice(0, 200))}`);
    return { status: Number(m[1]), text };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer or the server
    }
  }
}

/** What a terminal must never receive: C0 controls but LF (and TAB), DEL, C1. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

Deno.test("deno task serve rejects a folder without model.json (exit 1, one line)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", "serve", "--model", dir, "--port", "0"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.deepEqual(r.code, 1, err);
    assert(/serve: --model .*: no model\.json \(export one with deno task export\)/.test(err), err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task serve refuses a model folder with a missing, short, long, linked-out or FIFO shard, or a bad model.json, before listening", async () => {
  await withTempDir(async (dir) => {
    const outside = `${dir}/outside.bin`;
    await Deno.writeFile(outside, new Uint8Array(4));
    const cases: [string, (m: string) => Promise<void>, RegExp][] = [
      [
        "missing",
        (m) => Deno.remove(`${m}/group1-shard2of2.bin`),
        /group1-shard2of2\.bin: missing \(shard 2 of the 2/,
      ],
      [
        "short",
        (m) => Deno.writeFile(`${m}/group1-shard2of2.bin`, new Uint8Array(3)),
        /group1-shard2of2\.bin: 3 bytes, model\.json's manifest says 4 \(shard 2 of the 2/,
      ],
      [
        "long",
        (m) => Deno.writeFile(`${m}/group1-shard1of2.bin`, new Uint8Array(4 * 2 ** 20 + 1)),
        /group1-shard1of2\.bin: 4194305 bytes, model\.json's manifest says 4194304/,
      ],
      [
        "linked out",
        async (m) => {
          await Deno.remove(`${m}/group1-shard2of2.bin`);
          await Deno.symlink(outside, `${m}/group1-shard2of2.bin`);
        },
        /group1-shard2of2\.bin: a link that leads out of the folder/,
      ],
      [
        "dev/zero",
        async (m) => {
          await Deno.remove(`${m}/group1-shard2of2.bin`);
          await Deno.symlink("/dev/zero", `${m}/group1-shard2of2.bin`);
        },
        /group1-shard2of2\.bin: a link that leads out of the folder/,
      ],
      [
        "fifo",
        async (m) => {
          await Deno.remove(`${m}/group1-shard2of2.bin`);
          const r = await new Deno.Command("mkfifo", { args: [`${m}/group1-shard2of2.bin`] }).output();
          assert.equal(r.code, 0);
        },
        /group1-shard2of2\.bin: not a regular file/,
      ],
      [
        "model.json linked out",
        async (m) => {
          await Deno.rename(`${m}/model.json`, `${dir}/elsewhere.json`);
          await Deno.symlink(`${dir}/elsewhere.json`, `${m}/model.json`);
        },
        /model\.json: a link that leads out of the folder/,
      ],
      [
        "model.json too large",
        async (m) => {
          using f = await Deno.open(`${m}/model.json`, { write: true });
          await f.truncate(17 * 2 ** 20); // sparse: its size is refused before anything is read
        },
        /model\.json: is 17825792 bytes \(17 MiB\), over the 16 MiB limit for model\.json/,
      ],
      [
        "model.json not JSON",
        (m) => Deno.writeTextFile(`${m}/model.json`, "{ not json"),
        /model\.json: not valid JSON/,
      ],
      [
        "model.json without metadata",
        async (m) => {
          const json = JSON.parse(await Deno.readTextFile(`${m}/model.json`));
          delete json.userDefinedMetadata;
          await Deno.writeTextFile(`${m}/model.json`, JSON.stringify(json));
        },
        /model\.json: not an SSD300 export \(userDefinedMetadata: /,
      ],
      [
        "manifest names a tensor the graph lacks",
        async (m) => {
          const json = JSON.parse(await Deno.readTextFile(`${m}/model.json`));
          json.weightsManifest[0].weights[0].name = "nope";
          await Deno.writeTextFile(`${m}/model.json`, JSON.stringify(json));
        },
        /weightsManifest\.0\.weights\.0\.name: "nope" is not a Const node of the graph/,
      ],
    ];
    for (const [what, spoil, message] of cases) {
      const model = `${dir}/${what}`;
      await writeTinyModelFolder(model, 2 ** 20 + 1); // 4 MiB + 4 bytes: two shards
      await spoil(model);
      const t0 = performance.now();
      const r = await runPiped(Deno.execPath(), [...taskRunArgs("serve"), "--model", model, "--port", "0"], {
        cwd: ROOT,
        stdin: "null",
        signal: AbortSignal.timeout(60_000), // a server that listens instead of refusing is killed: the test fails
      });
      assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.match(r.stderr, /^serve: /, what);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack`);
      assert.equal(r.stdout, "", `${what}: never listened`);
      assert.ok(performance.now() - t0 < 60_000, `${what}: refused at once`);
    }
  });
});

Deno.test({
  name: "deno task serve serves only regular files inside its folders, and only to Host 127.0.0.1:PORT",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const model = `${dir}/model`, images = `${dir}/images`;
      await writeTinyModelFolder(model);
      await Deno.symlink("/etc/passwd", `${model}/group9-shard1of1.bin`);
      await Deno.mkdir(images);
      const png = await Deno.readFile(`${FIXTURE_DIR}/PNGImages/${IMAGE}`);
      await Deno.writeFile(`${images}/a.png`, png);
      await Deno.symlink(`${images}/a.png`, `${images}/inside.png`); // a link within the folder is served
      await Deno.symlink("/etc/passwd", `${images}/passwd.png`);
      await Deno.symlink("/etc", `${images}/etc.png`);
      await Deno.mkdir(`${images}/dir.png`);
      await Deno.writeFile(`${dir}/secret.png`, new TextEncoder().encode("root:secret"));
      await Deno.symlink(`${dir}/secret.png`, `${images}/secret.png`);
      assert.equal((await new Deno.Command("mkfifo", { args: [`${images}/fifo.png`] }).output()).code, 0);

      const { child, origin } = await startServe(["--model", model, "--images", images]);
      try {
        const port = Number(new URL(origin).port);
        const host = `127.0.0.1:${port}`;
        const get = (target: string, h: string | null = host) => rawRequest(port, target, h);
        assert.equal((await get("/")).status, 200);
        assert.equal((await get("/model/model.json")).status, 200);
        const listing = await get("/images/");
        assert.equal(listing.status, 200);
        // each file once (lib/core walkFiles): inside.png is a second name of a.png
        assert.deepEqual(JSON.parse(listing.text.slice(listing.text.indexOf("\r\n\r\n") + 4)), ["a.png"]);
        assert.equal((await get("/images/a.png")).status, 200);
        assert.equal((await get("/images/inside.png")).status, 200);
        const refused = [
          "/images/passwd.png",
          "/images/secret.png",
          "/images/fifo.png",
          "/images/dir.png",
          "/images/etc.png",
          "/model/group9-shard1of1.bin",
          "/images/../../../../../../etc/passwd",
          "/images/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
          "/images/..%2f..%2f..%2f..%2fetc%2fpasswd",
          "/images/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd.png",
          "/images/..%5c..%5cetc%5cpasswd.png",
          "/model/%2e%2e%2fimages%2fa.png",
          "/model/..%2f..%2fsecret.png",
          "/model/.%2e/.%2e/secret.png",
          "/wasm/..%2f..%2f..%2f..%2fetc%2fpasswd",
          "//etc/passwd",
          "/images/%00a.png",
        ];
        for (const target of refused) {
          const r = await get(target);
          assert.equal(r.status, 404, target);
          assert.doesNotMatch(r.text, /root:/, target);
        }
        for (
          const wrong of [
            "evil.example",
            `evil.example:${port}`,
            `localhost:${port}`,
            "127.0.0.1",
            `127.0.0.1:${port + 1}`,
            `127.0.0.1:${port}.evil.example`,
          ]
        ) {
          const r = await get("/model/model.json", wrong);
          assert.equal(r.status, 421, wrong);
          assert.doesNotMatch(r.text, /graph-model/, wrong);
        }
        const none = await rawRequest(port, "/model/model.json", null, "1.0");
        assert.ok(none.status >= 400 && none.status < 500, `no Host: ${none.status}`);
        assert.doesNotMatch(none.text, /graph-model/);
      } finally {
        await stopServe(child);
      }
    });
  },
});

Deno.test({
  name:
    "deno task serve: hostile class names, model source and image names are text on the page, escapes in the terminal",
  ignore: !Deno.env.get("CI") && !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!haveChromium) throw new Error(`${CHROMIUM} is required in CI (apt-get install chromium)`);
    const hostile = `<img src=x onerror=alert(1)>'"&\x1b[2J\x1b]0;title\x07\r\nFORGED`;
    const className = `</script>${hostile}\0`;
    const source = `weights ${hostile}.json`;
    const imageName = `${hostile}.png`;
    await withTempDir(async (dir) => {
      await initBackend("wasm", null);
      const model = `${dir}/model ${hostile}`;
      const ssd = createSsd300(2, 3);
      try {
        // exported under a plain name: export's temporary folder name may not hold control characters
        const classNames = ["background", className];
        await exportGraphModel(ssd, `${dir}/m`, { quantize: "uint8", classNames, source });
        await Deno.rename(`${dir}/m`, model);
      } finally {
        disposeModel(ssd);
      }
      const images = `${dir}/images`;
      await Deno.mkdir(images);
      await Deno.copyFile(`${FIXTURE_DIR}/PNGImages/${IMAGE}`, `${images}/${imageName}`);
      await Deno.copyFile(`${FIXTURE_DIR}/PNGImages/${IMAGE}`, `${images}/a.png`);
      const { child, origin, out } = await startServe(["--model", model, "--images", images]);
      try {
        assert.equal(CONTROL.exec(out), null, `raw control character in ${JSON.stringify(out)}`);
        assert.doesNotMatch(out, /^FORGED/m);
        assert.ok(out.includes("\\x1b[2J\\x1b]0;title\\x07\\r\\nFORGED"), out);
        const driver = await runPiped(Deno.execPath(), [
          "run",
          "-A",
          `${ROOT}tests/web/chromium_page.ts`,
          `${origin}/?image=${encodeURIComponent(`/images/${encodeURIComponent(imageName)}`)}`,
          `${dir}/canvas.png`,
        ]);
        assert.equal(driver.code, 0, driver.stderr);
        const page = JSON.parse(driver.stdout);
        assert.equal(page.state, "done", `${page.status} ${page.errors}`);
        const found = JSON.parse(page.detections).detections as { class: string }[];
        assert.ok(found.length > 0, "the random model finds something");
        assert.ok(found.every((d) => d.class === className), "class names arrive as given");
        assert.ok(page.modelInfo.endsWith(`from ${source})`), page.modelInfo);
        assert.deepEqual(page.options.slice(1).sort(), [imageName, "a.png"].sort());
        assert.deepEqual(page.elements, { img: 0, script: 1 }, "no element came from the names");
        assert.deepEqual(page.dialogs, [], "no script ran");
        assert.deepEqual(page.errors, []);
      } finally {
        await stopServe(child);
      }
    });
  },
});

Deno.test({
  name: "deno task serve: the page in headless Chromium detects what deno task detect does, and draws it",
  ignore: !Deno.env.get("CI") && (!haveChromium || ignoreWithoutShared("golden/ssd300_voc.pth")),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!haveChromium) throw new Error(`${CHROMIUM} is required in CI (apt-get install chromium)`);
    const dir = await Deno.makeTempDir({ prefix: "serve_test_" });
    const checkpoint = sharedPath("golden/ssd300_voc.pth");
    let server: Deno.ChildProcess | undefined;
    try {
      await initBackend("wasm", null);
      const model = await loadCheckpointFile(checkpoint);
      try {
        await exportGraphModel(model, `${dir}/model`, {
          quantize: "none",
          classNames: exportClassNames(21, checkpoint),
          source: "ssd300_voc.pth",
        });
      } finally {
        disposeModel(model);
      }
      const det = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "detect",
          "--checkpoint",
          checkpoint,
          ...detectOneImageArgs(dir, `${FIXTURE_DIR}/PNGImages/${IMAGE}`),
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.deepEqual(det.code, 0, new TextDecoder().decode(det.stderr));
      const expected = DetectionsJsonSchema.parse(
        JSON.parse(await Deno.readTextFile(`${dir}/detections.json`)),
      );
      assert(expected.detections.length > 0);

      server = new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "serve",
          "--model",
          `${dir}/model`,
          "--images",
          `${FIXTURE_DIR}/PNGImages`,
          "--port",
          "0",
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const origin = await serverUrl(server, 120_000);

      const shotPath = `${dir}/canvas.png`;
      /** The page at `query` in headless Chromium (tests/web/chromium_page.ts): its state and its result. */
      const openPage = async (query: string, shot: string) => {
        const driver = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}tests/web/chromium_page.ts`, `${origin}/${query}`, shot],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.deepEqual(driver.code, 0, new TextDecoder().decode(driver.stderr));
        const page = JSON.parse(new TextDecoder().decode(driver.stdout));
        assert.deepEqual(page.state, "done", `${page.status} ${page.errors}`);
        const result = JSON.parse(page.detections);
        assert(result.ms > 0, `ms ${result.ms}`);
        console.log(
          `page: backend ${result.backend}, ${
            result.ms.toFixed(0)
          } ms, ${result.detections.length} detections`,
        );
        assertSameDetections(
          result.detections,
          comparablePixelDetections(expected.detections),
          0.99,
          1e-3,
          `page (${result.backend}) vs deno task detect`,
        );
        return { page, result };
      };
      const { page, result } = await openPage(`?image=/images/${IMAGE}`, shotPath);
      // with --disable-gpu Chromium's only WebGPU adapter is SwiftShader, a fallback one: never picked unasked
      assert(["webgl", "wasm", "cpu"].includes(result.backend), `backend ${result.backend}`);
      // ?backend=webgpu: the same detections on Chromium's WebGPU (its software adapter, SwiftShader, here)
      const onGpu = await openPage(`?backend=webgpu&image=/images/${IMAGE}`, `${dir}/gpu.png`);
      assert.deepEqual(onGpu.result.backend, "webgpu");
      const requests: string[] = page.requests;
      const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u));
      assert.deepEqual(foreign, [], "requests outside the local server");
      assert(
        requests.some((u) => u.startsWith(`${origin}/model/group1-shard1of`)),
        "weights came from /model/",
      );

      // the canvas shows the image and the boxes in the person colour
      const shot = decodeImage(await Deno.readFile(shotPath), shotPath);
      const [r, g, b] = classColor(15);
      let boxPixels = 0, sum = 0, sum2 = 0;
      const n = shot.width * shot.height;
      for (let p = 0; p < n; p++) {
        const [pr, pg, pb] = shot.data.subarray(p * 3, p * 3 + 3);
        if (Math.abs(pr - r) + Math.abs(pg - g) + Math.abs(pb - b) < 30) boxPixels++;
        const y = 0.299 * pr + 0.587 * pg + 0.114 * pb;
        sum += y;
        sum2 += y * y;
      }
      assert(shot.width >= 300, `canvas ${shot.width}×${shot.height}`);
      assert(boxPixels / n > 0.01, `box-coloured share ${(boxPixels / n).toFixed(4)}`);
      assert(sum2 / n - (sum / n) ** 2 > 100, "not blank");
    } finally {
      if (server) {
        try {
          server.kill("SIGTERM");
        } catch {
          // already exited (its own error is the one to see)
        }
        await server.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
