// Which preview each BEN2 node gets, and the node properties that remember the viewer's choices.
// Pure module (no DOM, no ComfyUI imports): unit-tested with `node --test web/tests`.

/** Backdrops drawn behind a transparent preview. */
export const BACKDROPS = Object.freeze(["checker", "black", "white", "color"]);

export const ZOOM_MIN = 1;
export const ZOOM_MAX = 32;

/**
 * Preview features per node id (the ids stored in saved workflows). Only these node types get the
 * extension's hooks, so graphs without them pay nothing.
 */
export const PREVIEW_FEATURES = Object.freeze({
  BEN2SegmentForeground: Object.freeze({ backdrop: true, trimap: false, compare: false }),
  BEN2RefineEdges: Object.freeze({ backdrop: true, trimap: false, compare: true }),
  BEN2CompositeBackground: Object.freeze({ backdrop: true, trimap: false, compare: false }),
  BEN2ConfidenceTrimap: Object.freeze({ backdrop: false, trimap: true, compare: false }),
});

/** The preview features of a node type, or null when the type is not ours. */
export function featuresFor(comfyClass) {
  return Object.prototype.hasOwnProperty.call(PREVIEW_FEATURES, comfyClass) ? PREVIEW_FEATURES[comfyClass] : null;
}

/** Defaults of the properties we keep on a node (prefixed so they never clash with others). */
export const PROPERTY_DEFAULTS = Object.freeze({
  ben2_backdrop: "checker",
  ben2_backdrop_color: "#00b140",
  ben2_trimap_opacity: 0.5,
  ben2_compare: false,
  ben2_zoom: 1,
  ben2_center_x: 0.5,
  ben2_center_y: 0.5,
  ben2_index: 0,
});

const HEX_COLOR = /^#[0-9a-fA-F]{6}$/;

/** True for "#rrggbb" (what <input type="color"> produces). */
export function isHexColor(value) {
  return typeof value === "string" && HEX_COLOR.test(value);
}

/** "#rrggbb" -> [r, g, b] bytes; throws a TypeError naming the expected form. */
export function hexToRgb(value) {
  if (!isHexColor(value)) {
    throw new TypeError(`expected a colour as "#rrggbb", got ${JSON.stringify(value)}`);
  }
  return [1, 3, 5].map((start) => parseInt(value.slice(start, start + 2), 16));
}

/** Clamp a finite number to [lo, hi]; anything else gives `fallback`. */
export function clampNumber(value, lo, hi, fallback) {
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isFinite(number)) return fallback;
  return Math.min(hi, Math.max(lo, number));
}

/**
 * Our properties read from a node's `properties` (a saved workflow, possibly edited by hand or
 * written by an older version): every key present, every value valid, unknown keys ignored.
 */
export function normalizeProperties(properties) {
  const source = properties && typeof properties === "object" ? properties : {};
  const d = PROPERTY_DEFAULTS;
  return {
    ben2_backdrop: BACKDROPS.includes(source.ben2_backdrop) ? source.ben2_backdrop : d.ben2_backdrop,
    ben2_backdrop_color: isHexColor(source.ben2_backdrop_color)
      ? source.ben2_backdrop_color.toLowerCase()
      : d.ben2_backdrop_color,
    ben2_trimap_opacity: clampNumber(source.ben2_trimap_opacity, 0, 1, d.ben2_trimap_opacity),
    ben2_compare: typeof source.ben2_compare === "boolean" ? source.ben2_compare : d.ben2_compare,
    ben2_zoom: clampNumber(source.ben2_zoom, ZOOM_MIN, ZOOM_MAX, d.ben2_zoom),
    ben2_center_x: clampNumber(source.ben2_center_x, 0, 1, d.ben2_center_x),
    ben2_center_y: clampNumber(source.ben2_center_y, 0, 1, d.ben2_center_y),
    ben2_index: Math.round(clampNumber(source.ben2_index, 0, Number.MAX_SAFE_INTEGER, d.ben2_index)),
  };
}

/** CSS colour for a solid backdrop, or null for the checkerboard. */
export function backdropColor(backdrop, customColor) {
  switch (backdrop) {
    case "black":
      return "#000000";
    case "white":
      return "#ffffff";
    case "color":
      return isHexColor(customColor) ? customColor : PROPERTY_DEFAULTS.ben2_backdrop_color;
    default:
      return null;
  }
}
