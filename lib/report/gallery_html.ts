/**
 * The gallery section: one card per test image with the runs' pictures side by side. Each picture is an inline
 * SVG over the scaled photo (in the original image's pixel coordinates, so boxes stay sharp at any size): ground
 * truth in green, or yellow and dashed with a "missed" tag when no shown detection finds it at IoU 0.75;
 * detections in the run's colour (dashed when a false positive), the scores on the few highest only. Built with
 * lib/core's `markup` tag: file names and run names are escaped exactly once.
 * @module
 */
import { joinMarkup, type Markup, markup } from "../core/mod.ts";
import { cssColor, ERROR_COLOR, GT_COLOR, plural, runColor } from "./notation.ts";
import { type Gallery, GALLERY_IOU, type GalleryItem, type GalleryPanel } from "./gallery.ts";

/** Where a label goes: the box's top-left corner, in viewBox units, and the picture's size (to keep it inside). */
interface LabelAt {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Original pixels per CSS pixel. */
  unit: number;
}

/** A label tab: text on a filled box above (or, without room, inside) the corner, kept inside the picture. */
function labelSvg(at: LabelAt, text: string, fill: string, ink: string): Markup {
  const u = at.unit, size = 12 * u, h = 15 * u, w = (text.length * 7 + 6) * u;
  const x = Math.max(0, Math.min(at.x, at.width - w));
  const y = Math.min(at.height - h, at.y - h >= 0 ? at.y - h : Math.max(0, at.y));
  return joinMarkup([
    markup`<g class="label"><rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" `,
    markup`height="${h.toFixed(1)}" fill="${fill}"/><text x="${(x + 3 * u).toFixed(1)}" `,
    markup`y="${(y + 11.5 * u).toFixed(1)}" font-size="${size.toFixed(1)}" fill="${ink}">${text}</text></g>`,
  ]);
}

const rect = (b: readonly number[], attrs: Markup) =>
  joinMarkup([
    markup`<rect x="${b[0].toFixed(1)}" y="${b[1].toFixed(1)}" width="${b[2].toFixed(1)}" `,
    markup`height="${b[3].toFixed(1)}" fill="none" vector-effect="non-scaling-stroke" ${attrs}/>`,
  ]);

/** The picture of one run on one image: photo, ground truth, detections, error marks. */
export function panelSvg(item: GalleryItem, panel: GalleryPanel): Markup {
  const unit = item.width / item.displayWidth; // original pixels per CSS pixel
  const pic = { width: item.width, height: item.height, unit };
  const color = cssColor(runColor(panel.runIndex));
  const parts: Markup[] = [
    joinMarkup([
      markup`<svg xmlns="http://www.w3.org/2000/svg" class="shot" viewBox="0 0 ${item.width} ${item.height}" `,
      markup`width="${item.displayWidth}" height="${item.displayHeight}" role="img" `,
      markup`aria-label="${`${item.fileName}: ${panel.runName}`}">`,
    ]),
    joinMarkup([
      markup`<image href="${item.dataUri}" x="0" y="0" width="${item.width}" height="${item.height}" `,
      markup`preserveAspectRatio="none"/>`,
    ]),
  ];
  item.gt.forEach((g, i) => {
    const missed = panel.available && !g.crowd && !panel.found[i];
    parts.push(rect(
      g.bbox,
      missed
        ? markup`class="gt missed" stroke="${cssColor(ERROR_COLOR)}" stroke-width="3" stroke-dasharray="7 4"`
        : markup`class="gt" stroke="${cssColor(GT_COLOR)}" stroke-width="2"`,
    ));
  });
  // Lowest score first, so that the best boxes and their labels are on top.
  const drawn = panel.shown.filter((d) => d.drawn);
  for (const d of [...drawn].reverse()) {
    const fp = d.correct === false;
    const kind = fp ? " fp" : d.correct ? " tp" : "";
    parts.push(rect(
      d.bbox,
      markup`class="det${kind}" stroke="${color}" stroke-width="2"${fp && markup` stroke-dasharray="5 3"`}`,
    ));
  }
  item.gt.forEach((g, i) => {
    if (panel.available && !g.crowd && !panel.found[i]) {
      parts.push(
        labelSvg(
          { ...pic, x: g.bbox[0], y: g.bbox[1] + g.bbox[3] + 15 * unit },
          "missed",
          cssColor(ERROR_COLOR),
          "#000",
        ),
      );
    }
  });
  for (const d of [...drawn].reverse()) {
    if (!d.labelled) continue;
    const text = `${d.score.toFixed(2)}${d.correct === false ? " FP" : ""}`;
    parts.push(labelSvg({ ...pic, x: d.bbox[0], y: d.bbox[1] }, text, color, "#fff"));
  }
  parts.push(markup`</svg>`);
  return joinMarkup(parts);
}

