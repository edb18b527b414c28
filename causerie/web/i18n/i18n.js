// The pages' strings: /i18n/<lang>.json, one file per language, English as the fallback for
// any missing key. A classic script (the dashboard is not a module): window.CauserieI18n.
//
// Markup:  <b data-i18n="key">English</b>   <input data-i18n-attr="placeholder:key;title:key2">
// Code:    CauserieI18n.t("key", { name: "value" })  fills {name}
// Choice:  ?lang=fr > the switch (kept in localStorage) > the agent's language > the browser's
// Text is always set with textContent or setAttribute, never as HTML.
// A "causerie:language" window event tells scripts to redraw what they wrote themselves.
"use strict";

(() => {
  const STORE = "causerie.language";
  const BASE = "/i18n/";
  const state = { language: "en", available: ["en"], en: {}, strings: {} };

  function format(text, vars) {
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (whole, k) => (k in vars ? String(vars[k]) : whole));
  }

  function t(key, vars) {
    const own = state.strings[key];
    const text = typeof own === "string" ? own : state.en[key];
    return format(typeof text === "string" ? text : key, vars);
  }

  async function load(language) {
    const r = await fetch(`${BASE}${encodeURIComponent(language)}.json`);
    if (!r.ok) throw new Error(`${BASE}${language}.json: ${r.status}`);
    return r.json();
  }

  function pick(candidates) {
    for (const c of candidates) {
      if (!c) continue;
      const base = String(c).toLowerCase().split("-")[0];
      if (state.available.includes(base)) return base;
    }
    return "en";
  }

  function apply(root = document) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":").map((s) => s.trim());
        if (attr && key) el.setAttribute(attr, t(key));
      }
    }
    document.documentElement.lang = state.language;
  }

  async function use(language) {
    let strings = state.en;
    if (language !== "en") {
      try {
        strings = await load(language);
      } catch (e) {
        console.warn("strings:", e);
        language = "en";
      }
    }
    state.strings = strings;
    state.language = language;
    apply();
    window.dispatchEvent(new CustomEvent("causerie:language", { detail: { language } }));
  }

  function stored() {
    try { return localStorage.getItem(STORE); } catch (_) { return null; }
  }

  // { agentLanguage, languages } (GET /api/ui has them); without: GET /i18n/index.json.
  async function init({ agentLanguage = null, languages = null } = {}) {
    if (!languages) {
      try {
        const r = await fetch(`${BASE}index.json`);
        ({ language: agentLanguage, languages } = await r.json());
      } catch (e) {
        console.warn("strings:", e);
      }
    }
    state.available = languages && languages.length ? languages : ["en"];
    try {
      state.en = await load("en");
    } catch (e) {
      console.warn("strings:", e); // the markup's own English stays
    }
    const asked = new URLSearchParams(location.search).get("lang");
    await use(pick([asked, stored(), agentLanguage, ...(navigator.languages || [navigator.language])]));
  }

  // Fill a <select> with the languages (each named in its own language) and switch on change.
  function switcher(select) {
    const fill = () => {
      select.replaceChildren(...state.available.map((language) => {
        const option = document.createElement("option");
        option.value = language;
        option.textContent = t(`language.${language}`);
        return option;
      }));
      select.value = state.language;
    };
    fill();
    window.addEventListener("causerie:language", fill);
    select.addEventListener("change", () => {
      try { localStorage.setItem(STORE, select.value); } catch (_) { /* private mode */ }
      use(select.value);
    });
  }

  window.CauserieI18n = {
    init, t, use, apply, switcher,
    get language() { return state.language; },
    get languages() { return state.available.slice(); },
  };
})();
