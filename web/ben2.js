// ComfyUI-BEN2 front-end: see the cut-out inside the graph.
//
// Segment Foreground / Refine Edges / Composite Background: the result over a checkerboard, black,
// white or a chosen colour. Confidence Trimap: the image under a colour-coded trimap at an
// adjustable opacity. Refine Edges: before/after with a split that follows the pointer.
// Every preview zooms (wheel or the toolbar) and pans (drag), so hair can be judged pixel by pixel.
//
// The backend sends preview PNGs under its own ui keys (nodes/preview.py: ben2_rgba, ben2_trimap,
// ben2_trimap_image, ben2_before, ben2_after, ben2_batch_size). Only our node types are hooked
// (beforeRegisterNodeDef), so other graphs pay nothing; when the backend nodes are missing no hook
// runs at all. The viewer's choices live in node.properties and are saved with the workflow.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

import { TRIMAP_COLORS, colorizeTrimap, rgbCss, trimapLookupTable } from "./lib/colormap.js";
import { BACKDROPS, backdropColor, featuresFor, normalizeProperties } from "./lib/properties.js";
import {
  clampView,
  panBy,
  pixelated,
  splitFromPointer,
  stepIndex,
  viewRects,
  zoomAt,
  zoomLabel,
  zoomStep,
} from "./lib/view.js";

const EXTENSION_NAME = "comfyui-ben2.previews";
const WIDGET_NAME = "ben2_preview";
const LOG_PREFIX = "[ComfyUI-BEN2]";
const MIN_PREVIEW_HEIGHT = 240;
const CHECKER_CELL = 8;
const BACKDROP_LABELS = { checker: "▦", black: "■", white: "□", color: "●" };
const BACKDROP_TITLES = {
  checker: "Checkerboard behind the cut-out",
  black: "Black behind the cut-out",
  white: "White behind the cut-out",
  color: "A colour of your choice behind the cut-out (click again to pick it)",
};

let stylesInjected = false;

function injectStyles() {
  if (stylesInjected) return;
  stylesInjected = true;
  const style = document.createElement("style");
  style.dataset.ben2 = "previews";
  style.textContent = `
.ben2-preview { display: flex; flex-direction: column; gap: 4px; width: 100%; height: 100%; min-height: 0;
  box-sizing: border-box; font: 11px sans-serif; color: var(--input-text, #ddd); }
.ben2-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 3px; }
.ben2-toolbar button { min-width: 22px; height: 20px; padding: 0 4px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: inherit; font: inherit; }
.ben2-toolbar button[aria-pressed="true"] { outline: 2px solid #4a90e2; outline-offset: -1px; }
.ben2-toolbar input[type="range"] { width: 80px; height: 14px; }
.ben2-toolbar input[type="color"] { width: 22px; height: 20px; padding: 0; border: none; background: none; }
.ben2-toolbar .ben2-sep { flex: 1 1 auto; }
.ben2-toolbar .ben2-group { display: inline-flex; align-items: center; gap: 3px; white-space: nowrap; }
.ben2-toolbar .ben2-swatch { display: inline-block; width: 9px; height: 9px; margin: 0 2px 0 4px; border-radius: 2px; }
.ben2-canvas { flex: 1 1 auto; min-height: 0; width: 100%; border-radius: 4px; touch-action: none; cursor: grab; }
`;
  document.head.appendChild(style);
}

function viewUrl(entry) {
  const params = new URLSearchParams({
    filename: String(entry.filename ?? ""),
    subfolder: String(entry.subfolder ?? ""),
    type: String(entry.type ?? "temp"),
  });
  return api.apiURL(`/view?${params}${app.getRandParam?.() ?? ""}`);
}

