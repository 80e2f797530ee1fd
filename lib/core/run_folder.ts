/**
 * One writer per run folder, and all-or-nothing outputs.
 *
 * A task that writes a folder (its `--out`, or the folder of the file it writes) holds an exclusive OS lock on
 * `<folder>/.ssd300/lock` for its lifetime ({@link lockRunFolder}; `flock(2)` through `Deno.FsFile.tryLock`, released
 * by the kernel when the process dies, even by `kill -9`). A second task exits 1 naming the folder and the holder
 * (pid, task and start time, written into the lock file). Holding the lock proves that what a writer leaves in the
 * folder's bookkeeping (`.ssd300/`) and our `<file>.tmp-<pid>-<8 hex>` temps belong to a dead writer: they are
 * cleaned at once when the lock is taken.
 *
 * A task's set of files is written into `<folder>/.ssd300/staging/` ({@link RunFolder.staged}) and committed as
 * one ({@link RunFolder.commit}): a journal listing the set is written atomically, then every file is renamed
 * into place, then the journal is removed. A crash before the journal leaves the previous set untouched (the
 * staged files are discarded by the next holder); a crash after it is completed by the next holder of the lock
 * (roll forward). Outputs are renamed over what was there (never written into an existing file, so a hard link or
 * a symlink at the target is replaced, not followed); a folder on the way that is a symlink is refused, so a
 * commit never lands outside the folder.
 *
 * Composed tasks (`demo`, `experiments`) run child tasks that lock the folders they write; the composer itself
 * holds {@link lockComposedRun} (`.ssd300/compose.lock`, another file), so that two compositions into one folder
 * exclude each other without ever waiting on their own children.
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "./errors.ts";
import { knownIoError, naming } from "./io_errors.ts";
import { publicPath, RUN_META_DIR, STAGING_DIR } from "./paths.ts";
import { READ_LIMITS, readRegularTextFile } from "./read_file.ts";

const LOCK_FILE = `${RUN_META_DIR}/lock`;
const COMPOSE_LOCK_FILE = `${RUN_META_DIR}/compose.lock`;
const JOURNAL_FILE = `${RUN_META_DIR}/journal.json`;
/** Files this folder's writers committed, kept when a commit replaces a folder's contents (`replace`). */
const OUTPUTS_FILE = `${RUN_META_DIR}/outputs.json`;

/** The holder record of a lock file is a line of JSON. */
const META_LIMIT = { maxBytes: 64 * 1024, what: "a lock file" };

/** Our atomic-write temps (`<file>.tmp-<pid>-<8 hex>`, lib/core/artifacts.ts). */
export const TEMP_FILE = /\.tmp-\d+-[0-9a-f]{8}$/;
/** The half-written export folders of versions before run folders (`.<name>.partial-<pid>-<random>`). */
const OLD_PARTIAL_DIR = /^\..+\.partial-\d+-\w+$/;

/** Who holds a run folder's lock (written into the lock file). */
export interface LockHolder {
  pid: number;
  task: string;
  /** ISO time the lock was taken */
  started: string;
}

/** Another task holds the folder's lock. */
export class RunFolderBusyError extends InputError {
  override name = "RunFolderBusyError";
  constructor(readonly dir: string, readonly holder: LockHolder | null) {
    const who = holder
      ? `${holder.task} (pid ${holder.pid}, started ${holder.started})`
      : "another task (just starting)";
    super(
      `${dir}: another task is writing this folder: ${who}; wait until it ends, or choose another output folder`,
    );
  }
}

