/**
 * The local web server of `deno task serve`: the detector page (web/index.html and web/main.ts bundled with
 * esbuild from the installed npm packages), an exported model folder at `/model/`, optionally a folder of
 * images at `/images/<name>` (and their list as JSON at `/images/`), and the TF.js WASM binaries at `/wasm/`,
 * read from the installed `@tensorflow/tfjs-backend-wasm`. Pages are cross-origin isolated (COOP/COEP), so the
 * WASM backend may use its threaded build.
 *
 * Hardened for a machine with other users and a browser with other tabs:
 * - it listens on 127.0.0.1 only and answers only requests whose `Host` header is exactly that address and the
 *   port (`127.0.0.1:PORT`): a page of another site that rebinds its DNS name to 127.0.0.1 gets 421;
 * - a URL names one plain file of a served folder (no `/`, `\`, NUL, no leading dot, after percent-decoding);
 *   the file is served only when its real path (all symlinks resolved) is a regular file inside the folder's
 *   real path — a symlink to /etc/passwd, a FIFO or a device in the folder is 404, as is anything with `..`;
 * - before it listens, the model folder is checked as the detector API checks it (lib/export/model_json.ts
 *   `checkModelJson`): model.json read with a size limit and valid, every shard it lists present inside the
 *   folder, a regular file, and exactly of the size its manifest implies.
 * @module
 */
import { FileReadError, InputError, readRegularFile, walkFiles } from "../core/mod.ts";
import {
  checkModelJson,
  DetectorModelError,
  MAX_MODEL_JSON_BYTES,
  MODEL_JSON,
  type ShardFile,
} from "./model_json.ts";

/** A folder given to the server is missing or not what it should be. */
export class ServeInputError extends InputError {
  override name = "ServeInputError";
}

/** The only address the server listens on. */
export const LOOPBACK = "127.0.0.1";
const WEB_DIR = new URL("../../web/", import.meta.url);
/** Image files the server lists and serves from `--images`. */
const IMAGE_NAME = /^[^/\\]+\.(png|jpe?g|webp|gif|bmp)$/i;
/** At most this many names in the `/images/` list (the first in sorted order). */
export const MAX_LISTED_IMAGES = 10_000;
const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  bin: "application/octet-stream",
  wasm: "application/wasm",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  bmp: "image/bmp",
};

/** The WASM backend's folder in the installed npm package (its three `.wasm` builds). */
function wasmDirectory(): string {
  return new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname;
}

