// The preview's toolbar: backdrop buttons and colour, trimap opacity and legend, before|after,
// batch stepping, zoom. Builds DOM from a `document` passed in and reports clicks through
// `actions`; `sync(state)` shows the current state. Unit-tested with a fake DOM in web/tests.

import { TRIMAP_COLORS, rgbCss } from "./colormap.js";
import { BACKDROPS } from "./properties.js";
import { zoomLabel } from "./view.js";

const BACKDROP_SYMBOLS = Object.freeze({ checker: "▦", black: "■", white: "□", color: "●" });
const BACKDROP_TITLE_KEYS = Object.freeze({
  checker: "backdropChecker",
  black: "backdropBlack",
  white: "backdropWhite",
  color: "backdropColor",
});
const LEGEND_KEYS = Object.freeze({
  foreground: ["legendForeground", "legendForegroundTitle"],
  background: ["legendBackground", "legendBackgroundTitle"],
  unknown: ["legendUnknown", "legendUnknownTitle"],
});

function element(doc, tag, className) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  return node;
}

/** A button that runs `onClick` without letting the click reach the graph behind it. */
export function makeButton(doc, text, title, onClick) {
  const button = element(doc, "button");
  button.type = "button";
  button.textContent = text;
  button.title = title;
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick(event);
  });
  return button;
}

/**
 * Build the toolbar for a node's preview `features` ({backdrop, trimap, compare}).
 *
 * `actions`: setBackdrop(name), pickColor("#rrggbb"), setOpacity(0..1), toggleCompare(),
 * step(+1 | -1), zoom(+1 | -1), fit(). `t(key, values)` gives the user-language strings.
 * Returns {element, controls, sync(state)}; state = {props (normalised node properties),
 * count (images received), batchSize (images in the batch), hasBefore}.
 */
export function buildToolbar(doc, features, t, actions) {
  const bar = element(doc, "div", "ben2-toolbar");
  const controls = { backdropButtons: {} };

  if (features.backdrop) {
    for (const backdrop of BACKDROPS) {
      const button = makeButton(doc, BACKDROP_SYMBOLS[backdrop], t(BACKDROP_TITLE_KEYS[backdrop]), () => {
        // A second click on the colour backdrop opens the picker.
        if (backdrop === "color" && button.getAttribute("aria-pressed") === "true") controls.colorInput.click();
        actions.setBackdrop(backdrop);
      });
      button.dataset.backdrop = backdrop;
      controls.backdropButtons[backdrop] = button;
      bar.append(button);
    }
    const colorInput = element(doc, "input");
    colorInput.type = "color";
    colorInput.title = t("backdropPicker");
    colorInput.addEventListener("input", () => actions.pickColor(colorInput.value));
    controls.colorInput = colorInput;
    bar.append(colorInput);
  }

  if (features.trimap) {
    const label = element(doc, "span");
    label.textContent = t("overlay");
    const opacityInput = element(doc, "input");
    opacityInput.type = "range";
    opacityInput.min = "0";
    opacityInput.max = "100";
    opacityInput.title = t("overlayOpacity");
    opacityInput.addEventListener("input", () => actions.setOpacity(Number(opacityInput.value) / 100));
    controls.opacityInput = opacityInput;
    const legend = element(doc, "span", "ben2-group");
    legend.dataset.role = "legend";
    for (const [name, rgb] of Object.entries(TRIMAP_COLORS)) {
      const swatch = element(doc, "span", "ben2-swatch");
      swatch.style.background = rgbCss(rgb);
      const text = element(doc, "span");
      const [short, title] = LEGEND_KEYS[name];
      text.textContent = t(short);
      text.title = t(title);
      legend.append(swatch, text);
    }
    bar.append(label, opacityInput, legend);
  }

  if (features.compare) {
    controls.compareButton = makeButton(doc, t("compare"), t("compareTitle"), () => actions.toggleCompare());
    controls.compareButton.dataset.action = "compare";
    bar.append(controls.compareButton);
  }

  bar.append(element(doc, "span", "ben2-sep"));

  controls.indexGroup = element(doc, "span", "ben2-group");
  controls.indexLabel = element(doc, "span");
  controls.indexGroup.append(
    makeButton(doc, "‹", t("previousImage"), () => actions.step(-1)),
    controls.indexLabel,
    makeButton(doc, "›", t("nextImage"), () => actions.step(1))
  );
  bar.append(controls.indexGroup);

  const zoomGroup = element(doc, "span", "ben2-group");
  const zoomOut = makeButton(doc, "−", t("zoomOut"), () => actions.zoom(-1));
  zoomOut.dataset.action = "zoom-out";
  controls.zoomText = makeButton(doc, t("zoomFit"), t("zoomFitTitle"), () => actions.fit());
  controls.zoomText.dataset.action = "fit";
  const zoomIn = makeButton(doc, "+", t("zoomIn"), () => actions.zoom(1));
  zoomIn.dataset.action = "zoom-in";
  zoomGroup.append(zoomOut, controls.zoomText, zoomIn);
  bar.append(zoomGroup);

  function sync({ props, count, batchSize, hasBefore }) {
    for (const [backdrop, button] of Object.entries(controls.backdropButtons)) {
      button.setAttribute("aria-pressed", String(props.ben2_backdrop === backdrop));
    }
    if (controls.colorInput) {
      controls.colorInput.value = props.ben2_backdrop_color;
      controls.backdropButtons.color.style.color = props.ben2_backdrop_color;
    }
    if (controls.opacityInput) controls.opacityInput.value = String(Math.round(props.ben2_trimap_opacity * 100));
    if (controls.compareButton) {
      controls.compareButton.setAttribute("aria-pressed", String(props.ben2_compare));
      controls.compareButton.disabled = !hasBefore && count > 0;
    }
    const label = zoomLabel(props.ben2_zoom);
    controls.zoomText.textContent = label === "fit" ? t("zoomFit") : label;
    controls.indexGroup.style.display = count > 1 ? "" : "none";
    const index = Math.min(props.ben2_index, Math.max(0, count - 1)) + 1;
    const text = batchSize > count ? t("batchIndexOfTotal", { index, count, total: batchSize }) : t("batchIndex", { index, count });
    controls.indexLabel.textContent = ` ${text} `;
  }

  return { element: bar, controls, sync };
}
