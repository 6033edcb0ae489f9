import assert from "node:assert/strict";
import { test } from "node:test";

import {
  BACKDROPS,
  PROPERTY_DEFAULTS,
  ZOOM_MAX,
  backdropColor,
  clampNumber,
  featuresFor,
  hexToRgb,
  isHexColor,
  normalizeProperties,
} from "../lib/properties.js";

test("features: only our four node ids get previews", () => {
  assert.deepEqual(featuresFor("BEN2ConfidenceTrimap"), { backdrop: false, trimap: true, compare: false });
  assert.equal(featuresFor("BEN2RefineEdges").compare, true);
  assert.equal(featuresFor("BEN2SegmentForeground").backdrop, true);
  assert.equal(featuresFor("BEN2CompositeBackground").backdrop, true);
  for (const other of ["BEN2ModelLoader", "PreviewImage", "toString", "__proto__", "", undefined]) {
    assert.equal(featuresFor(other), null, String(other));
  }
});

test("normalizeProperties: empty or missing input gives every default", () => {
  assert.deepEqual(normalizeProperties(undefined), { ...PROPERTY_DEFAULTS });
  assert.deepEqual(normalizeProperties({}), { ...PROPERTY_DEFAULTS });
  assert.deepEqual(normalizeProperties("nonsense"), { ...PROPERTY_DEFAULTS });
});

test("normalizeProperties: valid saved values survive a round trip through JSON", () => {
  const saved = {
    ben2_backdrop: "color",
    ben2_backdrop_color: "#FF8800",
    ben2_trimap_opacity: 0.25,
    ben2_compare: true,
    ben2_zoom: 8,
    ben2_center_x: 0.2,
    ben2_center_y: 0.9,
    ben2_index: 3,
    "Node name for S&R": "Refine Edges",
  };
  const normalized = normalizeProperties(JSON.parse(JSON.stringify(saved)));
  assert.equal(normalized.ben2_backdrop, "color");
  assert.equal(normalized.ben2_backdrop_color, "#ff8800");
  assert.equal(normalized.ben2_trimap_opacity, 0.25);
  assert.equal(normalized.ben2_compare, true);
  assert.equal(normalized.ben2_zoom, 8);
  assert.equal(normalized.ben2_center_x, 0.2);
  assert.equal(normalized.ben2_center_y, 0.9);
  assert.equal(normalized.ben2_index, 3);
  assert.ok(!("Node name for S&R" in normalized), "foreign keys are not copied");
});

test("normalizeProperties: invalid values fall back or clamp", () => {
  const normalized = normalizeProperties({
    ben2_backdrop: "purple",
    ben2_backdrop_color: "red",
    ben2_trimap_opacity: 7,
    ben2_compare: "yes",
    ben2_trimap_opacity_extra: 1,
    ben2_zoom: 1e9,
    ben2_center_x: NaN,
    ben2_center_y: null,
    ben2_index: -4.6,
  });
  assert.equal(normalized.ben2_backdrop, PROPERTY_DEFAULTS.ben2_backdrop);
  assert.equal(normalized.ben2_backdrop_color, PROPERTY_DEFAULTS.ben2_backdrop_color);
  assert.equal(normalized.ben2_trimap_opacity, 1);
  assert.equal(normalized.ben2_compare, false);
  assert.ok(!("ben2_trimap_opacity_extra" in normalized));
  assert.equal(normalized.ben2_zoom, ZOOM_MAX);
  assert.equal(normalized.ben2_center_x, 0.5);
  assert.equal(normalized.ben2_center_y, 0.5);
  assert.equal(normalized.ben2_index, 0);
});

test("clampNumber accepts numeric strings (hand-edited workflows) and rejects the rest", () => {
  assert.equal(clampNumber("0.3", 0, 1, 0.5), 0.3);
  assert.equal(clampNumber("", 0, 1, 0.5), 0.5);
  assert.equal(clampNumber(Infinity, 0, 1, 0.5), 0.5);
  assert.equal(clampNumber({}, 0, 1, 0.5), 0.5);
});

test("colours: hex parsing and backdrop colours", () => {
  assert.ok(isHexColor("#00b140"));
  assert.ok(!isHexColor("#00b14"));
  assert.ok(!isHexColor("00b140"));
  assert.deepEqual(hexToRgb("#00B140"), [0, 177, 64]);
  assert.throws(() => hexToRgb("green"), /#rrggbb/);
  assert.equal(backdropColor("checker", "#123456"), null);
  assert.equal(backdropColor("black", "#123456"), "#000000");
  assert.equal(backdropColor("white", "#123456"), "#ffffff");
  assert.equal(backdropColor("color", "#123456"), "#123456");
  assert.equal(backdropColor("color", "bad"), PROPERTY_DEFAULTS.ben2_backdrop_color);
  assert.deepEqual([...BACKDROPS], ["checker", "black", "white", "color"]);
});
