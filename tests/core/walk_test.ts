/**
 * The one folder walk (lib/core/walk.ts) on crafted trees: symlink loops (`ln -s .`, a link to an ancestor, two
 * links to each other), links out of the root, links and hard links to files already listed, FIFOs, dangling
 * links — it always ends, never leaves the root, lists each file once.
 */
import assert from "node:assert/strict";
import { FileReadError, MAX_WALK_ENTRIES, walkFiles } from "../../lib/core/mod.ts";
import { withTempDir } from "../helpers.ts";

async function touch(path: string, text = path): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text);
}

Deno.test("walkFiles() lists regular files folder by folder, skipping hidden entries", async () => {
  await withTempDir(async (dir) => {
    for (const f of ["b.png", "a/x.png", "a-b/y.png", "a/c/z.png", ".hidden.png", ".git/k.png"]) {
      await touch(`${dir}/${f}`);
    }
    assert.deepEqual(await walkFiles(dir), {
      files: ["a/c/z.png", "a/x.png", "a-b/y.png", "b.png"],
      outside: [],
    });
    assert.deepEqual((await walkFiles(`${dir}/`, { maxDepth: 0 })).files, ["b.png"]);
    assert.deepEqual((await walkFiles(dir, { maxDepth: 1 })).files, ["a/x.png", "a-b/y.png", "b.png"]);
  });
});

Deno.test("walkFiles() ends on symlink loops and lists each file once: ln -s ., a link to an ancestor, two links to each other", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/photos`;
    await touch(`${root}/a.png`);
    await touch(`${root}/sub/b.png`);
    await Deno.symlink(".", `${root}/loop`); // ln -s . loop
    await Deno.symlink("..", `${root}/sub/up`); // back to the root
    await Deno.symlink("l2", `${root}/l1`); // l1 → l2 → l1
    await Deno.symlink("l1", `${root}/l2`);
    const t0 = performance.now();
    const walked = await walkFiles(root);
    assert.deepEqual(walked, { files: ["a.png", "sub/b.png"], outside: [] });
    assert.ok(performance.now() - t0 < 5000);
  });
});

Deno.test("walkFiles() never leaves the root through a symlink, and names the links it did not follow", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/photos`;
    await touch(`${root}/a.png`);
    await touch(`${dir}/secret/key.png`);
    await Deno.symlink(`${dir}/secret`, `${root}/elsewhere`); // a folder outside
    await Deno.symlink(`${dir}/secret/key.png`, `${root}/key.png`); // a file outside
    await Deno.symlink("/", `${root}/slash`);
    await Deno.symlink("/dev/zero", `${root}/zero.png`);
    await Deno.symlink("../photos-x", `${root}/sibling`); // a prefix of the root's name is not inside it
    await touch(`${dir}/photos-x/s.png`);
    assert.deepEqual(await walkFiles(root), {
      files: ["a.png"],
      outside: ["elsewhere", "key.png", "sibling", "slash", "zero.png"],
    });
    // a root that is itself a symlink is followed (the user named it)
    await Deno.symlink(root, `${dir}/via-link`);
    assert.deepEqual((await walkFiles(`${dir}/via-link`)).files, ["a.png"]);
  });
});

Deno.test("walkFiles() follows links inside the root, and lists a file once under its own name", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/data`;
    await touch(`${root}/real/a.png`);
    await touch(`${root}/.store/deep/b.png`);
    await Deno.symlink("real", `${root}/0-alias`); // a folder walked under its own name, though met first
    await Deno.symlink(".store/deep", `${root}/linked`); // the only way into the hidden .store
    await Deno.symlink("real/a.png", `${root}/0-copy.png`); // a second name for a file
    await Deno.link(`${root}/real/a.png`, `${root}/z-hard.png`); // a hard link: the same file, met later
    await Deno.symlink("nowhere.png", `${root}/dangling.png`);
    const { files, outside } = await walkFiles(root);
    assert.deepEqual(outside, []);
    // real/a.png keeps its own name; 0-copy.png (a link) and z-hard.png (the same inode) are left out
    assert.deepEqual(files, ["linked/b.png", "real/a.png"]);
  });
});

Deno.test("walkFiles() leaves out FIFOs and devices, and names a missing root", async () => {
  await withTempDir(async (dir) => {
    await touch(`${dir}/a.png`);
    const { code } = await new Deno.Command("mkfifo", { args: [`${dir}/pipe.png`] }).output();
    assert.equal(code, 0);
    assert.deepEqual((await walkFiles(dir)).files, ["a.png"]);
    await assert.rejects(
      () => walkFiles(`${dir}/nope`),
      (e) => e instanceof FileReadError && /nope: cannot list: no such file or directory/.test(e.message),
    );
    await assert.rejects(() => walkFiles(`${dir}/a.png`), /a\.png: not a folder/);
  });
});

Deno.test("walkFiles() gives up on a folder of more than maxEntries entries (the default is 2,000,000)", async () => {
  await withTempDir(async (dir) => {
    for (const f of ["a.png", "b.png", "sub/c.png"]) await touch(`${dir}/${f}`);
    assert.equal((await walkFiles(dir, { maxEntries: 4 })).files.length, 3);
    await assert.rejects(
      () => walkFiles(dir, { maxEntries: 3 }),
      new RegExp(`${dir}: holds more than 3 entries; give a smaller folder`),
    );
    assert.equal(MAX_WALK_ENTRIES, 2_000_000);
  });
});
