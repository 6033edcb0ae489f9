// Layout and zoom math for the preview canvas. Pure module, unit-tested with `node --test web/tests`.
// Conventions: sizes in CSS pixels; a view is {zoom, centerX, centerY} with the centre in image
// fractions (0..1); zoom 1 = the whole image fitted into the box.

import { ZOOM_MAX, ZOOM_MIN } from "./properties.js";

const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));

/** Largest rectangle of the image's aspect ratio centred in the box: {x, y, w, h}. */
export function fitContain(imageW, imageH, boxW, boxH) {
  if (!(imageW > 0 && imageH > 0) || !(boxW > 0 && boxH > 0)) {
    return { x: 0, y: 0, w: 0, h: 0 };
  }
  const scale = Math.min(boxW / imageW, boxH / imageH);
  const w = imageW * scale;
  const h = imageH * scale;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h };
}

/**
 * Source and destination rectangles for drawing the image zoomed into the box.
 * Returns {src: {x, y, w, h} in image pixels, dst: {x, y, w, h} in box pixels, scale (box px per
 * image px), centerX, centerY (the centre after clamping, so the view never leaves the image)}.
 */
export function viewRects(imageW, imageH, boxW, boxH, view) {
  const fit = fitContain(imageW, imageH, boxW, boxH);
  if (fit.w === 0) {
    return { src: { x: 0, y: 0, w: 0, h: 0 }, dst: fit, scale: 0, centerX: 0.5, centerY: 0.5 };
  }
  const zoom = clamp(view.zoom ?? 1, ZOOM_MIN, ZOOM_MAX);
  const scale = (fit.w / imageW) * zoom;
  const srcW = Math.min(imageW, boxW / scale);
  const srcH = Math.min(imageH, boxH / scale);
  const centerX = clamp(view.centerX ?? 0.5, srcW / 2 / imageW, 1 - srcW / 2 / imageW);
  const centerY = clamp(view.centerY ?? 0.5, srcH / 2 / imageH, 1 - srcH / 2 / imageH);
  const src = { x: centerX * imageW - srcW / 2, y: centerY * imageH - srcH / 2, w: srcW, h: srcH };
  const dstW = srcW * scale;
  const dstH = srcH * scale;
  const dst = { x: (boxW - dstW) / 2, y: (boxH - dstH) / 2, w: dstW, h: dstH };
  return { src, dst, scale, centerX, centerY };
}

/** Image point (pixels) under box point (px, py), or null outside the drawn image. */
export function imagePointAt(rects, px, py) {
  const { src, dst, scale } = rects;
  if (scale <= 0 || px < dst.x || py < dst.y || px > dst.x + dst.w || py > dst.y + dst.h) return null;
  return { x: src.x + (px - dst.x) / scale, y: src.y + (py - dst.y) / scale };
}

/**
 * Zoom by `factor` keeping the image point under the pointer (px, py) where it is (or zoom about
 * the centre when the pointer is outside the image). Returns the new view (clamped).
 */
export function zoomAt(imageW, imageH, boxW, boxH, view, factor, px, py) {
  const before = viewRects(imageW, imageH, boxW, boxH, view);
  const zoom = clamp((view.zoom ?? 1) * factor, ZOOM_MIN, ZOOM_MAX);
  const anchor = imagePointAt(before, px, py);
  if (before.scale === 0 || anchor === null) {
    return clampView(imageW, imageH, boxW, boxH, { zoom, centerX: before.centerX, centerY: before.centerY });
  }
  const scale = (before.scale / clamp(view.zoom ?? 1, ZOOM_MIN, ZOOM_MAX)) * zoom;
  // After zooming, the box centre shows image point c; the pointer sits (p - box/2) px away from it.
  const centerX = (anchor.x - (px - boxW / 2) / scale) / imageW;
  const centerY = (anchor.y - (py - boxH / 2) / scale) / imageH;
  return clampView(imageW, imageH, boxW, boxH, { zoom, centerX, centerY });
}

/** Move the view by a pointer drag of (dx, dy) box pixels (the image follows the pointer). */
export function panBy(imageW, imageH, boxW, boxH, view, dx, dy) {
  const rects = viewRects(imageW, imageH, boxW, boxH, view);
  if (rects.scale === 0) return clampView(imageW, imageH, boxW, boxH, view);
  return clampView(imageW, imageH, boxW, boxH, {
    zoom: view.zoom,
    centerX: rects.centerX - dx / rects.scale / imageW,
    centerY: rects.centerY - dy / rects.scale / imageH,
  });
}

/** The view with zoom and centre clamped so the image always fills what it can of the box. */
export function clampView(imageW, imageH, boxW, boxH, view) {
  const rects = viewRects(imageW, imageH, boxW, boxH, view);
  return { zoom: clamp(view.zoom ?? 1, ZOOM_MIN, ZOOM_MAX), centerX: rects.centerX, centerY: rects.centerY };
}

/** Split position (0..1 of the drawn image's width) for a pointer at box x `px`. */
export function splitFromPointer(dst, px) {
  if (!(dst.w > 0)) return 0.5;
  return clamp((px - dst.x) / dst.w, 0, 1);
}

/** Next zoom step for the toolbar buttons: powers of two, snapping from any in-between zoom. */
export function zoomStep(zoom, direction) {
  const exponent = Math.log2(clamp(zoom, ZOOM_MIN, ZOOM_MAX));
  const next = direction > 0 ? Math.floor(exponent + 1e-9) + 1 : Math.ceil(exponent - 1e-9) - 1;
  return clamp(2 ** next, ZOOM_MIN, ZOOM_MAX);
}

/** Short zoom label for the toolbar: "fit", "2×", "2.5×". */
export function zoomLabel(zoom) {
  if (zoom <= ZOOM_MIN + 1e-6) return "fit";
  const rounded = Math.round(zoom * 10) / 10;
  return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)}×`;
}

/** Index after stepping `delta` through `count` items, wrapping around; 0 when there are none. */
export function stepIndex(index, delta, count) {
  if (!(count > 0)) return 0;
  return (((index + delta) % count) + count) % count;
}

/** Whether pixels should stay sharp (no smoothing) at this many box pixels per image pixel. */
export function pixelated(scale) {
  return scale >= 3;
}
