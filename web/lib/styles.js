// The preview's CSS, injected once per page. Colours come from the front-end's theme variables.

export const PREVIEW_CSS = `
.ben2-preview { display: flex; flex-direction: column; gap: 4px; width: 100%; height: 100%; min-height: 0;
  box-sizing: border-box; font: 11px sans-serif; color: var(--input-text, #ddd); }
.ben2-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 3px; }
.ben2-toolbar button { min-width: 22px; height: 20px; padding: 0 4px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: inherit; font: inherit; }
.ben2-toolbar button[aria-pressed="true"] { outline: 2px solid #4a90e2; outline-offset: -1px; }
.ben2-toolbar input[type="range"] { width: 80px; height: 14px; }
.ben2-toolbar input[type="color"] { width: 22px; height: 20px; padding: 0; border: none; background: none; }
.ben2-toolbar .ben2-sep { flex: 1 1 auto; }
.ben2-toolbar .ben2-group { display: inline-flex; align-items: center; gap: 3px; white-space: nowrap; }
.ben2-toolbar .ben2-swatch { display: inline-block; width: 9px; height: 9px; margin: 0 2px 0 4px; border-radius: 2px; }
.ben2-canvas { flex: 1 1 auto; min-height: 0; width: 100%; border-radius: 4px; touch-action: none; cursor: grab; outline: none; }
`;

/** Add the stylesheet to `doc` unless it is there already. */
export function injectStyles(doc) {
  if (doc.head.querySelector?.('style[data-ben2="previews"]')) return;
  const style = doc.createElement("style");
  style.dataset.ben2 = "previews";
  style.textContent = PREVIEW_CSS;
  doc.head.appendChild(style);
}
