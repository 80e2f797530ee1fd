/**
 * Opens one page in Debian's headless Chromium with playwright-core (never a downloaded browser), waits until
 * the detector page says it is done (`<html data-state="done|error">`), and prints as JSON on stdout its
 * status line, the JSON of `<pre id="detections">`, the model line, the served images' menu, how many
 * `<img>` and `<script>` elements the page has, every dialog it opened (dismissed), every URL it requested and
 * its errors; saves a PNG screenshot of the `#view` canvas. Run as a subprocess with `-A` (playwright-core probes /proc at import,
 * which Deno only allows with all permissions):
 *
 *   deno run -A tests/web/chromium_page.ts URL SCREENSHOT.png [TIMEOUT_MS]
 */
import { chromium } from "playwright-core";

const [url, screenshot, timeout = "300000"] = Deno.args;
const browser = await chromium.launch({
  executablePath: Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    // WebGPU on Chromium's software adapter (SwiftShader, a fallback adapter: the page picks it only when asked)
    "--enable-unsafe-webgpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const requests: string[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(
    `["done", "error"].includes(document.documentElement.dataset.state ?? "")`,
    null,
    {
      timeout: Number(timeout),
    },
  );
  await page.locator("#view").screenshot({ path: screenshot });
  console.log(JSON.stringify({
    state: await page.evaluate("document.documentElement.dataset.state"),
    status: await page.textContent("#status"),
    detections: await page.textContent("#detections"),
    modelInfo: await page.textContent("#model-info"),
    options: await page.evaluate(
      `[...document.querySelectorAll("#served option")].map((o) => o.textContent)`,
    ),
    elements: await page.evaluate(
      `({ img: document.querySelectorAll("img").length, script: document.querySelectorAll("script").length })`,
    ),
    dialogs,
    requests,
    errors,
  }));
} finally {
  await browser.close();
}
