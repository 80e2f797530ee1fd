import assert from "node:assert/strict";
import { DATASET_URL_ENV, readDataset } from "../../lib/data/mod.ts";
import { DownloadError, downloadToCache } from "../../lib/data/download.ts";
import { runPrepare } from "../../tasks/prepare.ts";
import { exists, sha256Hex } from "../../lib/core/mod.ts";
import { readFixtureFiles, zipFiles } from "../helpers.ts";

/**
 * A local HTTP server on 127.0.0.1 serving `body` at:
 * - /data.zip      the whole body with ETag `etag`; honours `Range: bytes=N-` with 206 + Content-Range when
 *                  If-Range equals the current ETag (else 200 and the whole body)
 * - /cut.zip       Content-Length of the whole body, but the body ends after `cutAt` bytes (connection closed)
 * - anything else  404
 */
function serve(body: Uint8Array, cutAt: number, etag = '"v1"') {
  const requests: { path: string; range: string | null; ifRange: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const range = req.headers.get("range");
    requests.push({ path, range, ifRange: req.headers.get("if-range") });
    const headers = { "content-type": "application/zip", etag };
    if (path === "/data.zip") {
      const m = range && req.headers.get("if-range") === etag ? /^bytes=(\d+)-$/.exec(range) : null;
      if (m) {
        const start = Number(m[1]);
        if (start >= body.length) return new Response(null, { status: 416 });
        return new Response(body.slice(start) as Uint8Array<ArrayBuffer>, {
          status: 206,
          headers: { ...headers, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` },
        });
      }
      return new Response(body as Uint8Array<ArrayBuffer>, { headers });
    }
    if (path === "/cut.zip") {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(body.slice(0, cutAt));
          c.close();
        },
      });
      return new Response(stream, { headers: { ...headers, "content-length": String(body.length) } });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    url: (p: string) => `http://127.0.0.1:${server.addr.port}${p}`,
    requests,
    close: () => server.shutdown(),
  };
}

async function withSetup(
  fn: (ctx: { zip: Uint8Array; sha: string; srv: ReturnType<typeof serve>; cache: string }) => Promise<void>,
): Promise<void> {
  const zip = zipFiles(await readFixtureFiles());
  const srv = serve(zip, Math.floor(zip.length / 3));
  const cache = await Deno.makeTempDir({ prefix: "download_test_" });
  try {
    await fn({ zip, sha: await sha256Hex(zip), srv, cache });
  } finally {
    await srv.close();
    await Deno.remove(cache, { recursive: true });
  }
}

Deno.test("downloadToCache() downloads into the cache with progress, then serves it from the cache", async () => {
  await withSetup(async ({ zip, sha, srv, cache }) => {
    const progress: number[] = [];
    const first = await downloadToCache(srv.url("/data.zip"), {
      cacheDir: cache,
      sha256: sha,
      progressIntervalMs: 0,
      onProgress: (p) => {
        progress.push(p.received);
        assert.equal(p.total, zip.length);
      },
    });
    assert.deepEqual(first, { path: `${cache}/data.zip`, sha256: sha, bytes: zip.length, fromCache: false });
    assert.deepEqual(await Deno.readFile(first.path), zip);
    assert.equal(progress.at(-1), zip.length);
    assert.ok(!await exists(`${cache}/data.zip.part`));
    const second = await downloadToCache(srv.url("/data.zip"), { cacheDir: cache });
    assert.equal(second.fromCache, true);
    assert.equal(srv.requests.length, 1, "the cached copy needs no request");
  });
});

Deno.test("downloadToCache() never mistakes a broken-off download for a complete one, and resumes it", async () => {
  await withSetup(async ({ zip, sha, srv, cache }) => {
    // The server's body ends after a third of its Content-Length.
    await assert.rejects(
      () => downloadToCache(srv.url("/cut.zip"), { cacheDir: cache, fileName: "data.zip" }),
      (e) => e instanceof DownloadError && /connection lost after|incomplete download/.test(e.message),
    );
    assert.ok(!await exists(`${cache}/data.zip`), "no final file after a failed download");
    const part = await Deno.readFile(`${cache}/data.zip.part`);
    assert.ok(part.length > 0 && part.length < zip.length);
    // The next attempt resumes from the .part with a Range request and completes.
    const partLength = (await Deno.stat(`${cache}/data.zip.part`)).size;
    const done = await downloadToCache(srv.url("/data.zip"), { cacheDir: cache, sha256: sha });
    assert.equal(srv.requests.at(-1)!.range, `bytes=${partLength}-`);
    assert.equal(srv.requests.at(-1)!.ifRange, '"v1"');
    assert.equal(done.sha256, sha);
    assert.deepEqual(await Deno.readFile(done.path), zip);
    assert.ok(!await exists(`${cache}/data.zip.part`));
  });
});

Deno.test("downloadToCache() does not resume a .part when the server's file changed or has no validator", async () => {
  await withSetup(async ({ zip, srv, cache }) => {
    await assert.rejects(() =>
      downloadToCache(srv.url("/cut.zip"), { cacheDir: cache, fileName: "data.zip" })
    );
    assert.ok(await exists(`${cache}/data.zip.part`));
    // Another server now holds a different file under a new ETag: it ignores the Range (If-Range fails).
    const changed = zip.slice().reverse();
    const srv2 = serve(changed, 10, '"v2"');
    try {
      const got = await downloadToCache(srv2.url("/data.zip"), { cacheDir: cache });
      assert.equal(srv2.requests[0].ifRange, '"v1"');
      assert.deepEqual(await Deno.readFile(got.path), changed, "the whole new file, not old head + new tail");
    } finally {
      await srv2.close();
    }
    // A .part with no recorded validator is not resumed at all.
    await Deno.writeFile(`${cache}/other.zip.part`, zip.slice(0, 50));
    const other = await downloadToCache(srv.url("/data.zip"), { cacheDir: cache, fileName: "other.zip" });
    assert.equal(srv.requests.at(-1)!.range, null);
    assert.deepEqual(await Deno.readFile(other.path), zip);
  });
});

Deno.test("downloadToCache() rejects a checksum mismatch and an HTTP error, leaving no final file", async () => {
  await withSetup(async ({ srv, cache }) => {
    await assert.rejects(
      () => downloadToCache(srv.url("/data.zip"), { cacheDir: cache, sha256: "0".repeat(64) }),
      (e) => e instanceof DownloadError && /SHA-256 .* differs/.test(e.message),
    );
    assert.ok(!await exists(`${cache}/data.zip`));
    assert.ok(!await exists(`${cache}/data.zip.part`), "a mismatching download is discarded, not resumed");
    await assert.rejects(
      () => downloadToCache(srv.url("/missing.zip"), { cacheDir: cache }),
      (e) => e instanceof DownloadError && /HTTP 404/.test(e.message),
    );
    assert.ok(!await exists(`${cache}/missing.zip`));
  });
});

Deno.test("downloadToCache() downloads again when the cached file no longer matches its recorded hash", async () => {
  await withSetup(async ({ zip, srv, cache }) => {
    const first = await downloadToCache(srv.url("/data.zip"), { cacheDir: cache });
    await Deno.writeFile(first.path, zip.slice(0, 100)); // damaged cache
    const again = await downloadToCache(srv.url("/data.zip"), { cacheDir: cache });
    assert.equal(again.fromCache, false);
    assert.deepEqual(await Deno.readFile(again.path), zip);
    assert.equal(srv.requests.length, 2);
  });
});

/** A port that was just free: nothing listens there. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("downloadToCache() fails at once when the server cannot be reached, with the hint", async () => {
  const port = freePort();
  const cache = await Deno.makeTempDir();
  try {
    const started = performance.now();
    await assert.rejects(
      () =>
        downloadToCache(`http://127.0.0.1:${port}/PennFudanPed.zip`, {
          cacheDir: cache,
          offlineHint: "Offline? Pass --data",
        }),
      (e) => e instanceof DownloadError && /network error/.test(e.message) && /Pass --data/.test(e.message),
    );
    assert.ok(performance.now() - started < 5000, "fails fast");
    assert.ok(!await exists(`${cache}/PennFudanPed.zip`));
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("runPrepare() with an http URL as --data downloads it and records the URL and SHA-256", async () => {
  await withSetup(async ({ sha, srv, cache }) => {
    const out = `${cache}/run`;
    const s = await runPrepare([
      "--data",
      srv.url("/data.zip"),
      "--out",
      out,
      "--cache-dir",
      cache,
      "--quiet",
    ]);
    const ds = await readDataset(s.datasetPath);
    assert.equal(ds.origin.url, srv.url("/data.zip"));
    assert.equal(ds.origin.sha256, sha);
    assert.equal(ds.origin.path, await Deno.realPath(`${cache}/data.zip`));
    assert.equal(ds.counts.images, 12);
  });
});

async function withEnv(name: string, value: string, fn: () => Promise<void>): Promise<void> {
  const before = Deno.env.get(name);
  Deno.env.set(name, value);
  try {
    await fn();
  } finally {
    if (before === undefined) Deno.env.delete(name);
    else Deno.env.set(name, before);
  }
}

Deno.test("runPrepare() without --data downloads the default URL (here a local mirror) into the cache", async () => {
  await withSetup(async ({ sha, srv, cache }) => {
    await withEnv(DATASET_URL_ENV, srv.url("/data.zip"), async () => {
      const s = await runPrepare(["--out", `${cache}/run`, "--cache-dir", cache, "--quiet"]);
      assert.equal(s.dataset.origin.url, srv.url("/data.zip"));
      assert.equal(s.dataset.origin.sha256, sha);
      // The second run uses the cache: no further request.
      await runPrepare(["--out", `${cache}/run2`, "--cache-dir", cache, "--quiet"]);
      assert.equal(srv.requests.length, 1);
    });
  });
});

Deno.test("runPrepare() without --data fails at once when offline, saying to pass --data, and writes nothing", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir();
  try {
    await withEnv(DATASET_URL_ENV, `http://127.0.0.1:${port}/PennFudanPed.zip`, async () => {
      const started = performance.now();
      await assert.rejects(
        () => runPrepare(["--out", `${dir}/run`, "--cache-dir", `${dir}/cache`, "--quiet"]),
        (e) => e instanceof DownloadError && /pass --data/i.test(e.message),
      );
      assert.ok(performance.now() - started < 5000, "fails fast");
    });
    assert.ok(!await exists(`${dir}/run/dataset.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
