// ComfyUI-BEN2 front-end: see the cut-out inside the graph.
//
// Segment Foreground / Refine Edges / Composite Background: the result over a checkerboard, black,
// white or a chosen colour. Confidence Trimap: the image under a colour-coded trimap at an
// adjustable opacity. Refine Edges: before/after with a split that follows the pointer.
// Every preview zooms (wheel or the toolbar) and pans (drag), so hair can be judged pixel by pixel.
//
// This file only hooks ComfyUI; the parts live in lib/: panel.js (one node's preview) built from
// toolbar.js, pointer.js (wheel, drag, Nodes 2.0 wheel capture), drawing.js, view.js (zoom math),
// output.js (the preview keys of nodes/preview.py), properties.js (saved choices), colormap.js
// and i18n.js (strings in the user's language, translations in locales/<lang>/main.json).
// Only our node types are hooked (beforeRegisterNodeDef), so other graphs pay nothing; when the
// backend nodes are missing no hook runs at all.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

import { english, loadTranslator } from "./lib/i18n.js";
import { viewQuery } from "./lib/output.js";
import { PreviewPanel } from "./lib/panel.js";
import { featuresFor } from "./lib/properties.js";
import { injectStyles } from "./lib/styles.js";

const EXTENSION_NAME = "comfyui-ben2.previews";
const LOG_PREFIX = "[ComfyUI-BEN2]";
const MIN_NODE_WIDTH = 340;

const warn = (...args) => console.warn(LOG_PREFIX, ...args);

function loadImage(entry) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load preview ${entry?.filename}`));
    image.src = api.apiURL(`/view?${viewQuery(entry)}${app.getRandParam?.() ?? ""}`);
  });
}

/** The front-end's language setting (both settings APIs: the current one and the legacy one). */
function requestedLocale() {
  try {
    const value =
      app.extensionManager?.setting?.get?.("Comfy.Locale") ?? app.ui?.settings?.getSettingValue?.("Comfy.Locale");
    if (typeof value === "string" && value) return value;
  } catch (error) {
    warn("could not read Comfy.Locale:", error);
  }
  return globalThis.navigator?.language ?? "en";
}

async function fetchI18n() {
  const response = await api.fetchApi("/i18n", { cache: "no-store" });
  if (!response.ok) throw new Error(`/i18n answered ${response.status}`);
  return response.json();
}

let translator = english;
let translatorLoad = null;

/** Load the strings once, when the first of our node types registers (the settings are in by then). */
function ensureTranslator() {
  translatorLoad ??= loadTranslator(requestedLocale(), fetchI18n).then(({ t }) => {
    translator = t;
  });
  return translatorLoad;
}

function chain(original, extra) {
  return function (...args) {
    const result = original?.apply(this, args);
    try {
      extra.apply(this, args);
    } catch (error) {
      warn(error);
    }
    return result;
  };
}

function hookNodeType(nodeType, features) {
  const proto = nodeType.prototype;
  proto.onNodeCreated = chain(proto.onNodeCreated, function () {
    injectStyles(document);
    this.ben2Preview = new PreviewPanel(this, features, { doc: document, t: translator, loadImage, warn });
    const [width, height] = this.computeSize?.() ?? this.size;
    this.setSize?.([Math.max(this.size[0], MIN_NODE_WIDTH, width), Math.max(this.size[1], height)]);
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
      if (!features) return;
      await ensureTranslator();
      hookNodeType(nodeType, features);
    },
  });
}
