import assert from "node:assert/strict";
import { test } from "node:test";

import { TRIMAP_COLORS, colorizeTrimap, rgbCss, trimapClass, trimapLookupTable } from "../lib/colormap.js";

test("trimapClass: the three levels the backend writes, and resampled values between them", () => {
  assert.equal(trimapClass(0), "background");
  assert.equal(trimapClass(128), "unknown");
  assert.equal(trimapClass(255), "foreground");
  assert.equal(trimapClass(63), "background");
  assert.equal(trimapClass(64), "unknown");
  assert.equal(trimapClass(191), "unknown");
  assert.equal(trimapClass(192), "foreground");
});

test("the three trimap colours are far apart (overlay stays readable)", () => {
  const names = Object.keys(TRIMAP_COLORS);
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = TRIMAP_COLORS[names[i]];
      const b = TRIMAP_COLORS[names[j]];
      const distance = Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
      assert.ok(distance > 120, `${names[i]} vs ${names[j]}: ${distance}`);
    }
  }
});

test("lookup table maps every byte to its class colour, opaque", () => {
  const table = trimapLookupTable();
  assert.equal(table.length, 1024);
  for (const byte of [0, 40, 128, 150, 230, 255]) {
    const rgb = TRIMAP_COLORS[trimapClass(byte)];
    assert.deepEqual([...table.slice(byte * 4, byte * 4 + 4)], [...rgb, 255], `byte ${byte}`);
  }
  assert.throws(() => trimapLookupTable({ background: [0, 0, 0], foreground: [1, 1, 1] }), /unknown/);
});

test("colorizeTrimap reads the red channel of RGBA pixels", () => {
  const pixels = new Uint8ClampedArray([0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
  const colored = colorizeTrimap(pixels);
  assert.deepEqual([...colored.slice(0, 4)], [...TRIMAP_COLORS.background, 255]);
  assert.deepEqual([...colored.slice(4, 8)], [...TRIMAP_COLORS.unknown, 255]);
  assert.deepEqual([...colored.slice(8, 12)], [...TRIMAP_COLORS.foreground, 255]);
  const out = new Uint8ClampedArray(12);
  assert.equal(colorizeTrimap(pixels, trimapLookupTable(), out), out, "writes into the given buffer");
  assert.throws(() => colorizeTrimap(new Uint8ClampedArray(5)), /divisible by 4/);
  assert.throws(() => colorizeTrimap(pixels, trimapLookupTable(), new Uint8ClampedArray(8)), /differs/);
});

test("rgbCss", () => {
  assert.equal(rgbCss([1, 2, 3]), "rgb(1, 2, 3)");
});
