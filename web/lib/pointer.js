// Pointer and wheel input of the preview canvas: wheel zoom, drag pan, hover (the before|after
// split), double-click fit. Turns DOM events into calls on `handlers`; the zoom math is in view.js.
// Unit-tested with fake elements in web/tests.
//
// Wheel in "Modern Node Design (Nodes 2.0)": the Vue node layer catches every wheel event in its
// capture phase and sends it to the graph canvas, unless the event's target is inside an element
// marked `data-capture-wheel="true"` that holds the focus (the front-end's useCanvasInteractions).
// So the canvas carries that mark while it has an image to zoom, and takes the focus while the
// pointer is over it. The classic canvas ignores both; there our own listener stops the event.

/** Zoom factor of one wheel event: smooth for trackpads, about 4x for a -925 px mouse flick. */
export function wheelFactor(deltaY) {
  return Math.exp(-deltaY * 0.0015);
}

/**
 * Pointer position in the element's own CSS pixels. The front-end scales DOM widgets with a CSS
 * transform that follows the graph zoom, so the on-screen box differs from clientWidth/Height.
 */
export function localPoint(event, element) {
  const rect = element.getBoundingClientRect();
  const scaleX = rect.width ? element.clientWidth / rect.width : 1;
  const scaleY = rect.height ? element.clientHeight / rect.height : 1;
  return [(event.clientX - rect.left) * scaleX, (event.clientY - rect.top) * scaleY];
}

/** True while the user is typing somewhere: moving over a preview must not steal that focus. */
export function isEditing(active) {
  if (!active) return false;
  const tag = String(active.tagName ?? "").toUpperCase();
  return tag === "TEXTAREA" || (tag === "INPUT" && active.type !== "range" && active.type !== "color") ||
    active.isContentEditable === true;
}

/** Mark (or unmark) `element` as the wheel's owner for the Vue node layer. */
export function setWheelCapture(element, capture) {
  element.dataset.captureWheel = capture ? "true" : "false";
}

/**
 * Bind the canvas's input. `handlers`:
 *   active()             -> whether an image is shown (no image: wheel and drag go to the graph)
 *   wheel(factor, x, y)  zoom by `factor` about the local point (x, y)
 *   drag(dx, dy)         pan by a pointer move of (dx, dy) local pixels
 *   hover(x, y)          pointer moved without a button
 *   reset()              double-click: fit the whole image
 * Returns a function that removes every listener.
 */
export function bindPointer(canvas, handlers, doc = globalThis.document) {
  let drag = null;
  let focusBefore = null;
  const listeners = [];
  const on = (type, listener, options) => {
    canvas.addEventListener(type, listener, options);
    listeners.push([type, listener, options]);
  };

  canvas.tabIndex = -1; // focusable by script, not by Tab
  setWheelCapture(canvas, false);

  const takeFocus = () => {
    const active = doc?.activeElement;
    if (active === canvas || !handlers.active() || isEditing(active)) return;
    focusBefore = active;
    canvas.focus?.({ preventScroll: true });
  };
  const giveFocusBack = () => {
    if (doc?.activeElement === canvas) {
      canvas.blur?.();
      focusBefore?.focus?.({ preventScroll: true });
    }
    focusBefore = null;
  };

  on("pointerenter", takeFocus);
  on("pointerleave", () => {
    if (!drag) giveFocusBack();
  });
  on(
    "wheel",
    (event) => {
      if (!handlers.active()) return; // nothing to zoom: let the graph zoom as usual
      event.preventDefault();
      event.stopPropagation();
      handlers.wheel(wheelFactor(event.deltaY), ...localPoint(event, canvas));
    },
    { passive: false }
  );
  on("pointerdown", (event) => {
    if (event.button !== 0 || !handlers.active()) return;
    event.preventDefault();
    event.stopPropagation();
    takeFocus();
    canvas.setPointerCapture?.(event.pointerId);
    const [x, y] = localPoint(event, canvas);
    drag = { x, y };
    canvas.style.cursor = "grabbing";
  });
  on("pointermove", (event) => {
    if (!handlers.active()) return;
    takeFocus(); // the image may have arrived while the pointer was already over the canvas
    const [x, y] = localPoint(event, canvas);
    if (drag) {
      const [dx, dy] = [x - drag.x, y - drag.y];
      drag = { x, y };
      handlers.drag(dx, dy);
    } else {
      handlers.hover(x, y);
    }
  });
  const endDrag = (event) => {
    if (!drag) return;
    drag = null;
    canvas.releasePointerCapture?.(event.pointerId);
    canvas.style.cursor = "";
  };
  on("pointerup", endDrag);
  on("pointercancel", endDrag);
  on("dblclick", (event) => {
    event.stopPropagation();
    handlers.reset();
  });

  return () => {
    for (const [type, listener, options] of listeners) canvas.removeEventListener(type, listener, options);
  };
}