/** web/main.ts and everything it imports (TF.js, tfjs-converter, lib/) as one ES module, minified. */
export async function bundleWebApp(): Promise<string> {
  const esbuild = await import("esbuild"); // loaded only by the server
  try {
    const result = await esbuild.build({
      entryPoints: [new URL("main.ts", WEB_DIR).pathname],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      write: false,
      logLevel: "silent",
      absWorkingDir: new URL("../../", import.meta.url).pathname,
    });
    return result.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}

/** What {@link createHandler} serves. */
export interface ServeFolders {
  modelDir: string;
  imagesDir?: string;
  /** the bundled page script ({@link bundleWebApp}) */
  appJs: string;
}

/** `dir`'s real path with a trailing slash: the prefix every served file's real path must have. */
function rootPrefix(dir: string): string {
  const real = Deno.realPathSync(dir);
  return real.endsWith("/") ? real : `${real}/`;
}

/** Where a plain file name of a served folder leads. */
type Resolved =
  | { ok: true; path: string; info: Deno.FileInfo }
  | { ok: false; why: "missing" | "outside" | "not a regular file" };

/**
 * The real path of `name` in the folder whose real path (with trailing slash) is `root`, if it is a regular
 * file inside it: symlinks are resolved first, so one that leads out of the folder (or into a FIFO, a device, a
 * directory) is refused. `name` is one plain path segment (checked by the callers).
 */
async function resolveInside(root: string, name: string): Promise<Resolved> {
  let real: string;
  try {
    real = await Deno.realPath(`${root}${name}`);
  } catch {
    return { ok: false, why: "missing" };
  }
  if (!real.startsWith(root)) return { ok: false, why: "outside" };
  const info = await Deno.stat(real).catch(() => null);
  if (!info) return { ok: false, why: "missing" };
  if (!info.isFile) return { ok: false, why: "not a regular file" };
  return { ok: true, path: real, info };
}

/**
 * Checks a model folder as the detector will read it: `model.json` a regular file inside the folder, at most
 * {@link MAX_MODEL_JSON_BYTES}, valid JSON that passes `checkModelJson` (schema and manifest), and every shard it
 * lists present inside the folder (symlinks resolved), a regular file, of exactly its manifest size.
 * @returns the shards, in manifest order
 * @throws ServeInputError without model.json; DetectorModelError naming the file and the problem
 */
export async function checkModelFolder(modelDir: string): Promise<ShardFile[]> {
  const root = rootPrefix(modelDir);
  const json = await resolveInside(root, MODEL_JSON);
  if (!json.ok) {
    if (json.why === "missing") {
      throw new ServeInputError(`--model ${modelDir}: no ${MODEL_JSON} (export one with deno task export)`);
    }
    throw new DetectorModelError(`${modelDir}/${MODEL_JSON}: ${whyText(json.why)}`);
  }
  const where = `${modelDir}/${MODEL_JSON}`;
  let value: unknown;
  try {
    const limit = { maxBytes: MAX_MODEL_JSON_BYTES, what: MODEL_JSON };
    value = JSON.parse(new TextDecoder().decode(await readRegularFile(json.path, limit)));
  } catch (e) {
    if (e instanceof FileReadError) throw new DetectorModelError(`${where}: ${e.reason}`);
    throw new DetectorModelError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const { shards } = checkModelJson(value, where);
  for (const [i, shard] of shards.entries()) {
    const r = await resolveInside(root, shard.name);
    const of = `shard ${i + 1} of the ${shards.length} that ${MODEL_JSON} lists`;
    if (!r.ok) throw new DetectorModelError(`${modelDir}/${shard.name}: ${whyText(r.why)} (${of})`);
    if (r.info.size !== shard.bytes) {
      throw new DetectorModelError(
        `${modelDir}/${shard.name}: ${r.info.size} bytes, ${MODEL_JSON}'s manifest says ${shard.bytes} (${of})`,
      );
    }
  }
  return shards;
}

function whyText(why: "missing" | "outside" | "not a regular file"): string {
  return why === "outside" ? "a link that leads out of the folder" : why;
}

/**
 * Checks the folders before the server listens: `modelDir` a folder holding a valid exported model
 * ({@link checkModelFolder}), `imagesDir` a folder.
 * @throws ServeInputError naming the folder; DetectorModelError naming model.json or the shard
 */
export async function checkServeFolders(modelDir: string, imagesDir?: string): Promise<void> {
  const isDir = async (d: string) => (await Deno.stat(d).catch(() => null))?.isDirectory ?? false;
  if (!await isDir(modelDir)) throw new ServeInputError(`--model ${modelDir}: not a folder`);
  await checkModelFolder(modelDir);
  if (imagesDir !== undefined && !await isDir(imagesDir)) {
    throw new ServeInputError(`--images ${imagesDir}: not a folder`);
  }
}

function respond(
  body: BodyInit | null,
  status: number,
  type: string,
  extra: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": type,
      "cache-control": "no-cache",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cross-origin-resource-policy": "same-origin",
      "x-content-type-options": "nosniff",
      ...extra,
    },
  });
}

const notFound = () => respond("not found\n", 404, "text/plain");

/**
 * Serves `name` of the folder with real-path prefix `root` ({@link resolveInside}); 404 unless it is a regular
 * file inside. The opened file must still be the resolved one (same device and inode, not since replaced by a
 * link).
 */
