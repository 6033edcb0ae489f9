// The preview widget of one node: toolbar + canvas, the viewer's choices in node.properties.
// Wires the parts together (toolbar.js, pointer.js, drawing.js, view.js, output.js); ComfyUI
// itself comes in through `node` (addDOMWidget) and `deps`, so the panel runs on a fake DOM in tests.

import { checkerPattern, drawScene, trimapOverlayCanvas } from "./drawing.js";
import { previewSets } from "./output.js";
import { bindPointer, setWheelCapture } from "./pointer.js";
import { normalizeProperties } from "./properties.js";
import { buildToolbar } from "./toolbar.js";
import { clampView, panBy, splitFromPointer, stepIndex, viewRects, zoomAt, zoomStep } from "./view.js";

export const WIDGET_NAME = "ben2_preview";
export const MIN_PREVIEW_HEIGHT = 240;
const FIT_VIEW = Object.freeze({ ben2_zoom: 1, ben2_center_x: 0.5, ben2_center_y: 0.5 });

/**
 * `deps`: doc (the document), t (translator), loadImage(entry) -> Promise<HTMLImageElement>,
 * warn(...args) for recoverable problems.
 */
export class PreviewPanel {
  constructor(node, features, deps) {
    this.node = node;
    this.features = features;
    this.deps = deps;
    this.images = { main: [], before: [], trimap: [], overlays: [], under: [] };
    this.batchSize = 0;
    this.split = 0.5; // before|after divider, 0..1 of the drawn width; hover state, never saved
    this.generation = 0;
    this.pendingFrame = 0;
    this.drawnScale = 0;
    this.checker = null;

    const doc = deps.doc;
    this.root = doc.createElement("div");
    this.root.className = "ben2-preview";
    this.toolbar = buildToolbar(doc, features, deps.t, {
      setBackdrop: (backdrop) => this.setProps({ ben2_backdrop: backdrop }),
      pickColor: (color) => this.setProps({ ben2_backdrop: "color", ben2_backdrop_color: color }),
      setOpacity: (opacity) => this.setProps({ ben2_trimap_opacity: opacity }),
      toggleCompare: () => this.setProps({ ben2_compare: !this.props.ben2_compare }),
      step: (delta) => this.setProps({ ben2_index: stepIndex(this.currentIndex(), delta, this.baseImages().length) }),
      zoom: (direction) => this.zoomBy(direction),
      fit: () => this.setProps(FIT_VIEW),
    });
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "ben2-canvas";
    this.root.append(this.toolbar.element, this.canvas);
    this.unbindPointer = bindPointer(
      this.canvas,
      {
        active: () => this.geometry() !== null,
        wheel: (factor, x, y) => this.applyView(zoomAt(...this.geometry(), this.currentView(), factor, x, y)),
        drag: (dx, dy) => this.applyView(panBy(...this.geometry(), this.currentView(), dx, dy)),
        hover: (x, y) => this.hover(x, y),
        reset: () => this.setProps(FIT_VIEW),
      },
      doc
    );

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

  /** Toolbar controls by role (backdropButtons, colorInput, opacityInput, compareButton, zoomText, ...). */
  get controls() {
    return this.toolbar.controls;
  }

  setProps(changes) {
    this.node.properties ??= {};
    Object.assign(this.node.properties, normalizeProperties({ ...this.node.properties, ...changes }));
    this.refresh();
  }

  /** Write every property (defaults for the missing ones) so a saved workflow carries them all. */
  syncProperties() {
    this.setProps({});
  }

  refresh() {
    const count = this.baseImages().length;
    this.toolbar.sync({ props: this.props, count, batchSize: this.batchSize, hasBefore: this.images.before.length > 0 });
    setWheelCapture(this.canvas, count > 0);
    this.requestDraw();
  }

  baseImages() {
    return this.features.trimap ? this.images.trimap : this.images.main;
  }

  currentIndex() {
    const count = this.baseImages().length;
    return count ? Math.min(this.props.ben2_index, count - 1) : 0;
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

  comparing() {
    return this.features.compare && this.props.ben2_compare && this.images.before.length > 0;
  }

  /** The before|after split follows the pointer, as in core's Image Compare node. */
  hover(x) {
    if (!this.comparing()) return;
    this.split = splitFromPointer(viewRects(...this.geometry(), this.currentView()).dst, x);
    this.requestDraw();
  }

  /** Show a node's `executed` output (outputs without our keys are ignored). */
  async show(output) {
    const sets = previewSets(output);
    if (!sets) return;
    const generation = ++this.generation;
    try {
      const [main, before, trimap, under] = await Promise.all(
        [sets.main, sets.before, sets.trimap, sets.under].map((entries) => Promise.all(entries.map(this.deps.loadImage)))
      );
      if (generation !== this.generation) return; // a newer run arrived meanwhile
      const overlays = trimap.map((image) => trimapOverlayCanvas(image, this.deps.doc));
      this.images = { main, before, trimap, overlays, under };
      this.batchSize = sets.batchSize;
      this.refresh();
    } catch (error) {
      // Previews live in the temp folder, emptied when the server restarts: not worth an error.
      this.deps.warn(error.message);
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

  draw() {
    const canvas = this.canvas;
    const boxW = canvas.clientWidth;
    const boxH = canvas.clientHeight;
    if (!boxW || !boxH) return;
    // Backing pixels follow the screen: device pixel ratio times the graph zoom (the front-end
    // scales DOM widgets with a CSS transform), so a zoomed-in graph still shows a sharp preview.
    this.drawnScale = this.cssScale();
    const ratio = (globalThis.devicePixelRatio || 1) * this.drawnScale;
    const [width, height] = [Math.round(boxW * ratio), Math.round(boxH * ratio)];
    if (canvas.width !== width || canvas.height !== height) [canvas.width, canvas.height] = [width, height];
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    const geometry = this.geometry();
    const index = this.currentIndex();
    const { main, before, trimap, overlays, under } = this.images;
    drawScene(context, {
      boxW,
      boxH,
      rects: geometry && viewRects(...geometry, this.currentView()),
      props: this.props,
      t: this.deps.t,
      kind: this.features.trimap ? "trimap" : this.comparing() ? "compare" : "cutout",
      images: { main: main[index], before: before[index], trimap: trimap[index], overlay: overlays[index], under: under[index] },
      split: this.split,
      checker: () => (this.checker ??= checkerPattern(context, this.deps.doc)),
    });
  }

  dispose() {
    this.generation++;
    this.resizeObserver?.disconnect();
    this.unbindPointer();
  }
}
