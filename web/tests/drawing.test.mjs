import assert from "node:assert/strict";
import { test } from "node:test";

import { CHECKER_CELL, checkerPattern, drawImageRect, drawScene, snapRect, trimapOverlayCanvas } from "../lib/drawing.js";
import { makeTranslator } from "../lib/i18n.js";
import { PROPERTY_DEFAULTS } from "../lib/properties.js";
import { viewRects } from "../lib/view.js";
import { FakeDocument, RecordingContext, fakeImage } from "./fake_dom.mjs";

const props = (changes = {}) => ({ ...PROPERTY_DEFAULTS, ...changes });
const t = makeTranslator({ before: "前", after: "后", runToSee: "运行工作流以查看预览" });

function scene(changes) {
  const main = fakeImage(400, 200, "after");
  return {
    boxW: 200,
    boxH: 200,
    rects: viewRects(400, 200, 200, 200, { zoom: 1, centerX: 0.5, centerY: 0.5 }),
    props: props(),
    t,
    kind: "cutout",
    images: { main, before: fakeImage(400, 200, "before") },
    split: 0.5,
    checker: () => "CHECKER",
    ...changes,
  };
}

const fills = (context) => context.calls.filter((c) => c[0] === "set" && c[1] === "fillStyle").map((c) => c[2]);
const drawnLabels = (context) => context.named("drawImage").map((call) => call[1].label);

test("snapRect puts the destination on whole pixels without losing its far edge", () => {
  assert.deepEqual(snapRect({ x: 0.4, y: 10.6, w: 99.3, h: 20.2 }), { x: 0, y: 11, w: 100, h: 20 });
});

test("drawImageRect scales the source to an image of another size than the view's reference", () => {
  const context = new RecordingContext();
  const rects = { src: { x: 10, y: 20, w: 30, h: 40 }, dst: { x: 1, y: 2, w: 3, h: 4 } };
  drawImageRect(context, fakeImage(200, 100), rects, fakeImage(100, 50));
  assert.deepEqual(context.named("drawImage")[0].slice(2), [20, 40, 60, 80, 1, 2, 3, 4]);
  drawImageRect(context, null, rects);
  assert.equal(context.named("drawImage").length, 1, "no image: nothing drawn");
});

test("before a run the placeholder is drawn in the user's language", () => {
  const context = new RecordingContext();
  drawScene(context, scene({ rects: null }));
  assert.equal(context.named("fillText")[0][1], "运行工作流以查看预览");
  assert.deepEqual(context.named("clearRect")[0].slice(1), [0, 0, 200, 200]);
  assert.equal(context.named("drawImage").length, 0);
});

test("a cut-out is drawn over the chosen backdrop, filling exactly the image's rectangle", () => {
  for (const [backdrop, expected] of [["checker", "CHECKER"], ["black", "#000000"], ["white", "#ffffff"], ["color", "#123456"]]) {
    const context = new RecordingContext();
    drawScene(context, scene({ props: props({ ben2_backdrop: backdrop, ben2_backdrop_color: "#123456" }) }));
    assert.deepEqual(fills(context), [expected], backdrop);
    assert.deepEqual(context.named("fillRect")[0].slice(1), [0, 50, 200, 100], "fitted 2:1 image in a square box");
    assert.deepEqual(drawnLabels(context), ["after"]);
  }
});

test("compare draws before left of the split and after right of it, with translated labels", () => {
  const context = new RecordingContext();
  drawScene(context, scene({ kind: "compare", split: 0.25 }));
  assert.deepEqual(drawnLabels(context), ["before", "after"]);
  const clips = context.named("rect").map((call) => call.slice(1));
  assert.deepEqual(clips, [[0, 50, 50, 100], [50, 50, 150, 100]]);
  assert.deepEqual(context.named("fillRect").at(1).slice(1), [49, 50, 2, 100], "the divider sits on the split");
  assert.deepEqual(context.named("fillText").map((call) => call[1]), ["前", "后"]);
  assert.equal(context.named("save").length, context.named("restore").length);
});

test("the trimap overlay is drawn at the chosen opacity over the image, opaque without one", () => {
  const trimap = fakeImage(400, 200, "trimap");
  const overlay = { width: 400, height: 200, label: "overlay" };
  const under = fakeImage(800, 400, "under");
  const context = new RecordingContext();
  drawScene(context, scene({ kind: "trimap", props: props({ ben2_trimap_opacity: 0.3 }), images: { trimap, overlay, under } }));
  assert.deepEqual(drawnLabels(context), ["under", "overlay"]);
  const alphas = context.calls.filter((c) => c[0] === "set" && c[1] === "globalAlpha").map((c) => c[2]);
  assert.deepEqual(alphas, [0.3, 1]);
  assert.equal(context.named("drawImage")[0][4], 800, "the 2x underlay's source is scaled to its own pixels");
  const bare = new RecordingContext();
  drawScene(bare, scene({ kind: "trimap", images: { trimap, overlay, under: undefined } }));
  assert.deepEqual(fills(bare), ["#202020"]);
  assert.deepEqual(bare.calls.filter((c) => c[1] === "globalAlpha").map((c) => c[2]), [1, 1]);
});

test("pixels stay sharp only when zoomed in far", () => {
  const far = new RecordingContext();
  drawScene(far, scene({ rects: viewRects(40, 20, 200, 200, { zoom: 4 }) }));
  const near = new RecordingContext();
  drawScene(near, scene());
  const smoothing = (context) => context.calls.find((c) => c[1] === "imageSmoothingEnabled")[2];
  assert.equal(smoothing(far), false);
  assert.equal(smoothing(near), true);
});

test("checkerPattern tiles two cells of two greys; the trimap overlay is the trimap's size", () => {
  const doc = new FakeDocument();
  const context = new RecordingContext();
  assert.deepEqual(checkerPattern(context, doc), { pattern: true });
  const tile = doc.created[0];
  assert.deepEqual([tile.width, tile.height], [2 * CHECKER_CELL, 2 * CHECKER_CELL]);
  assert.equal(tile.context.named("fillRect").length, 3);
  const overlay = trimapOverlayCanvas(fakeImage(6, 4), doc);
  assert.deepEqual([overlay.width, overlay.height], [6, 4]);
  assert.equal(overlay.context.named("putImageData").length, 1);
});