/** The output folder is a file, or a folder on the way to an output is a symlink. */
export class OutputFolderError extends InputError {
  override name = "OutputFolderError";
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/** Creates `dir` (and its parents) unless it is a folder; true when it was created. */
async function ensureFolder(dir: string): Promise<boolean> {
  const info = await naming(dir, () => statOrNull(dir)).catch((e) => {
    if (!(e instanceof Deno.errors.NotADirectory)) throw e;
    throw new OutputFolderError(`${dir}: a part of this path is a file, not a folder`);
  });
  if (info?.isDirectory) return false;
  if (info) throw new OutputFolderError(`${dir}: exists and is not a folder`);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory) {
      throw new OutputFolderError(`${dir}: a part of this path is a file, not a folder`);
    }
    throw knownIoError(e, dir) ?? e;
  }
  return true;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text);
    return typeof h?.pid === "number" && typeof h?.task === "string" ? h as LockHolder : null;
  } catch {
    return null;
  }
}

/** A held lock: the open lock file and how to give it back. */
class HeldLock {
  constructor(readonly path: string, readonly file: Deno.FsFile) {}

  /** Removes the lock file while it is still locked (a waiter then sees another inode and retries), then unlocks. */
  release(): void {
    try {
      Deno.removeSync(this.path);
    } catch {
      // already gone
    }
    this.file.close();
  }
}

/**
 * Takes the exclusive lock `<dir>/<name>` without waiting, and writes the holder into it. The lock file is
 * checked to be the one at the path after locking (a releasing holder removes it first): else it retries.
 * @throws RunFolderBusyError when another process (or another lock in this one) holds it
 */
async function takeLock(dir: string, name: string, task: string): Promise<HeldLock> {
  const path = join(dir, name);
  const meta = dirname(path);
  // the lock file is truncated and written: never through a link to someone else's file
  const notOurs = () => new OutputFolderError(`${path}: is not a plain file of ours (a link?); remove it`);
  for (let attempt = 0;; attempt++) {
    const metaInfo = await naming(dir, () => lstatOrNull(meta));
    if (metaInfo && !metaInfo.isDirectory) {
      throw new OutputFolderError(`${meta}: is not a folder (a link?); remove it`);
    }
    if (!metaInfo) await naming(dir, () => Deno.mkdir(meta, { recursive: true }));
    const before = await lstatOrNull(path);
    if (before && !before.isFile) throw notOurs();
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && attempt < 20) continue; // the meta folder went meanwhile
      throw knownIoError(e, dir) ?? e; // the folder is what the user named
    }
    if (!(await file.tryLock(true))) {
      file.close();
      const text = await readRegularTextFile(path, META_LIMIT).catch(() => "");
      throw new RunFolderBusyError(dir, parseHolder(text));
    }
    const [mine, there] = [await file.stat(), await lstatOrNull(path)];
    if (there === null || there.ino !== mine.ino || there.dev !== mine.dev) {
      file.close();
      if (there !== null && !there.isFile) throw notOurs();
      continue; // a released lock file (its holder removed it before unlocking): take the new one
    }
    if ((mine.nlink ?? 1) > 1) {
      file.close();
      throw notOurs();
    }
    const holder: LockHolder = { pid: Deno.pid, task, started: new Date().toISOString() };
    try {
      await file.truncate(0);
      await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
    } catch (e) {
      new HeldLock(path, file).release();
      throw knownIoError(e, path) ?? e;
    }
    return new HeldLock(path, file);
  }
}

/** The commit journal: the set's files (relative paths), what the commit removes, and the outputs record. */
interface Journal {
  version: 1;
  files: string[];
  remove: string[];
  /** the new record of committed files (null: not kept) */
  outputs: string[] | null;
}

/** Whether `rel` is a relative path inside a folder: no empty, `.` or `..` segment, not absolute, not ours. */
function isInside(rel: string): boolean {
  if (rel === "" || rel.startsWith("/") || rel.includes("\0")) return false;
  const parts = rel.split("/");
  return parts.every((p) => p !== "" && p !== "." && p !== "..") && parts[0] !== RUN_META_DIR;
}

function checkInside(rel: string): string {
  if (rel.split("/")[0] === RUN_META_DIR) {
    throw new OutputFolderError(`${rel}: the name ${RUN_META_DIR} is kept for the writer's bookkeeping`);
  }
  if (!isInside(rel)) throw new Error(`not a path inside a run folder: ${JSON.stringify(rel)} (a bug)`);
  return rel;
}

