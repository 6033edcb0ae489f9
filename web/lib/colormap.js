// Trimap colours for the overlay preview. Pure module, unit-tested with `node --test web/tests`.
// The trimap arrives as a greyscale PNG: 0 = background, 128 = unknown band, 255 = foreground.

/** Okabe-Ito colours: distinguishable with the common colour-vision deficiencies. */
export const TRIMAP_COLORS = Object.freeze({
  background: Object.freeze([213, 94, 0]), // vermillion
  unknown: Object.freeze([240, 228, 66]), // yellow
  foreground: Object.freeze([0, 158, 115]), // bluish green
});

/** Class of a trimap byte; the cut points sit halfway between 0, 128 and 255 so resampled values still land. */
export function trimapClass(byte) {
  if (byte < 64) return "background";
  if (byte > 191) return "foreground";
  return "unknown";
}

/** 256-entry RGBA lookup table (Uint8ClampedArray of 1024) from trimap byte to overlay colour. */
export function trimapLookupTable(colors = TRIMAP_COLORS) {
  const table = new Uint8ClampedArray(256 * 4);
  for (let byte = 0; byte < 256; byte++) {
    const rgb = colors[trimapClass(byte)];
    if (!rgb || rgb.length !== 3) {
      throw new TypeError(`trimap colours need [r, g, b] for "${trimapClass(byte)}"`);
    }
    table.set([rgb[0], rgb[1], rgb[2], 255], byte * 4);
  }
  return table;
}

/**
 * Colour an RGBA pixel buffer (ImageData.data of the greyscale trimap; the red channel is read)
 * through `table`. Writes into `out` (same length) or a new buffer, and returns it.
 */
export function colorizeTrimap(pixels, table = trimapLookupTable(), out = undefined) {
  if (pixels.length % 4 !== 0) {
    throw new RangeError(`trimap pixels must be RGBA (length divisible by 4), got length ${pixels.length}`);
  }
  const target = out ?? new Uint8ClampedArray(pixels.length);
  if (target.length !== pixels.length) {
    throw new RangeError(`output length ${target.length} differs from input length ${pixels.length}`);
  }
  for (let i = 0; i < pixels.length; i += 4) {
    const entry = pixels[i] * 4;
    target[i] = table[entry];
    target[i + 1] = table[entry + 1];
    target[i + 2] = table[entry + 2];
    target[i + 3] = table[entry + 3];
  }
  return target;
}

/** "rgb(r, g, b)" for a colour triple (legend swatches). */
export function rgbCss(rgb) {
  return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
}