function loadImage(entry) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load preview ${entry?.filename}`));
    image.src = viewUrl(entry);
  });
}

function listOf(output, key) {
  const value = output?.[key];
  return Array.isArray(value) ? value.filter((entry) => entry && typeof entry.filename === "string") : [];
}

/** The coloured trimap as a canvas (once per received trimap, reused for every redraw). */
function trimapOverlayCanvas(image) {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  colorizeTrimap(pixels.data, TRIMAP_LOOKUP, pixels.data);
  context.putImageData(pixels, 0, 0);
  return canvas;
}

const TRIMAP_LOOKUP = trimapLookupTable();

function makeButton(text, title, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.title = title;
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick(event);
  });
  return button;
}

/** The preview widget of one node: toolbar + canvas, state in node.properties. */
class PreviewPanel {
  constructor(node, features) {
    this.node = node;
    this.features = features;
    this.main = []; // HTMLImageElement per previewed batch item (the result; "after" for Refine Edges)
    this.before = [];
    this.trimapImages = []; // the greyscale trimaps (Confidence Trimap)
    this.overlays = []; // their coloured canvases
    this.under = []; // the images under the trimaps
    this.batchSize = 0;
    this.split = 0.5; // before|after split, 0..1 of the drawn image width
    this.generation = 0;
    this.drag = null;
    this.resizeObserver = null;
    this.pendingFrame = 0;
    this.drawnScale = 0;

    injectStyles();
    this.root = document.createElement("div");
    this.root.className = "ben2-preview";
    this.toolbar = document.createElement("div");
    this.toolbar.className = "ben2-toolbar";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "ben2-canvas";
    this.root.append(this.toolbar, this.canvas);
    this.buildToolbar();
    this.bindPointer();

    this.widget = node.addDOMWidget(WIDGET_NAME, "ben2_preview", this.root, {
      serialize: false, // viewer state lives in node.properties, never in widgets_values or the prompt
      hideOnZoom: true,
      getValue: () => "",
      setValue: () => {},
      getMinHeight: () => MIN_PREVIEW_HEIGHT,
      onDraw: () => this.onGraphDraw(),
    });
    this.widget.serialize = false;

    if (typeof ResizeObserver === "function") {
      this.resizeObserver = new ResizeObserver(() => this.requestDraw());
      this.resizeObserver.observe(this.canvas);
    }
    this.syncProperties();
  }

  get props() {
    return normalizeProperties(this.node.properties);
  }

  setProps(changes) {
    this.node.properties ??= {};
    Object.assign(this.node.properties, normalizeProperties({ ...this.node.properties, ...changes }));
    this.syncToolbar();
    this.requestDraw();
  }

  /** Write every property (defaults for the missing ones) so a saved workflow carries them all. */
  syncProperties() {
    this.node.properties ??= {};
    Object.assign(this.node.properties, normalizeProperties(this.node.properties));
    this.syncToolbar();
    this.requestDraw();
  }

  buildToolbar() {
    const bar = this.toolbar;
    this.backdropButtons = {};
    if (this.features.backdrop) {
      for (const backdrop of BACKDROPS) {
        const button = makeButton(BACKDROP_LABELS[backdrop], BACKDROP_TITLES[backdrop], () => {
          if (backdrop === "color" && this.props.ben2_backdrop === "color") this.colorInput.click();
          this.setProps({ ben2_backdrop: backdrop });
        });
        button.dataset.backdrop = backdrop;
        this.backdropButtons[backdrop] = button;
        bar.append(button);
      }
      this.colorInput = document.createElement("input");
      this.colorInput.type = "color";
      this.colorInput.title = "Backdrop colour";
      this.colorInput.addEventListener("input", () =>
        this.setProps({ ben2_backdrop: "color", ben2_backdrop_color: this.colorInput.value })
      );
      bar.append(this.colorInput);
    }
    if (this.features.trimap) {
      const label = document.createElement("span");
      label.textContent = "overlay";
      this.opacityInput = document.createElement("input");
      this.opacityInput.type = "range";
      this.opacityInput.min = "0";
      this.opacityInput.max = "100";
      this.opacityInput.title = "Trimap overlay opacity";
      this.opacityInput.addEventListener("input", () =>
        this.setProps({ ben2_trimap_opacity: Number(this.opacityInput.value) / 100 })
      );
      const legend = document.createElement("span");
      legend.className = "ben2-group";
      bar.append(label, this.opacityInput, legend);
      for (const [name, rgb] of Object.entries(TRIMAP_COLORS)) {
        const swatch = document.createElement("span");
        swatch.className = "ben2-swatch";
        swatch.style.background = rgbCss(rgb);
        const text = document.createElement("span");
        text.textContent = name === "foreground" ? "fg" : name === "background" ? "bg" : "edge";
        text.title = `${name} (trimap ${name === "foreground" ? 1 : name === "background" ? 0 : 0.5})`;
        legend.append(swatch, text);
      }
    }
    if (this.features.compare) {
      this.compareButton = makeButton("before | after", "Compare the coarse and the refined cut-out", () =>
        this.setProps({ ben2_compare: !this.props.ben2_compare })
      );
      this.compareButton.dataset.action = "compare";
      bar.append(this.compareButton);
    }
    const spacer = document.createElement("span");
    spacer.className = "ben2-sep";
    bar.append(spacer);

    this.indexButtons = document.createElement("span");
    this.indexButtons.className = "ben2-group";
    const previous = makeButton("‹", "Previous image of the batch", () => this.stepImage(-1));
    this.indexLabel = document.createElement("span");
    const next = makeButton("›", "Next image of the batch", () => this.stepImage(1));
    this.indexButtons.append(previous, this.indexLabel, next);
    bar.append(this.indexButtons);

    const zoomGroup = document.createElement("span");
    zoomGroup.className = "ben2-group";
    const zoomOut = makeButton("−", "Zoom out", () => this.zoomBy(-1));
    zoomOut.dataset.action = "zoom-out";
    this.zoomText = makeButton("fit", "Fit the whole image (double-click the image does the same)", () =>
      this.setProps({ ben2_zoom: 1, ben2_center_x: 0.5, ben2_center_y: 0.5 })
    );
    const zoomIn = makeButton("+", "Zoom in (or use the mouse wheel over the image; drag to pan)", () =>
      this.zoomBy(1)
    );
    zoomIn.dataset.action = "zoom-in";
    zoomGroup.append(zoomOut, this.zoomText, zoomIn);
    bar.append(zoomGroup);
  }

  syncToolbar() {
    const props = this.props;
    for (const [backdrop, button] of Object.entries(this.backdropButtons)) {
      button.setAttribute("aria-pressed", String(props.ben2_backdrop === backdrop));
    }
    if (this.colorInput) {
      this.colorInput.value = props.ben2_backdrop_color;
      this.backdropButtons.color.style.color = props.ben2_backdrop_color;
    }
    if (this.opacityInput) this.opacityInput.value = String(Math.round(props.ben2_trimap_opacity * 100));
    if (this.compareButton) {
      this.compareButton.setAttribute("aria-pressed", String(props.ben2_compare));
      this.compareButton.disabled = this.before.length === 0 && this.main.length > 0;
    }
    this.zoomText.textContent = zoomLabel(props.ben2_zoom);
    const count = this.baseImages().length;
    this.indexButtons.style.display = count > 1 ? "" : "none";
    const index = Math.min(props.ben2_index, Math.max(0, count - 1));
    const more = this.batchSize > count ? ` of ${this.batchSize}` : "";
    this.indexLabel.textContent = ` ${index + 1}/${count}${more} `;
  }

  baseImages() {
    return this.features.trimap ? this.trimapImages : this.main;
  }

  currentIndex() {
    const count = this.baseImages().length;
    return count ? Math.min(this.props.ben2_index, count - 1) : 0;
  }

  stepImage(delta) {
    this.setProps({ ben2_index: stepIndex(this.currentIndex(), delta, this.baseImages().length) });
  }

  /** [imageW, imageH, boxW, boxH] of the current image in the canvas, or null before a run. */
  geometry() {
    const base = this.baseImages()[this.currentIndex()];
    const boxW = this.canvas.clientWidth;
    const boxH = this.canvas.clientHeight;
    if (!base || !boxW || !boxH) return null;
    return [base.naturalWidth, base.naturalHeight, boxW, boxH];
  }

  currentView() {
    const props = this.props;
    return { zoom: props.ben2_zoom, centerX: props.ben2_center_x, centerY: props.ben2_center_y };
  }

  applyView(view) {
    this.setProps({ ben2_zoom: view.zoom, ben2_center_x: view.centerX, ben2_center_y: view.centerY });
  }

  zoomBy(direction) {
    const geometry = this.geometry();
    const view = { ...this.currentView(), zoom: zoomStep(this.props.ben2_zoom, direction) };
    this.applyView(geometry ? clampView(...geometry, view) : view);
  }

  bindPointer() {
    const canvas = this.canvas;
    // Pointer position in the canvas's own CSS pixels: the frontend scales DOM widgets with a CSS
    // transform that follows the graph zoom, so the on-screen box differs from clientWidth/Height.
    const local = (event) => {
      const rect = canvas.getBoundingClientRect();
      const scaleX = rect.width ? canvas.clientWidth / rect.width : 1;
      const scaleY = rect.height ? canvas.clientHeight / rect.height : 1;
      return [(event.clientX - rect.left) * scaleX, (event.clientY - rect.top) * scaleY];
    };
    canvas.addEventListener(
      "wheel",
      (event) => {
        const geometry = this.geometry();
        if (!geometry) return; // nothing to zoom: let the graph zoom as usual
        event.preventDefault();
        event.stopPropagation();
        const factor = Math.exp(-event.deltaY * 0.0015);
        this.applyView(zoomAt(...geometry, this.currentView(), factor, ...local(event)));
      },
      { passive: false }
    );
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !this.geometry()) return;
      event.preventDefault();
      event.stopPropagation();
      canvas.setPointerCapture?.(event.pointerId);
      const [x, y] = local(event);
      this.drag = { x, y };
      canvas.style.cursor = "grabbing";
    });
    canvas.addEventListener("pointermove", (event) => {
      const geometry = this.geometry();
      if (!geometry) return;
      const [x, y] = local(event);
      if (this.drag) {
        const view = panBy(...geometry, this.currentView(), x - this.drag.x, y - this.drag.y);
        this.drag = { x, y };
        this.applyView(view);
      } else if (this.comparing()) {
        // The split follows the pointer, as in core's Image Compare node.
        const rects = viewRects(...geometry, this.currentView());
        // Not a saved choice: hovering must not mark the workflow as modified.
        this.split = splitFromPointer(rects.dst, x);
        this.requestDraw();
      }
    });
    const endDrag = (event) => {
      if (!this.drag) return;
      this.drag = null;
      canvas.releasePointerCapture?.(event.pointerId);
      canvas.style.cursor = "";
    };
    canvas.addEventListener("pointerup", endDrag);
    canvas.addEventListener("pointercancel", endDrag);
    canvas.addEventListener("dblclick", (event) => {
      event.stopPropagation();
      this.setProps({ ben2_zoom: 1, ben2_center_x: 0.5, ben2_center_y: 0.5 });
    });
  }

  comparing() {
    return this.features.compare && this.props.ben2_compare && this.before.length > 0;
  }

  /** Show a node's `executed` output (ignores outputs without our keys). */
  async show(output) {
    const main = listOf(output, "ben2_after").length ? listOf(output, "ben2_after") : listOf(output, "ben2_rgba");
    const before = listOf(output, "ben2_before");
    const trimap = listOf(output, "ben2_trimap");
    const trimapImage = listOf(output, "ben2_trimap_image");
    if (!main.length && !trimap.length) return;
    const generation = ++this.generation;
    try {
      const [mainImages, beforeImages, trimapImages, underImages] = await Promise.all(
        [main, before, trimap, trimapImage].map((entries) => Promise.all(entries.map(loadImage)))
      );
      if (generation !== this.generation) return; // a newer run arrived meanwhile
      this.main = mainImages;
      this.before = beforeImages.length === mainImages.length ? beforeImages : [];
      this.trimapImages = trimapImages;
      this.overlays = trimapImages.map(trimapOverlayCanvas);
      this.under = underImages;
      const sizes = output.ben2_batch_size;
      this.batchSize = Array.isArray(sizes) && Number.isFinite(sizes[0]) ? sizes[0] : this.baseImages().length;
      this.syncToolbar();
      this.requestDraw();
    } catch (error) {
      // Previews live in the temp folder, emptied when the server restarts: not worth an error.
      console.warn(LOG_PREFIX, error.message);
    }
  }

  requestDraw() {
    if (this.pendingFrame) return;
    const schedule = globalThis.requestAnimationFrame ?? ((callback) => setTimeout(callback, 16));
    this.pendingFrame = schedule(() => {
      this.pendingFrame = 0;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const boxW = canvas.clientWidth;
    const boxH = canvas.clientHeight;
    if (!boxW || !boxH) return;
    // Backing pixels follow the screen: device pixel ratio times the graph zoom (the frontend
    // scales DOM widgets with a CSS transform), so a zoomed-in graph still shows a sharp preview.
    const ratio = (globalThis.devicePixelRatio || 1) * this.cssScale();
    this.drawnScale = this.cssScale();
    const width = Math.round(boxW * ratio);
    const height = Math.round(boxH * ratio);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, boxW, boxH);

    const geometry = this.geometry();
    if (!geometry) {
      context.fillStyle = "rgba(128, 128, 128, 0.8)";
      context.font = "12px sans-serif";
      context.textAlign = "center";
      context.fillText("Run the graph to see the preview", boxW / 2, boxH / 2);
      return;
    }
    const props = this.props;
    const index = this.currentIndex();
    const rects = viewRects(...geometry, this.currentView());
    // Whole pixels, so the backdrop cannot bleed through the image's anti-aliased border.
    const [x0, y0] = [Math.round(rects.dst.x), Math.round(rects.dst.y)];
    const [x1, y1] = [Math.round(rects.dst.x + rects.dst.w), Math.round(rects.dst.y + rects.dst.h)];
    rects.dst = { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
    const { dst } = rects;
    context.imageSmoothingEnabled = !pixelated(rects.scale);

    if (this.features.trimap) {
      this.drawTrimap(context, rects, index, props);
      return;
    }
    this.drawBackdrop(context, dst, props);
    if (this.comparing()) {
      const splitX = dst.x + dst.w * this.split;
      this.drawClipped(context, this.before[index], rects, dst.x, splitX);
      this.drawClipped(context, this.main[index], rects, splitX, dst.x + dst.w);
      context.fillStyle = "#ffffff";
      context.fillRect(Math.round(splitX) - 1, dst.y, 2, dst.h);
      this.drawLabel(context, "before", dst.x + 4, dst.y + 4, "left");
      this.drawLabel(context, "after", dst.x + dst.w - 4, dst.y + 4, "right");
    } else {
      drawImageRect(context, this.main[index], rects);
    }
  }

  /** On-screen size over layout size of the canvas (the graph zoom), kept within [0.5, 4]. */
  cssScale() {
    const width = this.canvas.clientWidth;
    if (!width) return 1;
    const scale = this.canvas.getBoundingClientRect().width / width;
    return Math.min(4, Math.max(0.5, scale || 1));
  }

  /** Called on every canvas frame that draws the widget: redraw only when the graph zoom changed. */
  onGraphDraw() {
    if (!this.baseImages().length) return;
    const scale = this.cssScale();
    if (!this.drawnScale || Math.abs(scale / this.drawnScale - 1) > 0.15) this.requestDraw();
  }

  drawBackdrop(context, dst, props) {
    const color = backdropColor(props.ben2_backdrop, props.ben2_backdrop_color);
    if (color) {
      context.fillStyle = color;
    } else {
      this.checker ??= checkerPattern(context);
      context.fillStyle = this.checker;
    }
    context.fillRect(dst.x, dst.y, dst.w, dst.h);
  }

  drawClipped(context, image, rects, fromX, toX) {
    if (!image || toX <= fromX) return;
    context.save();
    context.beginPath();
    context.rect(fromX, rects.dst.y, toX - fromX, rects.dst.h);
    context.clip();
    drawImageRect(context, image, rects);
    context.restore();
  }

  drawTrimap(context, rects, index, props) {
    const { dst } = rects;
    const under = this.under?.[index];
    if (under) {
      drawImageRect(context, under, rects, this.trimapImages[index]);
    } else {
      context.fillStyle = "#202020";
      context.fillRect(dst.x, dst.y, dst.w, dst.h);
    }
    context.globalAlpha = under ? props.ben2_trimap_opacity : 1;
    drawImageRect(context, this.overlays[index], rects, this.trimapImages[index]);
    context.globalAlpha = 1;
  }

  drawLabel(context, text, x, y, align) {
    context.font = "11px sans-serif";
    context.textAlign = align;
    context.textBaseline = "top";
    const width = context.measureText(text).width + 8;
    context.fillStyle = "rgba(0, 0, 0, 0.6)";
    context.fillRect(align === "left" ? x : x - width, y, width, 16);
    context.fillStyle = "#ffffff";
    context.fillText(text, align === "left" ? x + 4 : x - 4, y + 2);
  }

  dispose() {
    this.generation++;
    this.resizeObserver?.disconnect();
  }
}

/** Draw the view's source rectangle of `image`; `reference` gives the size the view was computed for. */
function drawImageRect(context, image, rects, reference = image) {
  if (!image) return;
  const refW = reference.naturalWidth ?? reference.width;
  const refH = reference.naturalHeight ?? reference.height;
  const sx = (image.naturalWidth ?? image.width) / refW;
  const sy = (image.naturalHeight ?? image.height) / refH;
  const { src, dst } = rects;
  context.drawImage(image, src.x * sx, src.y * sy, src.w * sx, src.h * sy, dst.x, dst.y, dst.w, dst.h);
}

function checkerPattern(context) {
  const tile = document.createElement("canvas");
  tile.width = tile.height = CHECKER_CELL * 2;
  const tileContext = tile.getContext("2d");
  tileContext.fillStyle = "#cccccc";
  tileContext.fillRect(0, 0, tile.width, tile.height);
  tileContext.fillStyle = "#8c8c8c";
  tileContext.fillRect(0, 0, CHECKER_CELL, CHECKER_CELL);
  tileContext.fillRect(CHECKER_CELL, CHECKER_CELL, CHECKER_CELL, CHECKER_CELL);
  return context.createPattern(tile, "repeat");
}

function chain(original, extra) {
  return function (...args) {
    const result = original?.apply(this, args);
    try {
      extra.apply(this, args);
    } catch (error) {
      console.warn(LOG_PREFIX, error);
    }
    return result;
  };
}

function hookNodeType(nodeType, features) {
  const proto = nodeType.prototype;
  proto.onNodeCreated = chain(proto.onNodeCreated, function () {
    this.ben2Preview = new PreviewPanel(this, features);
    const [width, height] = this.computeSize?.() ?? this.size;
    this.setSize?.([Math.max(this.size[0], 340, width), Math.max(this.size[1], height)]);
  });
  proto.onConfigure = chain(proto.onConfigure, function () {
    this.ben2Preview?.syncProperties(); // the saved workflow's properties are in place now
    // A workflow saved without the preview (or by hand) may carry a size too small for it.
    const [width, height] = this.computeSize?.() ?? this.size;
    if (this.size[0] < width || this.size[1] < height) {
      this.setSize?.([Math.max(this.size[0], width), Math.max(this.size[1], height)]);
    }
  });
  proto.onExecuted = chain(proto.onExecuted, function (output) {
    void this.ben2Preview?.show(output);
  });
  proto.onRemoved = chain(proto.onRemoved, function () {
    this.ben2Preview?.dispose();
  });
}

// The web folder can be registered twice (WEB_DIRECTORY and pyproject's [tool.comfy] web) and then
// loads under two URLs; registering one extension name twice would throw.
const REGISTERED = Symbol.for("comfyui-ben2.previews.registered");
if (!globalThis[REGISTERED]) {
  globalThis[REGISTERED] = true;
  app.registerExtension({
    name: EXTENSION_NAME,
    async beforeRegisterNodeDef(nodeType, nodeData) {
      const features = featuresFor(nodeData?.name);
      if (features) hookNodeType(nodeType, features);
    },
  });
}