/** Whether every folder on the way from `dir` to `rel` is a real folder (or absent): no symlink, no file. */
async function realFolders(dir: string, rel: string): Promise<boolean> {
  const parts = rel.split("/");
  for (let i = 1; i < parts.length; i++) {
    const info = await lstatOrNull(join(dir, ...parts.slice(0, i)));
    if (info === null) return true;
    if (!info.isDirectory) return false;
  }
  return true;
}

/** Relative paths of the files below `root` (recursively), sorted. */
async function filesBelow(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(rel ? join(root, rel) : root));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(child);
      else out.push(child);
    }
  }
  await walk("");
  return out.sort();
}

/**
 * A run folder whose lock this process holds ({@link lockRunFolder}): stage the files of the next set, commit them
 * as one, release. `await using folder = await lockRunFolder(…)` releases it at the end of the scope.
 */
export class RunFolder {
  #lock: HeldLock | null;
  #staged = false;
  /** What taking the lock cleaned up after a dead writer, one line each ({@link lockRunFolder}). */
  recovered: string[] = [];

  /** @internal use {@link lockRunFolder} */
  constructor(readonly dir: string, readonly task: string, lock: HeldLock, readonly created: boolean) {
    this.#lock = lock;
  }

  /** Whether the lock is still held. */
  get held(): boolean {
    return this.#lock !== null;
  }

  #check(): void {
    if (!this.#lock) throw new Error(`${this.dir}: the run folder was released (a bug)`);
  }

  /**
   * The path to write file `rel` (a path relative to the folder, e.g. `preview/a.png`) of the next set; its
   * folders are created. Nothing is visible at `<dir>/<rel>` until {@link commit}.
   */
  staged(rel: string): string {
    this.#check();
    const path = join(this.dir, STAGING_DIR, checkInside(rel));
    try {
      Deno.mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw knownIoError(e, path) ?? e;
    }
    this.#staged = true;
    return path;
  }

  /**
   * The staging folder itself, for a writer that takes a folder (it writes `<that>/train-log.json`, …): what it
   * writes there is committed as if each file had been {@link staged}.
   */
  stagingDir(): string {
    this.#check();
    const path = join(this.dir, STAGING_DIR);
    try {
      Deno.mkdirSync(path, { recursive: true });
    } catch (e) {
      throw knownIoError(e, path) ?? e;
    }
    this.#staged = true;
    return path;
  }

  /** The path of `rel` in the folder (where a staged file lands). */
  path(rel: string): string {
    return join(this.dir, checkInside(rel));
  }

