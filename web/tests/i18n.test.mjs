import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  LANGUAGES,
  MESSAGE_PATH,
  STRINGS,
  format,
  loadTranslator,
  makeTranslator,
  messagesFor,
  placeholders,
  resolveLocale,
} from "../lib/i18n.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const WEB = `${REPO}web/`;

function mainJson(lang) {
  return JSON.parse(readFileSync(`${REPO}locales/${lang}/main.json`, "utf-8"));
}

function ourMessages(lang) {
  return MESSAGE_PATH.reduce((node, part) => node?.[part], mainJson(lang));
}

test("every extension string has a translation in every shipped language, with the same placeholders", () => {
  for (const lang of LANGUAGES) {
    const messages = ourMessages(lang);
    assert.ok(messages, `locales/${lang}/main.json lacks ${MESSAGE_PATH.join(".")}`);
    assert.deepEqual(Object.keys(messages).sort(), Object.keys(STRINGS).sort(), `keys of locales/${lang}/main.json`);
    for (const [key, english] of Object.entries(STRINGS)) {
      const text = messages[key];
      assert.ok(typeof text === "string" && text.trim(), `${lang}.${key} is empty`);
      assert.deepEqual(placeholders(text), placeholders(english), `${lang}.${key} keeps the placeholders`);
      // vue-i18n (the front-end merges main.json into its messages) treats "@" and "|" specially;
      // only the English compare label may use "|", as every language's label does.
      assert.ok(!text.includes("@"), `${lang}.${key} contains "@"`);
    }
  }
});

test("English main.json is the source strings exactly; other languages are translated", () => {
  assert.deepEqual(ourMessages("en"), STRINGS);
  const untranslated = (lang) =>
    Object.keys(STRINGS).filter((key) => placeholders(STRINGS[key]).length === 0 && ourMessages(lang)[key] === STRINGS[key]);
  for (const lang of LANGUAGES.filter((code) => code !== "en")) {
    assert.deepEqual(untranslated(lang), [], `${lang} strings still in English`);
  }
});

test("locales/ holds exactly the shipped languages", () => {
  const folders = readdirSync(`${REPO}locales`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  assert.deepEqual(folders, [...LANGUAGES].sort());
});

test("every t() key in the extension's code exists, and every string is used", () => {
  const files = [`${WEB}ben2.js`, ...readdirSync(`${WEB}lib`).map((name) => `${WEB}lib/${name}`)];
  const source = files.map((path) => readFileSync(path, "utf-8")).join("\n");
  const used = new Set([...source.matchAll(/\bt\(\s*"(\w+)"/g)].map((match) => match[1]));
  // Keys picked from tables (backdrop titles, legend) appear as quoted strings in toolbar.js.
  const tabled = new Set([...source.matchAll(/"(\w+)"/g)].map((match) => match[1]).filter((word) => word in STRINGS));
  for (const key of used) assert.ok(key in STRINGS, `t("${key}") has no English source in STRINGS`);
  for (const key of Object.keys(STRINGS)) assert.ok(used.has(key) || tabled.has(key), `STRINGS.${key} is never used`);
});

test("format fills placeholders and leaves unknown ones", () => {
  assert.equal(format("{index}/{count} of {total}", { index: 2, count: 3, total: 9 }), "2/3 of 9");
  assert.equal(format("{index}/{missing}", { index: 1 }), "1/{missing}");
  assert.deepEqual(placeholders("{b} and {a}"), ["a", "b"]);
});

test("resolveLocale matches exactly, then by language, else English", () => {
  assert.equal(resolveLocale("zh"), "zh");
  assert.equal(resolveLocale("zh-CN"), "zh");
  assert.equal(resolveLocale("ja_JP"), "ja");
  assert.equal(resolveLocale("DE"), "de");
  assert.equal(resolveLocale("pt-BR"), "en");
  assert.equal(resolveLocale(undefined), "en");
  assert.equal(resolveLocale(""), "en");
});

test("messagesFor keeps known keys whose placeholders match, per key", () => {
  const answer = {
    zh: {
      nodeDefs: { BEN2SegmentForeground: { display_name: "分割前景" } },
      ben2: { preview: { runToSee: "运行", batchIndex: "{index}", zoomIn: 5, bogus: "x" } },
    },
  };
  assert.deepEqual(messagesFor(answer, "zh"), { runToSee: "运行" });
  assert.deepEqual(messagesFor(answer, "ja"), {});
  assert.deepEqual(messagesFor(null, "zh"), {});
});

test("the translator falls back to English key by key and rejects unknown keys", () => {
  const t = makeTranslator({ runToSee: "运行工作流" });
  assert.equal(t("runToSee"), "运行工作流");
  assert.equal(t("zoomOut"), STRINGS.zoomOut);
  assert.equal(t("batchIndexOfTotal", { index: 1, count: 4, total: 8 }), "1/4 of 8");
  assert.throws(() => t("noSuchKey"), /unknown ComfyUI-BEN2 string key/);
});

test("loadTranslator reads /i18n for other languages, skips it for English, survives failures", async () => {
  const zh = { zh: mainJson("zh") };
  let fetched = 0;
  const fetchI18n = async () => {
    fetched++;
    return zh;
  };
  const chinese = await loadTranslator("zh-CN", fetchI18n);
  assert.equal(chinese.locale, "zh");
  assert.equal(chinese.t("runToSee"), ourMessages("zh").runToSee);
  assert.notEqual(chinese.t("runToSee"), STRINGS.runToSee);
  const en = await loadTranslator("en-US", fetchI18n);
  assert.equal(en.t("runToSee"), STRINGS.runToSee);
  assert.equal(fetched, 1, "English needs no request");
  const broken = await loadTranslator("fr", async () => {
    throw new Error("404");
  });
  assert.equal(broken.t("zoomOut"), STRINGS.zoomOut);
});
