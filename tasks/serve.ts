/**
 * `deno task serve` — the detector page on http://127.0.0.1:PORT/ for an exported model (deno task export):
 * pick, drop or film an image and see the boxes; `/?image=/images/<name>` scripts it (JSON in #detections).
 */
import { type CliSpec, parseFlags, runTask } from "../lib/cli/mod.ts";
import { terminalText } from "../lib/core/mod.ts";
import { bundleWebApp, checkServeFolders, startServer } from "../lib/export/mod.ts";

export const SERVE_CLI = {
  task: "serve",
  usage: ["--model DIR [--images DIR] [--port 8080]"],
  summary: `Serves web/ (TF.js bundled from the installed npm packages), the model folder at /model/ and the
images of --images at /images/<name>, on 127.0.0.1 only, to requests for http://127.0.0.1:PORT/ only. Checks
the model folder first (model.json, every shard of its size). Runs until interrupted (Ctrl-C).`,
  flags: {
    model: { kind: "string", value: "DIR", required: true, description: "an exported model folder" },
    images: {
      kind: "string",
      value: "DIR",
      description: "also serve this folder's images at /images/<name>",
    },
    port: { kind: "integer", min: 0, max: 65535, default: 8080, description: "TCP port (0: any free port)" },
  },
} as const satisfies CliSpec;

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(SERVE_CLI, args);
  await checkServeFolders(flags.model, flags.images);
  const appJs = await bundleWebApp();
  const folders = { modelDir: flags.model, imagesDir: flags.images, appJs };
  const shown = (path: string) => terminalText(path, { keepNewlines: false });
  const server = startServer(folders, flags.port, ({ hostname, port }) => {
    const images = flags.images ? `, images ${shown(flags.images)} at /images/` : "";
    console.log(`serving http://${hostname}:${port}/ (model ${shown(flags.model)}${images}); Ctrl-C stops`);
  });
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
}

if (import.meta.main) await runTask("serve", main);
