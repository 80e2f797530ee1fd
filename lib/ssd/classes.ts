/**
 * The classes of the models: the background class id, the reference's 21 Pascal VOC labels (`voc_labels`) and
 * box colours (`distinct_colors`, `label_color_map`), and the single-class `person` model's labels.
 * @module
 */

/** Class id of the background in every model (the reference's label 0; its heads' first channel). */
export const BACKGROUND_CLASS = 0;
/** Class id of `person` in the VOC label order (`voc_labels`). */
export const VOC_PERSON_CLASS = 15;

/** VOC class names in the reference's order (`voc_labels`), index = class id. */
export const VOC_LABELS: readonly string[] = [
  "background",
  "aeroplane",
  "bicycle",
  "bird",
  "boat",
  "bottle",
  "bus",
  "car",
  "cat",
  "chair",
  "cow",
  "diningtable",
  "dog",
  "horse",
  "motorbike",
  "person",
  "pottedplant",
  "sheep",
  "sofa",
  "train",
  "tvmonitor",
];

/** Class names of the single-class model that fine-tuning builds (class id 1 is `person`). */
export const PERSON_LABELS: readonly string[] = ["background", "person"];

/** Class names for a model: VOC names for 21 classes, {@link PERSON_LABELS} for 2, `class_<id>` otherwise. */
export function classNames(nClasses: number): readonly string[] {
  if (nClasses === VOC_LABELS.length) return VOC_LABELS;
  if (nClasses === PERSON_LABELS.length) return PERSON_LABELS;
  return Array.from({ length: nClasses }, (_, i) => (i === 0 ? "background" : `class_${i}`));
}

/** The class names of `model`: its own (`classNames`, e.g. from weights.json) when it has them, else {@link classNames}. */
export function modelClassNames(
  model: { nClasses: number; classNames?: readonly string[] },
): readonly string[] {
  const own = model.classNames;
  return own && own.length === model.nClasses ? own : classNames(model.nClasses);
}

/** The reference's box colours (`distinct_colors`), class id k uses entry k (VOC: 21 entries; 2 classes: first 2). */
export const DISTINCT_COLORS: readonly string[] = [
  "#e6194b",
  "#3cb44b",
  "#ffe119",
  "#0082c8",
  "#f58231",
  "#911eb4",
  "#46f0f0",
  "#f032e6",
  "#d2f53c",
  "#fabebe",
  "#008080",
  "#000080",
  "#aa6e28",
  "#fffac8",
  "#800000",
  "#aaffc3",
  "#808000",
  "#ffd8b1",
  "#e6beff",
  "#808080",
  "#FFFFFF",
];

/** Colour of class `classId` as RGB 0..255 (the reference's `label_color_map`). */
export function classColor(classId: number): [number, number, number] {
  const hex = DISTINCT_COLORS[classId % DISTINCT_COLORS.length];
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}
