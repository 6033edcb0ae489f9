// The extension's own strings in the user's language. Pure module except `loadTranslator`, whose
// network and settings access are passed in; unit-tested with `node --test web/tests`.
//
// English is the source, here. Translations live in `locales/<lang>/main.json` under
// `ben2.preview.<key>`: ComfyUI merges every pack's `locales/<lang>/main.json` and serves the result
// at `/i18n` ({lang: {ben2: {preview: {...}}, nodeDefs: ..., ...}}). The front-end merges that into
// its own vue-i18n messages but does not hand its `t()` to plain-JS extensions on every version, so
// the extension reads `/i18n` itself and resolves the language from the `Comfy.Locale` setting.

/** English text of every string the extension shows, by key. `{name}` marks a value filled in. */
export const STRINGS = Object.freeze({
  backdropChecker: "Checkerboard behind the cut-out",
  backdropBlack: "Black behind the cut-out",
  backdropWhite: "White behind the cut-out",
  backdropColor: "A colour of your choice behind the cut-out (click again to pick it)",
  backdropPicker: "Backdrop colour",
  overlay: "overlay",
  overlayOpacity: "Trimap overlay opacity",
  legendForeground: "fg",
  legendBackground: "bg",
  legendUnknown: "edge",
  legendForegroundTitle: "foreground (trimap 1)",
  legendBackgroundTitle: "background (trimap 0)",
  legendUnknownTitle: "unknown edge band (trimap 0.5)",
  compare: "before | after",
  compareTitle: "Compare the coarse and the refined cut-out",
  previousImage: "Previous image of the batch",
  nextImage: "Next image of the batch",
  batchIndex: "{index}/{count}",
  batchIndexOfTotal: "{index}/{count} of {total}",
  zoomOut: "Zoom out",
  zoomFit: "fit",
  zoomFitTitle: "Fit the whole image (double-click the image does the same)",
  zoomIn: "Zoom in (or use the mouse wheel over the image; drag to pan)",
  before: "before",
  after: "after",
  runToSee: "Run the graph to see the preview",
});

/** Where our strings sit inside one language of the `/i18n` answer (and of main.json). */
export const MESSAGE_PATH = Object.freeze(["ben2", "preview"]);

/** Languages the pack ships translations for (folders under locales/). */
export const LANGUAGES = Object.freeze(["en", "zh", "ja", "ko", "ru", "fr", "es", "de"]);

/** The `{name}` placeholders of a template, sorted (translations must keep the same ones). */
export function placeholders(template) {
  return [...String(template).matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
}

/** Fill `{name}` placeholders from `values`; unknown names stay as written. */
export function format(template, values = {}) {
  return String(template).replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole
  );
}

/**
 * The language of `available` for a requested locale ("zh", "zh-CN", "pt_BR", ...): exact match
 * first, then the language part; "en" when nothing fits.
 */
export function resolveLocale(requested, available = LANGUAGES) {
  if (typeof requested !== "string" || !requested) return "en";
  const wanted = requested.replace("_", "-").toLowerCase();
  const byLower = new Map(available.map((code) => [code.toLowerCase(), code]));
  return byLower.get(wanted) ?? byLower.get(wanted.split("-")[0]) ?? "en";
}

/**
 * Our messages for `locale` out of an `/i18n` answer: only known keys with string values whose
 * placeholders match the English ones (a broken translation falls back to English, key by key).
 */
export function messagesFor(i18nAnswer, locale) {
  let node = i18nAnswer?.[locale];
  for (const part of MESSAGE_PATH) node = node && typeof node === "object" ? node[part] : undefined;
  if (!node || typeof node !== "object") return {};
  const messages = {};
  for (const [key, english] of Object.entries(STRINGS)) {
    const text = node[key];
    if (typeof text === "string" && text && placeholders(text).join() === placeholders(english).join()) {
      messages[key] = text;
    }
  }
  return messages;
}

/** `t(key, values)`: the translated string, else the English one; an unknown key throws (a bug). */
export function makeTranslator(messages = {}) {
  return function t(key, values) {
    if (!Object.prototype.hasOwnProperty.call(STRINGS, key)) {
      throw new RangeError(`unknown ComfyUI-BEN2 string key ${JSON.stringify(key)}`);
    }
    return format(messages[key] ?? STRINGS[key], values);
  };
}

/** The English translator (before the translations arrive, or when they cannot). */
export const english = makeTranslator();

/**
 * A translator for the user's language. `requestedLocale` is the `Comfy.Locale` setting (or the
 * browser's language); `fetchI18n()` resolves to the server's `/i18n` answer. English when the
 * language is English or the answer cannot be had (old servers have no `/i18n`).
 */
export async function loadTranslator(requestedLocale, fetchI18n) {
  const locale = resolveLocale(requestedLocale);
  if (locale === "en") return { locale, t: english };
  try {
    return { locale, t: makeTranslator(messagesFor(await fetchI18n(), locale)) };
  } catch {
    return { locale, t: english };
  }
}
