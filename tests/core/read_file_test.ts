/**
 * Bounded reads (lib/core/read_file.ts): regular files only — a FIFO is refused without opening it (no hang), a
 * device such as /dev/zero without reading it — sizes checked before reading, and files that grow past the limit
 * while read (a /proc file reports size 0) stopped at the limit.
 */
import assert from "node:assert/strict";
import {
  FileReadError,
  formatBytes,
  READ_LIMITS,
  readJsonFile,
  readRegularFile,
  readRegularFileSync,
  readRegularTextFile,
} from "../../lib/core/mod.ts";
import { withTempDir } from "../helpers.ts";

/** Makes a FIFO at `path` (mkfifo(1)); opening it for reading would block until a writer comes. */
async function mkfifo(path: string): Promise<void> {
  const { code } = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(code, 0, "mkfifo failed");
}

const LIMIT = { maxBytes: 100, what: "a test file" };

/** Both readers on `path`: the same bytes, or the same refusal. */
async function readBoth(path: string, limit = LIMIT): Promise<Uint8Array> {
  let sync: Uint8Array | FileReadError;
  try {
    sync = readRegularFileSync(path, limit);
  } catch (e) {
    sync = e as FileReadError;
  }
  try {
    const bytes = await readRegularFile(path, limit);
    assert.deepEqual(sync, bytes);
    return bytes;
  } catch (e) {
    assert.ok(e instanceof FileReadError, String(e));
    assert.ok(sync instanceof FileReadError, "the sync reader read it");
    assert.equal(sync.message, e.message);
    throw e;
  }
}

Deno.test("readRegularFile() reads a regular file and a symlink to one, whole", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.txt`, "hello");
    await Deno.symlink(`${dir}/a.txt`, `${dir}/link.txt`);
    await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
    assert.equal(new TextDecoder().decode(await readBoth(`${dir}/a.txt`)), "hello");
    assert.equal(new TextDecoder().decode(await readBoth(`${dir}/link.txt`)), "hello");
    assert.equal((await readBoth(`${dir}/empty`)).length, 0);
    const exact = new Uint8Array(100).fill(7);
    await Deno.writeFile(`${dir}/exact`, exact);
    assert.deepEqual(await readBoth(`${dir}/exact`), exact);
    assert.equal(await readRegularTextFile(`${dir}/a.txt`, LIMIT), "hello");
  });
});

Deno.test("readRegularFile() refuses a FIFO at once, without opening it (no hang)", async () => {
  await withTempDir(async (dir) => {
    await mkfifo(`${dir}/pipe.json`);
    await Deno.symlink(`${dir}/pipe.json`, `${dir}/to-pipe.json`);
    const t0 = performance.now();
    for (const path of [`${dir}/pipe.json`, `${dir}/to-pipe.json`]) {
      await assert.rejects(
        () => readBoth(path),
        new RegExp(`^FileReadError: ${path}: is a FIFO \\(named pipe\\), not a regular file$`),
      );
    }
    // the JSON artifact reader goes through it too
    await assert.rejects(() => readJsonFile(`${dir}/pipe.json`), /pipe\.json: cannot read: is a FIFO/);
    assert.ok(performance.now() - t0 < 5000);
  });
});

Deno.test("readRegularFile() refuses /dev/zero, a symlink to it and a directory without reading them", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink("/dev/zero", `${dir}/zero.png`);
    await assert.rejects(
      () => readBoth("/dev/zero"),
      /\/dev\/zero: is a character device, not a regular file/,
    );
    await assert.rejects(() => readBoth(`${dir}/zero.png`), /zero\.png: is a character device/);
    await assert.rejects(() => readBoth(dir), /is a directory, not a regular file/);
    await assert.rejects(() => readBoth(`${dir}/missing`), /missing: no such file or directory$/);
  });
});

Deno.test("readRegularFile() refuses a file over the limit from its size, before reading it", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/big`, new Uint8Array(101));
    await assert.rejects(
      () => readBoth(`${dir}/big`),
      new RegExp(`big: is 101 bytes \\(101 bytes\\), over the 100 bytes limit for a test file$`),
    );
    // a sparse 3 GiB file: refused from its size in no time (reading it would take GBs of memory)
    const file = await Deno.open(`${dir}/huge.pth`, { write: true, create: true });
    await file.truncate(3 * 1024 ** 3);
    file.close();
    const t0 = performance.now();
    await assert.rejects(
      () => readRegularFile(`${dir}/huge.pth`, READ_LIMITS.model),
      /huge\.pth: is 3221225472 bytes \(3 GiB\), over the 2 GiB limit for a model file/,
    );
    assert.ok(performance.now() - t0 < 1000);
  });
});

Deno.test("readRegularFile() stops a file that reports a size of 0 but is longer (/proc) at the limit", async () => {
  const status = "/proc/self/status";
  if (!(await Deno.stat(status).then((s) => s.isFile && s.size === 0, () => false))) return; // not Linux
  // its content changes from read to read: each reader on its own
  for (
    const bytes of [
      await readRegularFile(status, READ_LIMITS.list),
      readRegularFileSync(status, READ_LIMITS.list),
    ]
  ) {
    assert.match(new TextDecoder().decode(bytes), /^Name:[^]*\nVmRSS:/);
  }
  await assert.rejects(
    () => readBoth(status, { maxBytes: 10, what: "a status file" }),
    /status: grew past the 10 bytes limit for a status file while being read/,
  );
});

Deno.test("formatBytes() and READ_LIMITS state the limits in words", () => {
  assert.deepEqual(
    [formatBytes(1), formatBytes(1536), formatBytes(512 * 1024 ** 2), formatBytes(2 * 1024 ** 3)],
    ["1 byte", "1.5 KiB", "512 MiB", "2 GiB"],
  );
  assert.deepEqual(
    Object.fromEntries(Object.entries(READ_LIMITS).map(([k, v]) => [k, formatBytes(v.maxBytes)])),
    { json: "512 MiB", list: "64 MiB", image: "512 MiB", model: "2 GiB", archive: "2 GiB" },
  );
});
