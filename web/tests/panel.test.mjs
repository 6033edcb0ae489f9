import assert from "node:assert/strict";
import { test } from "node:test";

import { makeTranslator } from "../lib/i18n.js";
import { MIN_PREVIEW_HEIGHT, PreviewPanel, WIDGET_NAME } from "../lib/panel.js";
import { PREVIEW_FEATURES } from "../lib/properties.js";
import { FakeDocument, fakeImage } from "./fake_dom.mjs";

globalThis.requestAnimationFrame = (callback) => {
  callback();
  return 0; // drawn at once: every request draws
};

function fakeNode(properties = {}) {
  return {
    properties,
    widgets: [],
    addDOMWidget(name, type, element, options) {
      const widget = { name, type, element, options };
      this.widgets.push(widget);
      return widget;
    },
  };
}

function makePanel(type, { properties, images = {} } = {}) {
  const doc = new FakeDocument();
  const node = fakeNode(properties);
  const warnings = [];
  const loadImage = async (entry) => {
    if (entry.filename === "gone.png") throw new Error("could not load preview gone.png");
    return images[entry.filename] ?? fakeImage(400, 200, entry.filename);
  };
  const t = makeTranslator({ runToSee: "运行工作流以查看预览" });
  const panel = new PreviewPanel(node, PREVIEW_FEATURES[type], { doc, t, loadImage, warn: (m) => warnings.push(m) });
  panel.canvas.clientWidth = 200;
  panel.canvas.clientHeight = 200;
  return { doc, node, panel, warnings };
}

const entry = (filename) => ({ filename, subfolder: "", type: "temp" });

test("the panel adds one unserialised DOM widget and writes every property's default", () => {
  const { node, panel } = makePanel("BEN2SegmentForeground", { properties: { ben2_backdrop: "white", other: 1 } });
  assert.equal(node.widgets.length, 1);
  const [widget] = node.widgets;
  assert.equal(widget.name, WIDGET_NAME);
  assert.equal(widget.serialize, false);
  assert.equal(widget.options.getMinHeight(), MIN_PREVIEW_HEIGHT);
  assert.equal(node.properties.ben2_backdrop, "white", "a saved choice survives");
  assert.equal(node.properties.ben2_zoom, 1);
  assert.equal(node.properties.other, 1, "foreign properties untouched");
  assert.equal(panel.canvas.dataset.captureWheel, "false", "no image yet: the wheel stays the graph's");
});

test("before a run the canvas shows the translated placeholder", () => {
  const { panel } = makePanel("BEN2SegmentForeground");
  panel.draw();
  assert.equal(panel.canvas.context.named("fillText").at(-1)[1], "运行工作流以查看预览");
});

test("show() loads the previews, marks the canvas as the wheel's owner and draws the image", async () => {
  const { panel } = makePanel("BEN2RefineEdges");
  await panel.show({ ben2_after: [entry("after.png")], ben2_before: [entry("before.png")], ben2_batch_size: [1] });
  assert.equal(panel.images.main[0].label, "after.png");
  assert.equal(panel.canvas.dataset.captureWheel, "true");
  assert.deepEqual(panel.geometry(), [400, 200, 200, 200]);
  const drawn = panel.canvas.context.named("drawImage").map((call) => call[1].label);
  assert.deepEqual(drawn.slice(-1), ["after.png"]);
  await panel.show({ images: [entry("other.png")] });
  assert.equal(panel.images.main[0].label, "after.png", "outputs without our keys change nothing");
});

test("the wheel zooms the preview about the pointer and saves the view in the properties", async () => {
  const { node, panel } = makePanel("BEN2SegmentForeground");
  await panel.show({ ben2_rgba: [entry("a.png")] });
  const event = panel.canvas.dispatch("wheel", { deltaY: -925, clientX: 150, clientY: 100 });
  assert.equal(event.defaultPrevented, true);
  assert.ok(Math.abs(node.properties.ben2_zoom - 4) < 0.01);
  assert.ok(node.properties.ben2_center_x > 0.5, "zoomed towards the pointer, right of centre");
  assert.equal(panel.controls.zoomText.textContent, "4×");
  panel.canvas.dispatch("dblclick");
  assert.equal(node.properties.ben2_zoom, 1);
});

test("compare follows the pointer without touching the saved properties", async () => {
  const { node, panel } = makePanel("BEN2RefineEdges");
  await panel.show({ ben2_after: [entry("after.png")], ben2_before: [entry("before.png")] });
  panel.controls.compareButton.dispatch("click");
  assert.equal(node.properties.ben2_compare, true);
  const saved = JSON.stringify(node.properties);
  panel.canvas.dispatch("pointermove", { clientX: 150, clientY: 100 });
  assert.equal(panel.split, 0.75);
  assert.equal(JSON.stringify(node.properties), saved);
  const drawn = panel.canvas.context.named("drawImage").map((call) => call[1].label);
  assert.deepEqual(drawn.slice(-2), ["before.png", "after.png"]);
});

test("batch stepping wraps through the images received", async () => {
  const { node, panel } = makePanel("BEN2ConfidenceTrimap");
  await panel.show({
    ben2_trimap: [entry("t1.png"), entry("t2.png")],
    ben2_trimap_image: [entry("i1.png"), entry("i2.png")],
    ben2_batch_size: [6],
  });
  assert.equal(panel.images.overlays.length, 2);
  assert.equal(panel.controls.indexLabel.textContent, " 1/2 of 6 ");
  const [previous, , next] = panel.controls.indexGroup.children;
  next.dispatch("click");
  assert.equal(node.properties.ben2_index, 1);
  next.dispatch("click");
  assert.equal(node.properties.ben2_index, 0);
  previous.dispatch("click");
  assert.equal(node.properties.ben2_index, 1);
});

test("a preview that cannot load is a warning, and a newer run wins over a slower older one", async () => {
  const { panel, warnings } = makePanel("BEN2SegmentForeground");
  await panel.show({ ben2_rgba: [entry("gone.png")] });
  assert.deepEqual(warnings, ["could not load preview gone.png"]);
  const older = panel.show({ ben2_rgba: [entry("old.png")] });
  const newer = panel.show({ ben2_rgba: [entry("new.png")] });
  await Promise.all([older, newer]);
  assert.equal(panel.images.main[0].label, "new.png");
  panel.dispose();
  await panel.show({ ben2_rgba: [entry("late.png")] });
  panel.canvas.dispatch("wheel", { deltaY: -100 });
  assert.equal(panel.props.ben2_zoom, 1, "disposed: no more input handling");
});