  /** Refuses a symlinked folder on the way to `rel` and a folder where a file goes. */
  async #checkTarget(rel: string, isFile: boolean): Promise<void> {
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const path = join(this.dir, ...parts.slice(0, i));
      const info = await lstatOrNull(path);
      if (info === null) return;
      const last = i === parts.length;
      if (!last && info.isSymlink) {
        throw new OutputFolderError(
          `${path}: is a symbolic link; outputs are written only inside ${this.dir} (remove the link)`,
        );
      }
      if (!last && !info.isDirectory) throw new OutputFolderError(`${path}: exists and is not a folder`);
      if (last && isFile && info.isDirectory) {
        throw new OutputFolderError(`${path}: is a folder; it cannot be replaced by a file`);
      }
    }
  }

  /**
   * Commits the staged files as one set: they replace the files of the same names, and nothing else changes
   * unless asked.
   * @param opts.replace folders (relative) whose earlier committed files (recorded in `.ssd300/outputs.json`) that
   *   are not in this set are removed — files this folder's writers did not write are never removed
   * @param opts.remove relative paths (files or folders) removed as part of the commit
   * @returns the committed files, as paths in the folder
   */
  async commit(opts: { replace?: readonly string[]; remove?: readonly string[] } = {}): Promise<string[]> {
    this.#check();
    const staging = join(this.dir, STAGING_DIR);
    const files = this.#staged ? await naming(staging, () => filesBelow(staging)) : [];
    for (const rel of files) await this.#checkTarget(rel, true);
    const remove = (opts.remove ?? []).map(checkInside);
    for (const rel of remove) await this.#checkTarget(rel, false);
    const replace = (opts.replace ?? []).map(checkInside);
    const recorded = await readOutputs(this.dir);
    let outputs: string[] | null = null;
    if (replace.length > 0 || recorded !== null) {
      const fresh = new Set(files);
      const under = (rel: string, dir: string) => rel.startsWith(`${dir}/`);
      for (const rel of recorded ?? []) {
        if (!fresh.has(rel) && replace.some((d) => under(rel, d))) remove.push(rel);
      }
      const gone = (rel: string) => remove.some((r) => rel === r || under(rel, r));
      outputs = [...new Set([...(recorded ?? []), ...files])].filter((rel) => !gone(rel)).sort();
    }
    if (files.length === 0 && remove.length === 0) return [];
    const journal: Journal = { version: 1, files, remove, outputs };
    await writeJournal(this.dir, journal);
    await rollForward(this.dir, journal);
    this.#staged = false;
    return files.map((rel) => join(this.dir, rel));
  }

  /** Discards what is staged and not committed. */
  async discard(): Promise<void> {
    await Deno.remove(join(this.dir, STAGING_DIR), { recursive: true }).catch(() => {});
    this.#staged = false;
  }

  /**
   * Gives the lock back: discards uncommitted staged files, removes the lock file (and `.ssd300/` when it is
   * empty, and the folder itself when this lock created it and it is empty). Idempotent.
   */
  async release(): Promise<void> {
    if (!this.#lock) return;
    if (this.#staged) await this.discard();
    else await Deno.remove(join(this.dir, STAGING_DIR), { recursive: true }).catch(() => {});
    this.#lock.release();
    this.#lock = null;
    await Deno.remove(join(this.dir, RUN_META_DIR)).catch(() => {}); // only when empty
    if (this.created) await Deno.remove(this.dir).catch(() => {}); // only when empty
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

async function readOutputs(dir: string): Promise<string[] | null> {
  let text: string;
  try {
    text = await readRegularTextFile(join(dir, OUTPUTS_FILE), READ_LIMITS.json);
  } catch {
    return null;
  }
  try {
    const list = JSON.parse(text);
    return Array.isArray(list) ? list.filter((r): r is string => typeof r === "string" && isInside(r)) : null;
  } catch {
    return null; // a damaged record: nothing is removed by it
  }
}

/** Writes a small bookkeeping file of `.ssd300/` atomically (temp in the same folder, then rename). */
async function writeMetaFile(dir: string, rel: string, text: string): Promise<void> {
  const path = join(dir, rel);
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw knownIoError(e, path) ?? e;
  }
}

async function writeJournal(dir: string, journal: Journal): Promise<void> {
  await writeMetaFile(dir, JOURNAL_FILE, JSON.stringify(journal));
}

/**
 * Completes a commit (idempotent, so a crash anywhere in it is completed by running it again): moves every staged
 * file of the journal that is still staged into place, removes what the commit removes, records the outputs,
 * removes the journal.
 */
async function rollForward(dir: string, journal: Journal): Promise<void> {
  const staging = join(dir, STAGING_DIR);
  for (const rel of journal.files) {
    const from = join(staging, rel), to = join(dir, rel);
    if ((await lstatOrNull(from)) === null) continue; // moved before a crash
    if (!(await realFolders(dir, rel))) continue; // never through a link (a commit refuses it first)
    await naming(to, () => Deno.mkdir(dirname(to), { recursive: true }));
    await naming(to, () => Deno.rename(from, to));
  }
  for (const rel of journal.remove) {
    if (!(await realFolders(dir, rel))) continue;
    await Deno.remove(join(dir, rel), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw knownIoError(e, join(dir, rel)) ?? e;
    });
    // folders the removal emptied go too (up to the run folder; a folder with anything in it stays)
    for (let up = dirname(rel); up !== "." && up !== ""; up = dirname(up)) {
      if (!(await Deno.remove(join(dir, up)).then(() => true, () => false))) break;
    }
  }
  if (journal.outputs !== null) await writeMetaFile(dir, OUTPUTS_FILE, JSON.stringify(journal.outputs));
  await Deno.remove(join(dir, JOURNAL_FILE)).catch(() => {});
  await Deno.remove(staging, { recursive: true }).catch(() => {});
}

/**
 * What a dead writer left, cleaned by the new holder of the lock: a commit it started is completed (its journal
 * rolled forward), its uncommitted staged files are removed, and so are our `*.tmp-<pid>-<hex>` temps in the
 * folder itself and in `.ssd300/`.
 * @returns what was done, one line each (for tests and `--debug`)
 */
async function recover(dir: string): Promise<string[]> {
  const done: string[] = [];
  const journalPath = join(dir, JOURNAL_FILE);
  let journal: Journal | null = null;
  try {
    const parsed = JSON.parse(await readRegularTextFile(journalPath, READ_LIMITS.json));
    if (parsed?.version === 1 && Array.isArray(parsed.files) && Array.isArray(parsed.remove)) {
      journal = {
        version: 1,
        files: parsed.files.filter((r: unknown) => typeof r === "string" && isInside(r)),
        remove: parsed.remove.filter((r: unknown) => typeof r === "string" && isInside(r)),
        outputs: Array.isArray(parsed.outputs)
          ? parsed.outputs.filter((r: unknown) => typeof r === "string" && isInside(r))
          : null,
      };
    }
  } catch {
    // none, or not a file of ours (a FIFO planted there is not read: bounded reads); written by rename, it is
    // never partial
  }
  if (journal) {
    await rollForward(dir, journal);
    done.push(`completed an interrupted commit of ${journal.files.length} file(s)`);
  }
  await Deno.remove(journalPath).catch(() => {});
  const staging = join(dir, STAGING_DIR);
  if ((await lstatOrNull(staging)) !== null) {
    await naming(staging, () => Deno.remove(staging, { recursive: true }));
    done.push("removed the uncommitted files of an interrupted run");
  }
  for (const folder of [dir, join(dir, RUN_META_DIR)]) {
    for await (const e of Deno.readDir(folder)) {
      if (!TEMP_FILE.test(e.name) && !(e.isDirectory && OLD_PARTIAL_DIR.test(e.name))) continue;
      await Deno.remove(join(folder, e.name), { recursive: true }).catch(() => {});
      done.push(`removed ${publicPath(join(folder, e.name))}`);
    }
  }
  return done;
}

/**
 * Takes the exclusive lock of run folder `dir` for `task` (creating the folder when needed), then cleans what a
 * dead writer left there (see the module doc). Hold it for the task's lifetime: `await using folder = await
 * lockRunFolder(out, "finetune")`.
 * @throws RunFolderBusyError naming the folder and the holder when another task holds it; OutputFolderError when
 *   `dir` is a file; FileSystemError (read-only file system, no space, …) naming the path
 */
export async function lockRunFolder(dir: string, task: string): Promise<RunFolder> {
  const created = await ensureFolder(dir);
  let lock: HeldLock;
  try {
    lock = await takeLock(dir, LOCK_FILE, task);
  } catch (e) {
    if (created) {
      await Deno.remove(join(dir, RUN_META_DIR)).catch(() => {});
      await Deno.remove(dir).catch(() => {});
    }
    throw e;
  }
  const folder = new RunFolder(dir, task, lock, created);
  try {
    folder.recovered = await recover(dir);
  } catch (e) {
    await folder.release();
    throw knownIoError(e) ?? e;
  }
  return folder;
}

/** A composed task's lock on its output folder ({@link lockComposedRun}). */
export interface ComposedRunLock extends AsyncDisposable {
  readonly dir: string;
  release(): void;
}

/**
 * The lock of a composed task (`demo`, `experiments`) on its output folder: another file than the writers' lock
 * (`.ssd300/compose.lock`), so its child tasks lock the folders they write as usual while a second composition
 * into the same folder exits 1 at once, naming the first.
 * @throws RunFolderBusyError, OutputFolderError, FileSystemError as {@link lockRunFolder}
 */
export async function lockComposedRun(dir: string, task: string): Promise<ComposedRunLock> {
  await ensureFolder(dir);
  const lock = await takeLock(dir, COMPOSE_LOCK_FILE, task);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    lock.release();
    try {
      Deno.removeSync(join(dir, RUN_META_DIR)); // only when empty
    } catch {
      // not empty, or gone
    }
  };
  return { dir, release, [Symbol.asyncDispose]: () => Promise.resolve(release()) };
}

