import assert from "node:assert/strict";
import { AnnotationError, type MaskInstance, parseAnnotation } from "../../lib/data/mod.ts";
import { ANNOTATION_TOLERANCE_PX, crossCheckAnnotation } from "../../lib/data/annotation.ts";

const enc = new TextEncoder();

const ANNOTATION = `# Compatible with PASCAL Annotation Version 1.00
Image filename : "PennFudanPed/PNGImages/FudanPed00001.png"
Image size (X x Y x C) : 559 x 536 x 3
Database : "The Penn-Fudan-Pedestrian Database"
Objects with ground truth : 2 { "PASpersonWalking" "PASpersonWalking" }
# Top left pixel co-ordinates : (1, 1)
# Details for pedestrian 1 ("PASpersonWalking")
Original label for object 1 "PASpersonWalking" : "PennFudanPed"
Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)
Pixel mask for object 1 "PASpersonWalking" : "PennFudanPed/PedMasks/FudanPed00001_mask.png"

# Details for pedestrian 2 ("PASpersonWalking")
Bounding box for object 2 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (420, 171) - (535, 486)\r
`;

Deno.test("parseAnnotation() reads image size, object count and 1-based boxes (CRLF tolerated)", () => {
  const a = parseAnnotation(enc.encode(ANNOTATION), "a.txt");
  assert.deepEqual(a.imageSize, { width: 559, height: 536, channels: 3 });
  assert.equal(a.declaredObjects, 2);
  assert.deepEqual(a.objects, [
    { index: 1, label: "PASpersonWalking", box1Based: [160, 182, 302, 431] },
    { index: 2, label: "PASpersonWalking", box1Based: [420, 171, 535, 486] },
  ]);
});

const BAD_ANNOTATIONS: { name: string; bytes: Uint8Array; pattern: RegExp }[] = [
  {
    name: "binary data",
    bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0, 0, 0xff, 0xfe),
    pattern: /UTF-8|binary/,
  },
  {
    name: "no box line",
    bytes: enc.encode("# Compatible with PASCAL Annotation Version 1.00\n"),
    pattern: /no 'Bounding box/,
  },
  {
    name: "a malformed box line",
    bytes: enc.encode(ANNOTATION.replace("(160, 182)", "(160; 182)")),
    pattern: /line 9: malformed/,
  },
  {
    name: "a count that disagrees with the boxes",
    bytes: enc.encode(ANNOTATION.replace("ground truth : 2", "ground truth : 3")),
    pattern: /declares 3 objects but has 2/,
  },
];
for (const c of BAD_ANNOTATIONS) {
  Deno.test(`parseAnnotation() rejects ${c.name} with an AnnotationError naming the file`, () => {
    assert.throws(
      () => parseAnnotation(c.bytes, "Annotation/x.txt"),
      (e) => e instanceof AnnotationError && e.file === "Annotation/x.txt" && c.pattern.test(e.message),
    );
  });
}

Deno.test(`crossCheckAnnotation() accepts ≤ ${ANNOTATION_TOLERANCE_PX} px and reports larger disagreements`, () => {
  const a = parseAnnotation(enc.encode(ANNOTATION), "a.txt");
  const size = { width: 559, height: 536 };
  const exact: MaskInstance[] = [
    { id: 1, box: [159, 181, 301, 430], area: 1 },
    { id: 2, box: [420, 170, 534, 485], area: 1 }, // x_min off by 1 px: tolerated
  ];
  assert.deepEqual(crossCheckAnnotation(a, exact, size), []);
  const off: MaskInstance[] = [{ id: 1, box: [159, 181, 299, 430], area: 1 }, {
    id: 3,
    box: [0, 0, 1, 1],
    area: 1,
  }];
  const messages = crossCheckAnnotation(a, off, { width: 560, height: 536 });
  assert.equal(messages.length, 4, messages.join("\n"));
  assert.match(messages[0], /image size 559×536, image is 560×536/);
  assert.match(messages[1], /object 1: .*differs by 2 px/);
  assert.match(messages[2], /object 2 .*no mask instance with id 2/);
  assert.match(messages[3], /mask instance 3 has no annotation box/);
});
