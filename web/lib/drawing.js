// Drawing the preview into a 2D canvas context: backdrop, cut-out, before|after split, trimap
// overlay, the "run the graph" placeholder. No DOM access except `checkerPattern`'s tile canvas;
// unit-tested with a recording fake context in web/tests.

import { TRIMAP_COLORS, colorizeTrimap, trimapLookupTable } from "./colormap.js";
import { backdropColor } from "./properties.js";
import { pixelated } from "./view.js";

export const CHECKER_CELL = 8;
const CHECKER_LIGHT = "#cccccc";
const CHECKER_DARK = "#8c8c8c";
const EMPTY_TRIMAP_UNDERLAY = "#202020";
const TRIMAP_LOOKUP = trimapLookupTable(TRIMAP_COLORS);

/** The view's destination rectangle on whole pixels, so the backdrop cannot bleed through the border. */
export function snapRect(rect) {
  const x0 = Math.round(rect.x);
  const y0 = Math.round(rect.y);
  return { x: x0, y: y0, w: Math.round(rect.x + rect.w) - x0, h: Math.round(rect.y + rect.h) - y0 };
}

function sizeOf(image) {
  return [image.naturalWidth ?? image.width, image.naturalHeight ?? image.height];
}

/**
 * Draw the view's source rectangle of `image` into its destination. The view was computed for
 * `reference`'s size; `image` may differ (the trimap's underlay), so the source scales to it.
 */
export function drawImageRect(context, image, rects, reference = image) {
  if (!image) return;
  const [imageW, imageH] = sizeOf(image);
  const [refW, refH] = sizeOf(reference);
  const sx = imageW / refW;
  const sy = imageH / refH;
  const { src, dst } = rects;
  context.drawImage(image, src.x * sx, src.y * sy, src.w * sx, src.h * sy, dst.x, dst.y, dst.w, dst.h);
}

/** A repeating checkerboard (two grey cells per 2x2 tile of CHECKER_CELL px). */
export function checkerPattern(context, doc = globalThis.document) {
  const tile = doc.createElement("canvas");
  tile.width = tile.height = CHECKER_CELL * 2;
  const tileContext = tile.getContext("2d");
  tileContext.fillStyle = CHECKER_LIGHT;
  tileContext.fillRect(0, 0, tile.width, tile.height);
  tileContext.fillStyle = CHECKER_DARK;
  tileContext.fillRect(0, 0, CHECKER_CELL, CHECKER_CELL);
  tileContext.fillRect(CHECKER_CELL, CHECKER_CELL, CHECKER_CELL, CHECKER_CELL);
  return context.createPattern(tile, "repeat");
}

/** The coloured trimap as a canvas of the trimap's size (made once per received trimap). */
export function trimapOverlayCanvas(image, doc = globalThis.document) {
  const canvas = doc.createElement("canvas");
  [canvas.width, canvas.height] = sizeOf(image);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  colorizeTrimap(pixels.data, TRIMAP_LOOKUP, pixels.data);
  context.putImageData(pixels, 0, 0);
  return canvas;
}

/** A small label on a dark plate, anchored at (x, y) by its left or right edge. */
export function drawLabel(context, text, x, y, align) {
  context.font = "11px sans-serif";
  context.textAlign = align;
  context.textBaseline = "top";
  const width = context.measureText(text).width + 8;
  context.fillStyle = "rgba(0, 0, 0, 0.6)";
  context.fillRect(align === "left" ? x : x - width, y, width, 16);
  context.fillStyle = "#ffffff";
  context.fillText(text, align === "left" ? x + 4 : x - 4, y + 2);
}

/** The message shown before the first run, centred in the box. */
export function drawPlaceholder(context, text, boxW, boxH) {
  context.fillStyle = "rgba(128, 128, 128, 0.8)";
  context.font = "12px sans-serif";
  context.textAlign = "center";
  context.fillText(text, boxW / 2, boxH / 2);
}

function drawBackdrop(context, dst, props, checker) {
  context.fillStyle = backdropColor(props.ben2_backdrop, props.ben2_backdrop_color) ?? checker();
  context.fillRect(dst.x, dst.y, dst.w, dst.h);
}

function drawClipped(context, image, rects, fromX, toX) {
  if (!image || toX <= fromX) return;
  context.save();
  context.beginPath();
  context.rect(fromX, rects.dst.y, toX - fromX, rects.dst.h);
  context.clip();
  drawImageRect(context, image, rects);
  context.restore();
}

/** Before (left of the split) and after (right of it), a white divider and the two labels. */
function drawCompare(context, rects, before, after, split, t) {
  const { dst } = rects;
  const splitX = dst.x + dst.w * split;
  drawClipped(context, before, rects, dst.x, splitX);
  drawClipped(context, after, rects, splitX, dst.x + dst.w);
  context.fillStyle = "#ffffff";
  context.fillRect(Math.round(splitX) - 1, dst.y, 2, dst.h);
  drawLabel(context, t("before"), dst.x + 4, dst.y + 4, "left");
  drawLabel(context, t("after"), dst.x + dst.w - 4, dst.y + 4, "right");
}

/** The image under the trimap (or a dark plate), then the coloured trimap at the chosen opacity. */
function drawTrimap(context, rects, trimap, overlay, under, opacity) {
  if (under) {
    drawImageRect(context, under, rects, trimap);
  } else {
    context.fillStyle = EMPTY_TRIMAP_UNDERLAY;
    context.fillRect(rects.dst.x, rects.dst.y, rects.dst.w, rects.dst.h);
  }
  context.globalAlpha = under ? opacity : 1;
  drawImageRect(context, overlay, rects, trimap);
  context.globalAlpha = 1;
}

/**
 * Draw one frame. `scene`:
 *   boxW, boxH   the canvas's CSS size; rects: view.viewRects(...) of the current image, or null
 *   props        normalised node properties; t: the translator
 *   kind         "cutout" | "compare" | "trimap"
 *   images       {main, before, trimap, overlay, under}: the current batch item's images
 *   split        0..1, the before|after divider; checker(): the checkerboard fill (cached by the caller)
 */
export function drawScene(context, scene) {
  const { boxW, boxH, rects: viewRects, props, t, kind, images } = scene;
  context.clearRect(0, 0, boxW, boxH);
  if (!viewRects) {
    drawPlaceholder(context, t("runToSee"), boxW, boxH);
    return;
  }
  const rects = { ...viewRects, dst: snapRect(viewRects.dst) };
  context.imageSmoothingEnabled = !pixelated(rects.scale);
  if (kind === "trimap") {
    drawTrimap(context, rects, images.trimap, images.overlay, images.under, props.ben2_trimap_opacity);
    return;
  }
  drawBackdrop(context, rects.dst, props, scene.checker);
  if (kind === "compare") drawCompare(context, rects, images.before, images.main, scene.split, t);
  else drawImageRect(context, images.main, rects);
}