/**
 * Runs `fn` with run folder `dir` locked for `task` for its duration, unless the caller already holds it
 * (`held`: then with that one, which stays held).
 */
export async function withRunFolder<T>(
  held: RunFolder | undefined,
  dir: string,
  task: string,
  fn: (folder: RunFolder) => Promise<T>,
): Promise<T> {
  if (held) return await fn(held);
  await using folder = await lockRunFolder(dir, task);
  return await fn(folder);
}

/**
 * Output files the user names (`report --out report.html`, `detect --out a.png --json a.json`): the folder of each
 * locked ({@link lockRunFolder}; one lock for files in the same folder), each file staged, all committed
 * together — one set per folder, the folders in the order of the paths (put the file that says the others are
 * complete last).
 */
export class OutputFiles implements AsyncDisposable {
  /** @internal use {@link lockOutputFiles} */
  constructor(
    readonly paths: readonly string[],
    readonly folders: readonly RunFolder[],
    readonly folderOf: RunFolder[],
  ) {}

  #folder(path: string): RunFolder {
    const i = this.paths.indexOf(path);
    if (i < 0) throw new Error(`${path} is not one of the output files ${this.paths.join(", ")} (a bug)`);
    return this.folderOf[i];
  }

  /** Where to write output file `path` (one of those locked). */
  staged(path: string): string {
    return this.#folder(path).staged(basename(path));
  }

  /** Commits every folder's staged files (in the order of the paths). */
  async commit(): Promise<void> {
    for (const folder of this.folders) await folder.commit();
  }

  /** Releases every folder (uncommitted files are discarded). */
  async release(): Promise<void> {
    for (const folder of [...this.folders].reverse()) await folder.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** The real path of an existing folder, else its absolute spelling. */
async function folderIdentity(dir: string): Promise<string> {
  return await Deno.realPath(dir).catch(() => resolve(dir));
}

/**
 * Locks the folders of output files `paths` for `task` ({@link OutputFiles}); a folder named twice (or by two
 * spellings) is locked once.
 * @throws as {@link lockRunFolder}
 */
export async function lockOutputFiles(task: string, paths: readonly string[]): Promise<OutputFiles> {
  const folders: RunFolder[] = [];
  const ids: string[] = [];
  const folderOf: RunFolder[] = [];
  try {
    for (const path of paths) {
      const dir = dirname(path);
      const id = await folderIdentity(dir);
      let i = ids.indexOf(id);
      if (i < 0) {
        folders.push(await lockRunFolder(dir, task));
        ids.push(await folderIdentity(dir)); // exists now: its real path
        i = ids.length - 1;
      }
      folderOf.push(folders[i]);
    }
  } catch (e) {
    for (const f of folders.reverse()) await f.release();
    throw e;
  }
  return new OutputFiles(paths, folders, folderOf);
}