async function serveFile(root: string, name: string, head: boolean): Promise<Response> {
  const r = await resolveInside(root, name);
  if (!r.ok) return notFound();
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(r.path, { read: true });
    const [opened, now] = await Promise.all([file.stat(), Deno.lstat(r.path)]);
    if (!opened.isFile || !now.isFile || opened.ino !== now.ino || opened.dev !== now.dev) {
      file.close();
      return notFound();
    }
    if (head) file.close();
    return respond(head ? null : file.readable, 200, CONTENT_TYPES[ext] ?? "application/octet-stream", {
      "content-length": String(opened.size),
    });
  } catch {
    try {
      file?.close();
    } catch {
      // already closed
    }
    return notFound();
  }
}

/** A single path segment that names a file directly inside a folder (no traversal, no hidden files). */
function plainName(segment: string): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    return undefined;
  }
  return /^[^/\\\0]+$/.test(name) && !name.startsWith(".") ? name : undefined;
}

/**
 * The image names `/images/` lists: the folder's own regular files with an image name (lib/core `walkFiles`: no
 * link out of the folder, each file once), the first {@link MAX_LISTED_IMAGES}.
 */
async function listImages(dir: string): Promise<string[]> {
  const { files } = await walkFiles(dir, { maxDepth: 0 });
  return files.filter((name) => IMAGE_NAME.test(name)).slice(0, MAX_LISTED_IMAGES);
}

/**
 * The request handler: the routes of the module doc; a `Host` other than `host` is 421, anything else not
 * served is 404, a method other than GET/HEAD is 405.
 * @param host the exact `Host` header to answer: `127.0.0.1:PORT` of the listening socket
 */
export function createHandler(folders: ServeFolders, host: string): (req: Request) => Promise<Response> {
  const roots = {
    web: rootPrefix(WEB_DIR.pathname),
    wasm: rootPrefix(wasmDirectory()),
    model: rootPrefix(folders.modelDir),
    images: folders.imagesDir === undefined ? undefined : rootPrefix(folders.imagesDir),
  };
  return async (req) => {
    if (req.headers.get("host") !== host) {
      return respond(`misdirected request: this server answers http://${host}/ only\n`, 421, "text/plain");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return respond("method not allowed\n", 405, "text/plain");
    }
    const head = req.method === "HEAD";
    const path = new URL(req.url).pathname;
    if (path === "/" || path === "/index.html") return serveFile(roots.web, "index.html", head);
    if (path === "/app.js") return respond(head ? null : folders.appJs, 200, CONTENT_TYPES.js);
    const [, area, rest, ...more] = path.split("/");
    const name = rest === undefined || more.length ? undefined : plainName(rest);
    if (area === "model" && name && /^(model\.json|group\d+-shard\d+of\d+\.bin)$/.test(name)) {
      return serveFile(roots.model, name, head);
    }
    if (area === "wasm" && name && /^tfjs-backend-wasm[\w-]*\.wasm$/.test(name)) {
      return serveFile(roots.wasm, name, head);
    }
    if (area === "images" && roots.images !== undefined) {
      if (rest === "" && !more.length) {
        const names = await listImages(folders.imagesDir!);
        return respond(head ? null : JSON.stringify(names), 200, CONTENT_TYPES.json);
      }
      if (name && IMAGE_NAME.test(name)) return serveFile(roots.images, name, head);
    }
    return notFound();
  };
}

/**
 * Starts the server on {@link LOOPBACK}:`port` (0: any free port) with {@link createHandler} bound to the
 * address it listens on.
 * @throws ServeInputError when the port is in use
 */
export function startServer(
  folders: ServeFolders,
  port: number,
  onListen: (addr: Deno.NetAddr) => void,
): Deno.HttpServer<Deno.NetAddr> {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    // requests are handled from the next turn on, when `handler` (which needs the bound port) exists
    server = Deno.serve({ hostname: LOOPBACK, port, onListen: () => {} }, (req) => handler(req));
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) throw new ServeInputError(`--port ${port}: already in use`);
    throw e;
  }
  const handler = createHandler(folders, `${LOOPBACK}:${server.addr.port}`);
  onListen(server.addr);
  return server;
}
