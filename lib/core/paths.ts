/**
 * Path text the tasks derive from what users type: one spelling of a folder however many slashes end it, and the
 * one way an output name is derived from an input name ({@link OutputNames}: inside the output folder, unique).
 * No Deno APIs here.
 * @module
 */

/** `dir` without trailing slashes (`runs/x//` → `runs/x`); the root stays `/`. */
export function withoutTrailingSlash(dir: string): string {
  return dir.replace(/\/+$/, "") || "/";
}

/**
 * The bookkeeping folder a writer keeps inside a run folder (lib/core/run_folder.ts: its lock, its staged files,
 * its commit journal). Derived output names never start with a dot, so they never meet it.
 */
export const RUN_META_DIR = ".ssd300";
/** Where a run folder's next set of files is written before it is committed (inside {@link RUN_META_DIR}). */
export const STAGING_DIR = `${RUN_META_DIR}/staging`;

/**
 * The path a user knows for a file we write: a staged file (`run/.ssd300/staging/a/b.json`) is named by the place
 * it is committed to (`run/a/b.json`). Other paths are returned as they are.
 */
export function publicPath(path: string): string {
  if (path.startsWith(`${STAGING_DIR}/`)) return path.slice(STAGING_DIR.length + 1);
  return path.replace(`/${STAGING_DIR}/`, "/");
}

/** A derived path segment is cut to this many UTF-8 bytes (file systems allow 255; room for `-N` and `.ext`). */
export const MAX_SEGMENT_BYTES = 160;
/** A derived path keeps at most this many folders (its last ones) above the file. */
export const MAX_DERIVED_DEPTH = 12;

// C0 and C1 control characters and DEL: never part of a name we write (NUL cannot be; the rest confuse terminals)
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function cutUtf8(text: string, maxBytes: number): string {
  const enc = new TextEncoder();
  if (enc.encode(text).length <= maxBytes) return text;
  let out = "";
  let bytes = 0;
  for (const ch of text) { // whole code points
    const n = enc.encode(ch).length;
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * The segments of a relative path inside an output folder for an input name (a file name, a path from a list
 * file, a name from a JSON file): split at `/` and `\`; empty, `.` and `..` segments dropped (so an absolute path
 * or `a/../../x` stays below the folder); control characters replaced by `_`; a leading dot replaced by `_` (no
 * hidden files, never our own {@link RUN_META_DIR}); each segment cut to {@link MAX_SEGMENT_BYTES}; at most
 * {@link MAX_DERIVED_DEPTH} folders kept (the last ones). Empty when nothing is left.
 */
export function safeSegments(name: string): string[] {
  const segments = name.normalize("NFC").split(/[/\\]+/)
    .filter((s) => s !== "" && s !== "." && s !== "..")
    .map((s) => cutUtf8(s.replace(CONTROL, "_").replace(/^\./, "_"), MAX_SEGMENT_BYTES));
  return segments.slice(-(MAX_DERIVED_DEPTH + 1));
}

/**
 * Output paths derived from input names, each relative to the output folder, inside it, and unique among those
 * this object gave out — the only way a task turns an input name into an output name (detect --images' annotated
 * copies, prepare's previews). Two names that differ only in letter case or Unicode normalisation count as the
 * same (they are one file on macOS and Windows). A collision gets `-2`, `-3`, … before the extension; a folder
 * that would have a file's name (or a file a folder's) is suffixed the same way.
 */
export class OutputNames {
  readonly #files = new Set<string>();
  readonly #dirs = new Map<string, string>(); // key of a derived folder → the folder path given out

  /** @param reserved relative paths that must not be given out (files already there that are not ours to replace) */
  constructor(reserved: Iterable<string> = []) {
    for (const path of reserved) {
      const segments = safeSegments(path);
      if (segments.length > 0) this.#files.add(OutputNames.#key(segments.join("/")));
    }
  }

  static #key(path: string): string {
    return path.normalize("NFC").toLowerCase();
  }

  #free(path: string): boolean {
    const key = OutputNames.#key(path);
    return !this.#files.has(key) && !this.#dirs.has(key);
  }

  /**
   * A unique relative path for input name `name` ({@link safeSegments}), under `folder` when given (a fixed
   * folder of the task, e.g. `annotated`), with the last segment's extension replaced by `ext` when given
   * (`.jpg`). An input name with nothing left (`..`, `/`) becomes `unnamed`.
   */
  take(name: string, opts: { folder?: string; ext?: string } = {}): string {
    const segments = safeSegments(name);
    if (segments.length === 0) segments.push("unnamed");
    let file = segments.pop()!;
    if (opts.ext !== undefined) file = (file.replace(/\.[^.]*$/, "") || file) + opts.ext;
    let dir = opts.folder ? safeSegments(opts.folder).join("/") : "";
    for (const seg of segments) {
      const wanted = dir ? `${dir}/${seg}` : seg;
      const known = this.#dirs.get(OutputNames.#key(wanted));
      if (known !== undefined) {
        dir = known;
        continue;
      }
      let candidate = wanted;
      for (let n = 2; this.#files.has(OutputNames.#key(candidate)); n++) candidate = `${wanted}-${n}`;
      this.#dirs.set(OutputNames.#key(wanted), candidate);
      this.#dirs.set(OutputNames.#key(candidate), candidate);
      dir = candidate;
    }
    const dot = file.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [file.slice(0, dot), file.slice(dot)] : [file, ""];
    const at = (f: string) => (dir ? `${dir}/${f}` : f);
    let path = at(file);
    for (let n = 2; !this.#free(path); n++) path = at(`${stem}-${n}${ext}`);
    this.#files.add(OutputNames.#key(path));
    return path;
  }
}
