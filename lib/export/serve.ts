/**
 * The local web server of `deno task serve`: the detector page (web/index.html and web/main.ts bundled with
 * esbuild from the installed npm packages), an exported model folder at `/model/`, optionally a folder of
 * images at `/images/<name>` (and their list as JSON at `/images/`), and the TF.js WASM binaries at `/wasm/`,
 * read from the installed `@tensorflow/tfjs-backend-wasm`. Listens on 127.0.0.1 only. Pages are cross-origin
 * isolated (COOP/COEP), so the WASM backend may use its threaded build.
 * @module
 */
import { InputError, readJsonArtifact, walkFiles } from "../core/mod.ts";
import { MODEL_JSON, ModelJsonSchema } from "./model_json.ts";

/** A folder given to the server is missing or not what it should be. */
export class ServeInputError extends InputError {
  override name = "ServeInputError";
}

const WEB_DIR = new URL("../../web/", import.meta.url);
/** Image files the server lists and serves from `--images`. */
const IMAGE_NAME = /^[^/\\]+\.(png|jpe?g|webp|gif|bmp)$/i;
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

/**
 * Checks the folders: `modelDir` must hold a valid exported `model.json`, `imagesDir` must be a folder.
 * @throws ServeInputError naming the folder; ArtifactError for an invalid model.json
 */
export async function checkServeFolders(modelDir: string, imagesDir?: string): Promise<void> {
  const isDir = async (d: string) => (await Deno.stat(d).catch(() => null))?.isDirectory ?? false;
  if (!await isDir(modelDir)) throw new ServeInputError(`--model ${modelDir}: not a folder`);
  const json = `${modelDir}/${MODEL_JSON}`;
  if (!await Deno.stat(json).catch(() => null)) {
    throw new ServeInputError(`--model ${modelDir}: no ${MODEL_JSON} (export one with deno task export)`);
  }
  await readJsonArtifact(json, ModelJsonSchema);
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

async function serveFile(path: string, head: boolean): Promise<Response> {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  try {
    const file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (!info.isFile) {
      file.close();
      return respond("not found\n", 404, "text/plain");
    }
    if (head) file.close();
    return respond(head ? null : file.readable, 200, CONTENT_TYPES[ext] ?? "application/octet-stream", {
      "content-length": String(info.size),
    });
  } catch {
    return respond("not found\n", 404, "text/plain");
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

/** The request handler: the routes of the module doc; anything else is 404, non-GET/HEAD is 405. */
export function createHandler(folders: ServeFolders): (req: Request) => Promise<Response> {
  const wasmDir = wasmDirectory();
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return respond("method not allowed\n", 405, "text/plain");
    }
    const head = req.method === "HEAD";
    const path = new URL(req.url).pathname;
    if (path === "/" || path === "/index.html") {
      return serveFile(new URL("index.html", WEB_DIR).pathname, head);
    }
    if (path === "/app.js") return respond(head ? null : folders.appJs, 200, CONTENT_TYPES.js);
    const [, area, rest, ...more] = path.split("/");
    const name = rest === undefined || more.length ? undefined : plainName(rest);
    if (area === "model" && name && /^(model\.json|group\d+-shard\d+of\d+\.bin)$/.test(name)) {
      return serveFile(`${folders.modelDir}/${name}`, head);
    }
    if (area === "wasm" && name && /^tfjs-backend-wasm[\w-]*\.wasm$/.test(name)) {
      return serveFile(`${wasmDir}${name}`, head);
    }
    if (area === "images" && folders.imagesDir !== undefined) {
      if (rest === "" && !more.length) {
        // the folder's own regular files (lib/core/walk.ts: no link out of it, each file once)
        const { files } = await walkFiles(folders.imagesDir, { maxDepth: 0 });
        const names = files.filter((name) => IMAGE_NAME.test(name));
        return respond(head ? null : JSON.stringify(names), 200, CONTENT_TYPES.json);
      }
      if (name && IMAGE_NAME.test(name)) return serveFile(`${folders.imagesDir}/${name}`, head);
    }
    return respond("not found\n", 404, "text/plain");
  };
}