/**
 * "3 of 187 detections with score ≥ 0.30 · at IoU 0.75: 2 correct, 1 false positive, 1 of 3 pedestrians missed",
 * with "(the 20 highest drawn)" after the threshold when not all of them are drawn.
 */
export function panelCaption(
  item: GalleryItem,
  panel: GalleryPanel,
  minScore: number,
  noun = "pedestrian",
): string {
  if (!panel.available) return "no detections.coco.json for this run";
  const nReal = item.gt.filter((g) => !g.crowd).length;
  const nDrawn = panel.shown.filter((d) => d.drawn).length;
  const cut = nDrawn < panel.shown.length ? ` (the ${nDrawn} highest drawn)` : "";
  const threshold = `score ≥ ${minScore.toFixed(2)}${cut}`;
  return `${panel.shown.length} of ${plural(panel.nDetections, "detection")} with ${threshold} · ` +
    `at IoU ${GALLERY_IOU}: ${panel.nCorrect} correct, ${plural(panel.nFalsePositives, "false positive")}, ` +
    `${panel.nMissed} of ${plural(nReal, noun)} missed`;
}

/** The legend: what each line style means. */
function legendHtml(nRuns: number): Markup {
  const swatch = (stroke: string, dash: string, width = 2) =>
    joinMarkup([
      markup`<svg width="30" height="14" aria-hidden="true"><rect x="2" y="2" width="26" height="10" fill="none" `,
      markup`stroke="${stroke}" stroke-width="${width}"${
        dash && markup` stroke-dasharray="${dash}"`
      }/></svg>`,
    ]);
  const run = cssColor(runColor(0));
  return joinMarkup([
    markup`<div class="legend-row">`,
    markup`<span>${swatch(cssColor(GT_COLOR), "")} ground truth, found</span>`,
    markup`<span>${swatch(cssColor(ERROR_COLOR), "7 4", 3)} ground truth <b>missed</b> (no shown detection `,
    markup`at IoU ≥ ${GALLERY_IOU})</span>`,
    markup`<span>${swatch(run, "")} detection, correct at IoU ≥ ${GALLERY_IOU}</span>`,
    markup`<span>${swatch(run, "5 3")} detection, <b>false positive</b> (FP)</span>`,
    markup`<span>detections take their run's colour${nRuns > 1 && " (see the column headings)"}</span></div>`,
  ]);
}

/** The gallery section (empty markup when there are no items). */
export function gallerySection(
  gallery: Gallery | undefined,
  runNames: readonly string[],
  noun = "pedestrian",
): Markup {
  if (!gallery?.items.length) return markup``;
  const o = gallery.options;
  const h: Markup[] = [];
  const heading = runNames.length > 1
    ? "Test images: where the runs differ"
    : "Test images: the most errors first";
  h.push(markup`<section id="gallery-section"><h2>${heading}</h2>`);
  const which = runNames.length > 1
    ? `those where the runs' errors (missed ${noun}s + false positives at IoU ${GALLERY_IOU}) differ most first`
    : `those with the most errors (missed ${noun}s + false positives at IoU ${GALLERY_IOU}) first`;
  h.push(joinMarkup([
    markup`<p class="note">${gallery.items.length} of the ${gallery.nCandidates} test images, ${which}. `,
    markup`Drawn: detections with score ≥ ${o.minScore.toFixed(2)}, at most the ${o.maxBoxes} highest per `,
    markup`picture; the ${o.maxLabels} highest carry their score.</p>`,
  ]));
  h.push(legendHtml(runNames.length));
  h.push(markup`<div class="gallery" id="gallery">`);
  for (const item of gallery.items) {
    h.push(joinMarkup([
      markup`<div class="item" data-image="${item.imageId}"><div class="item-head"><b>${item.fileName}</b> · `,
      markup`${plural(item.gt.filter((g) => !g.crowd).length, noun)}`,
      runNames.length > 1 && markup` · errors differ by ${item.difference}`,
      markup`</div><div class="panels">`,
    ]));
    for (const p of item.panels) {
      h.push(joinMarkup([
        markup`<figure class="panel" data-run="${p.runName}" style="width:${item.displayWidth}px">`,
        markup`<div class="panel-run" style="border-color:${cssColor(runColor(p.runIndex))}">`,
        markup`${p.runName}</div>${panelSvg(item, p)}`,
        markup`<figcaption>${panelCaption(item, p, o.minScore, noun)}</figcaption></figure>`,
      ]));
    }
    h.push(markup`</div></div>`);
  }
  h.push(markup`</div></section>`);
  return joinMarkup(h, "\n");
}
