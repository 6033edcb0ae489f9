import assert from "node:assert/strict";
import { test } from "node:test";

import { STRINGS, makeTranslator } from "../lib/i18n.js";
import { PROPERTY_DEFAULTS, PREVIEW_FEATURES } from "../lib/properties.js";
import { buildToolbar } from "../lib/toolbar.js";
import { FakeDocument } from "./fake_dom.mjs";

function recorder() {
  const calls = [];
  const actions = new Proxy({}, { get: (_, name) => (...args) => calls.push([name, ...args]) });
  return { calls, actions };
}

const props = (changes = {}) => ({ ...PROPERTY_DEFAULTS, ...changes });
const state = (changes = {}, extra = {}) => ({ props: props(changes), count: 1, batchSize: 1, hasBefore: true, ...extra });

test("a cut-out node gets backdrops and a colour picker, no trimap or compare controls", () => {
  const doc = new FakeDocument();
  const { controls, element } = buildToolbar(doc, PREVIEW_FEATURES.BEN2SegmentForeground, makeTranslator(), recorder().actions);
  assert.deepEqual(Object.keys(controls.backdropButtons), ["checker", "black", "white", "color"]);
  assert.equal(controls.backdropButtons.black.title, STRINGS.backdropBlack);
  assert.ok(controls.colorInput);
  assert.equal(controls.opacityInput, undefined);
  assert.equal(controls.compareButton, undefined);
  assert.ok(element.all().includes(controls.zoomText));
});

test("clicks become actions and never reach the graph", () => {
  const doc = new FakeDocument();
  const { calls, actions } = recorder();
  const { controls, element } = buildToolbar(doc, PREVIEW_FEATURES.BEN2RefineEdges, makeTranslator(), actions);
  const click = (button) => button.dispatch("click");
  assert.equal(click(controls.backdropButtons.white).propagationStopped, true);
  click(controls.compareButton);
  const byAction = (name) => element.find((e) => e.dataset.action === name);
  click(byAction("zoom-in"));
  click(byAction("zoom-out"));
  click(byAction("fit"));
  const [previous, , next] = controls.indexGroup.children;
  click(previous);
  click(next);
  controls.colorInput.value = "#123456";
  controls.colorInput.dispatch("input");
  assert.deepEqual(calls, [
    ["setBackdrop", "white"], ["toggleCompare"], ["zoom", 1], ["zoom", -1], ["fit"], ["step", -1], ["step", 1],
    ["pickColor", "#123456"],
  ]);
});

test("a second click on the colour backdrop opens the picker", () => {
  const doc = new FakeDocument();
  const { calls, actions } = recorder();
  const { controls, sync } = buildToolbar(doc, PREVIEW_FEATURES.BEN2CompositeBackground, makeTranslator(), actions);
  let opened = 0;
  controls.colorInput.addEventListener("click", () => opened++);
  controls.backdropButtons.color.dispatch("click");
  assert.equal(opened, 0, "first click only selects the colour backdrop");
  sync(state({ ben2_backdrop: "color" }));
  controls.backdropButtons.color.dispatch("click");
  assert.equal(opened, 1);
  assert.deepEqual(calls, [["setBackdrop", "color"], ["setBackdrop", "color"]]);
});

test("the trimap toolbar has the opacity slider and a translated legend", () => {
  const doc = new FakeDocument();
  const { calls, actions } = recorder();
  const t = makeTranslator({ legendUnknown: "边缘", overlayOpacity: "不透明度" });
  const { controls, element, sync } = buildToolbar(doc, PREVIEW_FEATURES.BEN2ConfidenceTrimap, t, actions);
  assert.deepEqual(controls.backdropButtons, {});
  assert.equal(controls.opacityInput.title, "不透明度");
  const legend = element.find((e) => e.dataset.role === "legend");
  const texts = legend.children.filter((e) => e.className !== "ben2-swatch").map((e) => e.textContent);
  assert.deepEqual(texts, [STRINGS.legendBackground, "边缘", STRINGS.legendForeground]);
  assert.match(legend.children[0].style.background, /^rgb\(213, 94, 0\)$/);
  sync(state({ ben2_trimap_opacity: 0.25 }));
  assert.equal(controls.opacityInput.value, "25");
  controls.opacityInput.value = "60";
  controls.opacityInput.dispatch("input");
  assert.deepEqual(calls, [["setOpacity", 0.6]]);
});

test("sync shows the pressed backdrop, compare state, zoom and batch position", () => {
  const doc = new FakeDocument();
  const t = makeTranslator({ zoomFit: "适应", batchIndexOfTotal: "{index}/{count}（共 {total}）" });
  const { controls, sync } = buildToolbar(doc, PREVIEW_FEATURES.BEN2RefineEdges, t, recorder().actions);
  sync(state({ ben2_backdrop: "black", ben2_compare: true, ben2_zoom: 1 }, { count: 1, hasBefore: true }));
  const pressed = Object.entries(controls.backdropButtons).filter(([, b]) => b.getAttribute("aria-pressed") === "true");
  assert.deepEqual(pressed.map(([name]) => name), ["black"]);
  assert.equal(controls.compareButton.getAttribute("aria-pressed"), "true");
  assert.equal(controls.compareButton.disabled, false);
  assert.equal(controls.zoomText.textContent, "适应");
  assert.equal(controls.indexGroup.style.display, "none", "one image: no batch stepping");
  sync(state({ ben2_zoom: 4, ben2_index: 7 }, { count: 3, batchSize: 10, hasBefore: false }));
  assert.equal(controls.zoomText.textContent, "4×");
  assert.equal(controls.indexGroup.style.display, "");
  assert.equal(controls.indexLabel.textContent, " 3/3（共 10） ", "index clamps to the images received");
  assert.equal(controls.compareButton.disabled, true, "no before image: nothing to compare");
  sync(state({ ben2_index: 1 }, { count: 3, batchSize: 3 }));
  assert.equal(controls.indexLabel.textContent, " 2/3 ");
  sync(state({ ben2_backdrop_color: "#ff00ff" }, { count: 0, hasBefore: false }));
  assert.equal(controls.compareButton.disabled, false, "before a run the button stays usable");
  assert.equal(controls.colorInput.value, "#ff00ff");
  assert.equal(controls.backdropButtons.color.style.color, "#ff00ff");
});
