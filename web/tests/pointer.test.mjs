import assert from "node:assert/strict";
import { test } from "node:test";

import { bindPointer, isEditing, localPoint, wheelFactor } from "../lib/pointer.js";
import { FakeDocument } from "./fake_dom.mjs";

function setup({ active = true } = {}) {
  const doc = new FakeDocument();
  const canvas = doc.createElement("canvas");
  canvas.clientWidth = 200;
  canvas.clientHeight = 100;
  // The graph is zoomed to 2x: the canvas covers 400x200 screen pixels from (50, 30).
  canvas.rect = { left: 50, top: 30, width: 400, height: 200 };
  const calls = [];
  const state = { active };
  const handlers = {
    active: () => state.active,
    wheel: (...args) => calls.push(["wheel", ...args]),
    drag: (...args) => calls.push(["drag", ...args]),
    hover: (...args) => calls.push(["hover", ...args]),
    reset: () => calls.push(["reset"]),
  };
  const unbind = bindPointer(canvas, handlers, doc);
  return { doc, canvas, calls, state, unbind };
}

test("localPoint undoes the graph zoom's CSS transform", () => {
  const { canvas } = setup();
  assert.deepEqual(localPoint({ clientX: 250, clientY: 130 }, canvas), [100, 50]);
  assert.deepEqual(localPoint({ clientX: 50, clientY: 30 }, canvas), [0, 0]);
});

test("wheelFactor zooms in for negative deltas, out for positive, 1 for none", () => {
  assert.ok(wheelFactor(-100) > 1 && wheelFactor(100) < 1);
  assert.equal(wheelFactor(0), 1);
  assert.ok(Math.abs(wheelFactor(-925) - 4) < 0.01, "a -925 px flick is 4x");
  assert.ok(Math.abs(wheelFactor(100) * wheelFactor(-100) - 1) < 1e-12, "in and out cancel");
});

test("the wheel over an image zooms the preview and is kept from the graph", () => {
  const { canvas, calls } = setup();
  const event = canvas.dispatch("wheel", { deltaY: -925, clientX: 250, clientY: 130 });
  assert.equal(event.defaultPrevented, true);
  assert.equal(event.propagationStopped, true);
  assert.equal(calls.length, 1);
  const [name, factor, x, y] = calls[0];
  assert.equal(name, "wheel");
  assert.ok(Math.abs(factor - 4) < 0.01);
  assert.deepEqual([x, y], [100, 50]);
});

test("without an image the wheel and drags pass to the graph", () => {
  const { canvas, calls, doc } = setup({ active: false });
  const wheel = canvas.dispatch("wheel", { deltaY: -100 });
  const down = canvas.dispatch("pointerdown", { button: 0 });
  canvas.dispatch("pointerenter");
  assert.equal(wheel.defaultPrevented || wheel.propagationStopped, false);
  assert.equal(down.defaultPrevented || down.propagationStopped, false);
  assert.deepEqual(calls, []);
  assert.equal(doc.activeElement, doc.body, "no focus taken without an image");
});

test("Nodes 2.0 wheel capture: the canvas is focusable and takes the focus while the pointer is over it", () => {
  const { canvas, doc } = setup();
  assert.equal(canvas.tabIndex, -1);
  assert.equal(canvas.dataset.captureWheel, "false", "the owner marks it once an image is shown");
  const graph = doc.createElement("canvas");
  doc.activeElement = graph;
  canvas.dispatch("pointerenter");
  assert.equal(doc.activeElement, canvas);
  canvas.dispatch("pointerleave");
  assert.equal(doc.activeElement, graph, "the graph canvas gets its focus back (its key bindings)");
});

test("moving over a preview does not steal the focus from a text field being edited", () => {
  const { canvas, doc } = setup();
  const prompt = doc.createElement("textarea");
  doc.activeElement = prompt;
  canvas.dispatch("pointerenter");
  canvas.dispatch("pointermove", { clientX: 60, clientY: 40 });
  assert.equal(doc.activeElement, prompt);
  const field = doc.createElement("input");
  field.type = "text";
  assert.equal(isEditing(field), true);
  field.type = "range";
  assert.equal(isEditing(field), false, "a slider is not typing");
  assert.equal(isEditing({ tagName: "DIV", isContentEditable: true }), true);
  assert.equal(isEditing(null), false);
});

test("an image arriving under a still pointer: the next move takes the focus", () => {
  const { canvas, doc, state } = setup({ active: false });
  canvas.dispatch("pointerenter");
  assert.equal(doc.activeElement, doc.body);
  state.active = true;
  canvas.dispatch("pointermove", { clientX: 60, clientY: 40 });
  assert.equal(doc.activeElement, canvas);
});

test("a left drag pans by local pixels; hovering reports the pointer; double-click resets", () => {
  const { canvas, calls } = setup();
  canvas.dispatch("pointermove", { clientX: 250, clientY: 130 });
  const down = canvas.dispatch("pointerdown", { button: 0, clientX: 250, clientY: 130 });
  assert.equal(down.propagationStopped, true, "the node must not start moving");
  assert.equal(canvas.capturedPointer, 1);
  assert.equal(canvas.style.cursor, "grabbing");
  canvas.dispatch("pointermove", { clientX: 230, clientY: 140 });
  canvas.dispatch("pointerleave"); // leaving mid-drag keeps the focus (pointer is captured)
  canvas.dispatch("pointerup", {});
  canvas.dispatch("pointermove", { clientX: 270, clientY: 130 });
  assert.equal(canvas.style.cursor, "");
  canvas.dispatch("pointerdown", { button: 2 });
  canvas.dispatch("dblclick");
  assert.deepEqual(calls, [["hover", 100, 50], ["drag", -10, 5], ["hover", 110, 50], ["reset"]]);
});

test("unbinding removes every listener", () => {
  const { canvas, calls, unbind } = setup();
  unbind();
  canvas.dispatch("wheel", { deltaY: -100 });
  canvas.dispatch("dblclick");
  assert.deepEqual(calls, []);
  assert.ok(Object.values(canvas.listeners).every((list) => list.length === 0));
});
