import assert from "node:assert/strict";
import { test } from "node:test";

import { ZOOM_MAX } from "../lib/properties.js";
import {
  clampView,
  fitContain,
  imagePointAt,
  panBy,
  pixelated,
  splitFromPointer,
  stepIndex,
  viewRects,
  zoomAt,
  zoomLabel,
  zoomStep,
} from "../lib/view.js";

const close = (actual, expected, message) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${message}: ${actual} vs ${expected}`);

test("fitContain letterboxes a wide image and pillarboxes a tall one", () => {
  assert.deepEqual(fitContain(200, 100, 100, 100), { x: 0, y: 25, w: 100, h: 50 });
  assert.deepEqual(fitContain(100, 200, 100, 100), { x: 25, y: 0, w: 50, h: 100 });
  assert.deepEqual(fitContain(10, 10, 100, 50), { x: 25, y: 0, w: 50, h: 50 }, "small images scale up");
  assert.deepEqual(fitContain(0, 10, 100, 100), { x: 0, y: 0, w: 0, h: 0 });
});

test("viewRects at zoom 1 shows the whole image fitted", () => {
  const r = viewRects(400, 200, 200, 200, { zoom: 1, centerX: 0.5, centerY: 0.5 });
  assert.deepEqual(r.src, { x: 0, y: 0, w: 400, h: 200 });
  assert.deepEqual(r.dst, { x: 0, y: 50, w: 200, h: 100 });
  close(r.scale, 0.5, "scale");
});

test("viewRects at zoom 4 shows a quarter of the width around the centre", () => {
  const r = viewRects(400, 400, 200, 200, { zoom: 4, centerX: 0.5, centerY: 0.5 });
  assert.deepEqual(r.src, { x: 150, y: 150, w: 100, h: 100 });
  assert.deepEqual(r.dst, { x: 0, y: 0, w: 200, h: 200 });
  close(r.scale, 2, "scale");
});

test("viewRects clamps the centre so the view never leaves the image", () => {
  const r = viewRects(400, 400, 200, 200, { zoom: 4, centerX: 0, centerY: 1 });
  assert.deepEqual(r.src, { x: 0, y: 300, w: 100, h: 100 });
  close(r.centerX, 0.125, "centerX");
  close(r.centerY, 0.875, "centerY");
  const wide = viewRects(400, 100, 200, 200, { zoom: 2, centerX: 0.5, centerY: 0 });
  close(wide.centerY, 0.5, "image shorter than the box stays centred vertically");
});

test("imagePointAt maps box points back to image pixels", () => {
  const r = viewRects(400, 400, 200, 200, { zoom: 4, centerX: 0.5, centerY: 0.5 });
  assert.deepEqual(imagePointAt(r, 0, 0), { x: 150, y: 150 });
  assert.deepEqual(imagePointAt(r, 100, 200), { x: 200, y: 250 });
  const fitted = viewRects(400, 200, 200, 200, { zoom: 1 });
  assert.equal(imagePointAt(fitted, 100, 10), null, "letterbox area is outside the image");
});

test("zoomAt keeps the image point under the pointer fixed", () => {
  const view = { zoom: 1, centerX: 0.5, centerY: 0.5 };
  for (const [px, py] of [[30, 40], [100, 100], [170, 20]]) {
    const before = imagePointAt(viewRects(400, 400, 200, 200, view), px, py);
    const zoomed = zoomAt(400, 400, 200, 200, view, 4, px, py);
    assert.equal(zoomed.zoom, 4);
    const after = imagePointAt(viewRects(400, 400, 200, 200, zoomed), px, py);
    close(after.x, before.x, `x at ${px},${py}`);
    close(after.y, before.y, `y at ${px},${py}`);
  }
});

test("zoomAt clamps the zoom range and zooms about the centre from outside the image", () => {
  const big = zoomAt(400, 400, 200, 200, { zoom: 16 }, 10, 100, 100);
  assert.equal(big.zoom, ZOOM_MAX);
  const back = zoomAt(400, 400, 200, 200, { zoom: 2, centerX: 0.3, centerY: 0.3 }, 0.1, 100, 100);
  assert.deepEqual(back, { zoom: 1, centerX: 0.5, centerY: 0.5 });
  const outside = zoomAt(400, 200, 200, 200, { zoom: 1 }, 2, 100, 5);
  assert.equal(outside.zoom, 2);
  close(outside.centerX, 0.5, "outside: centre kept");
});

test("panBy moves the image with the pointer and stops at the edges", () => {
  const view = { zoom: 4, centerX: 0.5, centerY: 0.5 };
  const moved = panBy(400, 400, 200, 200, view, 20, -10);
  // scale 2 box px per image px: 20 px right = 10 image px = 0.025 of the width, to the left in image space.
  close(moved.centerX, 0.475, "centerX");
  close(moved.centerY, 0.5125, "centerY");
  const edge = panBy(400, 400, 200, 200, view, 10_000, 10_000);
  close(edge.centerX, 0.125, "clamped x");
  close(edge.centerY, 0.125, "clamped y");
  assert.deepEqual(clampView(400, 400, 200, 200, { zoom: 0.2, centerX: 0.9, centerY: 0.1 }), {
    zoom: 1,
    centerX: 0.5,
    centerY: 0.5,
  });
});

test("split, zoom steps, labels, index stepping, smoothing", () => {
  const dst = { x: 10, y: 0, w: 100, h: 50 };
  close(splitFromPointer(dst, 35), 0.25, "split");
  assert.equal(splitFromPointer(dst, -50), 0);
  assert.equal(splitFromPointer(dst, 500), 1);
  assert.equal(splitFromPointer({ x: 0, y: 0, w: 0, h: 0 }, 5), 0.5);
  assert.equal(zoomStep(1, 1), 2);
  assert.equal(zoomStep(2, 1), 4);
  assert.equal(zoomStep(3, 1), 4);
  assert.equal(zoomStep(3, -1), 2);
  assert.equal(zoomStep(1, -1), 1);
  assert.equal(zoomStep(ZOOM_MAX, 1), ZOOM_MAX);
  assert.equal(zoomLabel(1), "fit");
  assert.equal(zoomLabel(4), "4×");
  assert.equal(zoomLabel(2.54), "2.5×");
  assert.equal(stepIndex(0, -1, 4), 3);
  assert.equal(stepIndex(3, 1, 4), 0);
  assert.equal(stepIndex(2, 1, 0), 0);
  assert.equal(pixelated(1), false);
  assert.equal(pixelated(4), true);
});
