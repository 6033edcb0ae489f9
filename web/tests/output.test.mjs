import assert from "node:assert/strict";
import { test } from "node:test";

import { entriesOf, previewSets, viewQuery } from "../lib/output.js";

const entry = (filename) => ({ filename, subfolder: "", type: "temp" });

test("entriesOf keeps only entries with a filename", () => {
  assert.deepEqual(entriesOf({ ben2_rgba: [entry("a.png"), null, { filename: 3 }, {}] }, "ben2_rgba"), [entry("a.png")]);
  assert.deepEqual(entriesOf({ ben2_rgba: "a.png" }, "ben2_rgba"), []);
  assert.deepEqual(entriesOf(undefined, "ben2_rgba"), []);
});

test("outputs without our keys are ignored", () => {
  assert.equal(previewSets({ images: [entry("x.png")] }), null);
  assert.equal(previewSets(null), null);
});

test("Refine Edges: after is the main image, before pairs with it one to one", () => {
  const sets = previewSets({
    ben2_rgba: [entry("rgba.png")],
    ben2_after: [entry("after.png")],
    ben2_before: [entry("before.png")],
    ben2_batch_size: [5],
  });
  assert.deepEqual(sets.main, [entry("after.png")]);
  assert.deepEqual(sets.before, [entry("before.png")]);
  assert.equal(sets.batchSize, 5);
  const unpaired = previewSets({ ben2_after: [entry("a1"), entry("a2")], ben2_before: [entry("b1")] });
  assert.deepEqual(unpaired.before, []);
  assert.equal(unpaired.batchSize, 2, "without ben2_batch_size the batch is what arrived");
});

test("Confidence Trimap: trimaps and the images under them", () => {
  const sets = previewSets({ ben2_trimap: [entry("t.png")], ben2_trimap_image: [entry("i.png")], ben2_batch_size: ["x"] });
  assert.deepEqual(sets.main, []);
  assert.deepEqual(sets.trimap, [entry("t.png")]);
  assert.deepEqual(sets.under, [entry("i.png")]);
  assert.equal(sets.batchSize, 1);
});

test("viewQuery names the file for ComfyUI's /view, temp by default", () => {
  const query = new URLSearchParams(viewQuery({ filename: "a b.png", subfolder: "x" }));
  assert.deepEqual(Object.fromEntries(query), { filename: "a b.png", subfolder: "x", type: "temp" });
});
