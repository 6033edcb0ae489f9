// A small stand-in for the browser DOM and the 2D canvas context, enough for the preview's
// modules (node has neither; jsdom would be a dependency for a handful of calls).

export class FakeEvent {
  constructor(type, init = {}) {
    Object.assign(this, { button: 0, clientX: 0, clientY: 0, deltaY: 0, pointerId: 1 }, init);
    this.type = type;
    this.defaultPrevented = false;
    this.propagationStopped = false;
  }
  preventDefault() {
    this.defaultPrevented = true;
  }
  stopPropagation() {
    this.propagationStopped = true;
  }
}

export class FakeElement {
  constructor(doc, tagName) {
    this.ownerDocument = doc;
    this.tagName = tagName.toUpperCase();
    this.children = [];
    this.parent = null;
    this.dataset = {};
    this.style = {};
    this.attributes = {};
    this.listeners = {};
    this.textContent = "";
    this.title = "";
    this.className = "";
    this.value = "";
    this.disabled = false;
    this.clientWidth = 0;
    this.clientHeight = 0;
    this.rect = null; // on-screen box; defaults to the client size at (0, 0)
    this.width = 0;
    this.height = 0;
    this.context = null;
  }
  append(...nodes) {
    for (const node of nodes) {
      node.parent = this;
      this.children.push(node);
    }
  }
  appendChild(node) {
    this.append(node);
    return node;
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  getAttribute(name) {
    return Object.prototype.hasOwnProperty.call(this.attributes, name) ? this.attributes[name] : null;
  }
  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }
  removeEventListener(type, listener) {
    this.listeners[type] = (this.listeners[type] ?? []).filter((entry) => entry !== listener);
  }
  dispatch(type, init) {
    const event = init instanceof FakeEvent ? init : new FakeEvent(type, init);
    for (const listener of [...(this.listeners[type] ?? [])]) listener(event);
    return event;
  }
  click() {
    if (!this.disabled) this.dispatch("click");
  }
  focus() {
    this.ownerDocument.activeElement = this;
  }
  blur() {
    if (this.ownerDocument.activeElement === this) this.ownerDocument.activeElement = this.ownerDocument.body;
  }
  setPointerCapture(id) {
    this.capturedPointer = id;
  }
  releasePointerCapture() {
    this.capturedPointer = null;
  }
  getBoundingClientRect() {
    const rect = this.rect ?? { left: 0, top: 0, width: this.clientWidth, height: this.clientHeight };
    return { ...rect, x: rect.left, y: rect.top };
  }
  getContext() {
    this.context ??= new RecordingContext();
    return this.context;
  }
  /** Every descendant (depth first), for finding controls in tests. */
  all() {
    return this.children.flatMap((child) => [child, ...child.all()]);
  }
  find(predicate) {
    return this.all().find(predicate);
  }
  querySelector() {
    return null;
  }
}

export class FakeDocument {
  constructor() {
    this.body = new FakeElement(this, "body");
    this.head = new FakeElement(this, "head");
    this.activeElement = this.body;
    this.created = [];
  }
  createElement(tagName) {
    const element = new FakeElement(this, tagName);
    this.created.push(element);
    return element;
  }
}

/** A 2D context that records calls ([name, ...args]) and property writes (["set", name, value]). */
export class RecordingContext {
  constructor() {
    this.calls = [];
    const record = (name) => (...args) => {
      this.calls.push([name, ...args]);
      if (name === "measureText") return { width: String(args[0]).length * 6 };
      if (name === "createPattern") return { pattern: true };
      if (name === "getImageData") return { data: new Uint8ClampedArray(args[2] * args[3] * 4) };
      return undefined;
    };
    return new Proxy(this, {
      get: (target, name) => (name in target ? target[name] : record(name)),
      set: (target, name, value) => {
        target.calls.push(["set", name, value]);
        return true;
      },
    });
  }
  /** The recorded calls named `name`. */
  named(name) {
    return this.calls.filter((call) => call[0] === name);
  }
}

/** An image as the panel sees one (only its natural size matters). */
export function fakeImage(width, height, label = "image") {
  return { naturalWidth: width, naturalHeight: height, label };
}
