/**
 * Penn-Fudan's `Annotation/*.txt` files (PASCAL Annotation Version 1.00): parsing, and cross-checking their
 * 1-based boxes with the boxes derived from the masks.
 * @module
 */
import { InputError } from "../core/mod.ts";
import type { PixelBox } from "./dataset.ts";
import type { MaskInstance } from "./masks.ts";

/** Disagreement (pixels, any coordinate) between an Annotation/*.txt box and its mask's box that is reported. */
export const ANNOTATION_TOLERANCE_PX = 1;

/** A parsed Penn-Fudan `Annotation/*.txt` (PASCAL Annotation Version 1.00). */
export interface Annotation {
  /** "Image size (X x Y x C)", if present. */
  imageSize: { width: number; height: number; channels: number } | null;
  /** "Objects with ground truth : N", if present. */
  declaredObjects: number | null;
  /** Bounding boxes, 1-based inclusive pixel coordinates as written in the file. */
  objects: { index: number; label: string; box1Based: PixelBox }[];
}

/** The annotation text cannot be parsed. */
export class AnnotationError extends InputError {
  override name = "AnnotationError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

const BOX_LINE =
  /^Bounding box for object (\d+) "([^"]*)" \(Xmin, Ymin\) - \(Xmax, Ymax\) : \((-?\d+), (-?\d+)\) - \((-?\d+), (-?\d+)\)\s*$/;
const SIZE_LINE = /^Image size \(X x Y x C\) : (\d+) x (\d+) x (\d+)\s*$/;
const OBJECTS_LINE = /^Objects with ground truth : (\d+)/;

/**
 * Parses an annotation file, e.g. `Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) :
 * (160, 182) - (302, 431)` (coordinates 1-based: "Top left pixel co-ordinates : (1, 1)").
 * @throws AnnotationError if it is not text in that format, has no box line, or a line starting like a box line is
 *   malformed, or the declared object count differs from the number of boxes.
 */
export function parseAnnotation(bytes: Uint8Array, file: string): Annotation {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AnnotationError(file, "not UTF-8 text");
  }
  if (text.includes("\0")) throw new AnnotationError(file, "binary data, not an annotation text");
  let imageSize: Annotation["imageSize"] = null;
  let declaredObjects: number | null = null;
  const objects: Annotation["objects"] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const size = SIZE_LINE.exec(line);
    if (size) imageSize = { width: +size[1], height: +size[2], channels: +size[3] };
    const declared = OBJECTS_LINE.exec(line);
    if (declared) declaredObjects = +declared[1];
    if (line.startsWith("Bounding box for object")) {
      const m = BOX_LINE.exec(line);
      if (!m) {
        throw new AnnotationError(
          file,
          `line ${i + 1}: malformed bounding box line: ${JSON.stringify(line)}`,
        );
      }
      const box = [+m[3], +m[4], +m[5], +m[6]] as PixelBox;
      if (box[0] > box[2] || box[1] > box[3]) {
        throw new AnnotationError(file, `line ${i + 1}: box has Xmin > Xmax or Ymin > Ymax`);
      }
      objects.push({ index: +m[1], label: m[2], box1Based: box });
    }
  });
  if (objects.length === 0) throw new AnnotationError(file, "no 'Bounding box for object' line");
  if (declaredObjects !== null && declaredObjects !== objects.length) {
    throw new AnnotationError(file, `declares ${declaredObjects} objects but has ${objects.length} boxes`);
  }
  return { imageSize, declaredObjects, objects };
}

/**
 * Compares annotation boxes (1-based) with mask boxes: object k ↔ mask instance id k. Returns one message per
 * disagreement over {@link ANNOTATION_TOLERANCE_PX} or per object missing on either side.
 */
export function crossCheckAnnotation(
  annotation: Annotation,
  instances: readonly MaskInstance[],
  size: { width: number; height: number },
): string[] {
  const messages: string[] = [];
  const byId = new Map(instances.map((inst) => [inst.id, inst]));
  const s = annotation.imageSize;
  if (s && (s.width !== size.width || s.height !== size.height)) {
    messages.push(`annotation says image size ${s.width}×${s.height}, image is ${size.width}×${size.height}`);
  }
  for (const obj of annotation.objects) {
    const inst = byId.get(obj.index);
    const b = obj.box1Based;
    if (!inst) {
      messages.push(
        `object ${obj.index} (${b.join(", ")}; 1-based) has no mask instance with id ${obj.index}`,
      );
      continue;
    }
    const diff = Math.max(...inst.box.map((v, i) => Math.abs(v - (b[i] - 1))));
    if (diff > ANNOTATION_TOLERANCE_PX) {
      messages.push(
        `object ${obj.index}: annotation box (${
          b.join(", ")
        }) (1-based) differs by ${diff} px from its mask box ` +
          `(${inst.box.join(", ")}) (0-based)`,
      );
    }
  }
  const annotated = new Set(annotation.objects.map((o) => o.index));
  for (const inst of instances) {
    if (!annotated.has(inst.id)) messages.push(`mask instance ${inst.id} has no annotation box`);
  }
  return messages;
}
