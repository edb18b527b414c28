// The studio: edit an agent's definition (GET/PUT /api/agents/KEY), see errors at the field,
// a conflict when someone saved first, history with restore, voice preview, and "talk".
// Text from the server or the user goes into the page with textContent only.
(function () {
  "use strict";
  const i18n = window.CauserieI18n;
  const t = (k, v) => i18n.t(k, v);
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "causerie.adminToken"; // the dashboard's: one login for both
  const KINDS = ["stt", "llm", "tts", "vad"];
  const state = { key: null, doc: null, catalogue: null };

  function authHeaders() {
    const tok = sessionStorage.getItem(TOKEN_KEY);
    return tok ? { Authorization: "Bearer " + tok } : {};
  }

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}), ...authHeaders() };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options = { ...options, body: JSON.stringify(options.json) };
    }
    const r = await fetch(path, { ...options, headers });
    if (r.status === 401) { $("login").hidden = false; $("main").hidden = true; }
    return r;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function get(obj, dotted) {
    return dotted.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  }

  // -- providers -------------------------------------------------------------------------
  function statusText(p) {
    if (p.status === "ready") return t("studio.status.ready");
    if (p.status === "missing_extra") return t("studio.status.extra", { command: p.install });
    return t("studio.status.key", { variable: p.key_variable });
  }

  function buildProviders() {
    const box = $("providers");
    box.querySelectorAll(".stage").forEach((e) => e.remove());
    for (const kind of KINDS) {
      const stage = el("div", null, "stage");
      const label = el("label");
      label.appendChild(el("span", kind.toUpperCase()));
      const select = el("select");
      select.dataset.field = kind + ".provider";
      for (const p of state.catalogue.providers[kind]) {
        const o = el("option", p.name + (p.status === "ready" ? "" : " ⚠"));
        o.value = p.name;
        select.appendChild(o);
      }
      label.appendChild(select);
      stage.appendChild(label);
      const status = el("small", "", "hint");
      status.id = "status-" + kind;
      stage.appendChild(status);
      stage.appendChild(errorFor(kind + ".provider"));
      if (kind !== "vad") stage.appendChild(listInput(kind, "model", t("studio.model")));
      if (kind === "tts") {
        stage.appendChild(listInput(kind, "voice", t("studio.voice")));
        const preview = el("button", t("studio.preview"));
        preview.type = "button";
        preview.id = "preview-voice";
        preview.addEventListener("click", previewVoice);
        stage.appendChild(preview);
        const audio = el("audio");
        audio.id = "preview-audio";
        audio.controls = true;
        audio.hidden = true;
        stage.appendChild(audio);
      }
      select.addEventListener("change", () => showProvider(kind));
      box.appendChild(stage);
    }
  }

  function errorFor(field) {
    const e = el("small", "", "error");
    e.dataset.errorFor = field;
    return e;
  }

  function listInput(kind, what, title) {
    const wrap = el("div");
    const label = el("label");
    label.appendChild(el("span", title));
    const input = el("input");
    input.dataset.field = kind + "." + what;
    input.setAttribute("list", "list-" + kind + "-" + what);
    const list = el("datalist");
    list.id = "list-" + kind + "-" + what;
    label.appendChild(input);
    wrap.appendChild(label);
    wrap.appendChild(list);
    wrap.appendChild(errorFor(kind + "." + what));
    return wrap;
  }

  function showProvider(kind) {
    const name = document.querySelector(`[data-field="${kind}.provider"]`).value;
    const p = state.catalogue.providers[kind].find((x) => x.name === name);
    const status = $("status-" + kind);
    status.textContent = p ? `${statusText(p)} — ${p.description}` : "";
    status.className = "hint status-" + (p ? p.status : "");
    for (const what of ["model", "voice"]) {
      const list = $("list-" + kind + "-" + what);
      if (!list) continue;
      list.replaceChildren();
      for (const v of (p && p[what + "s"]) || []) {
        const o = el("option");
        o.value = v;
        list.appendChild(o);
      }
    }
  }

  function buildToggles(id, items, field) {
    const box = $(id);
    box.replaceChildren();
    for (const item of items) {
      const label = el("label");
      const box2 = el("input");
      box2.type = "checkbox";
      box2.value = item.name;
      box2.dataset.toggle = field;
      label.appendChild(box2);
      const text = el("span");
      text.appendChild(el("strong", item.name));
      text.appendChild(document.createTextNode(" — " + item.description));
      label.appendChild(text);
      box.appendChild(label);
    }
  }

  // -- load / fill -----------------------------------------------------------------------
  async function loadAgents() {
    const r = await fetch("/api/agents");
    const agents = await r.json();
    const select = $("agent");
    select.replaceChildren();
    const wanted = new URLSearchParams(location.search).get("agent");
    for (const a of agents) {
      const o = el("option", `${a.name} (${a.key})`);
      o.value = a.key;
      o.selected = wanted ? a.key === wanted : a.default;
      select.appendChild(o);
    }
  }

  async function load() {
    state.key = $("agent").value;
    const [doc, cat] = await Promise.all([
      api("/api/agents/" + encodeURIComponent(state.key)),
      state.catalogue ? null : api("/api/providers"),
    ]);
    if (!doc.ok) return;
    if (cat) {
      if (!cat.ok) return;
      state.catalogue = await cat.json();
      buildProviders();
      buildToggles("tools", state.catalogue.tools, "tools");
      buildToggles("plugins", state.catalogue.plugins, "plugins");
    }
    $("login").hidden = true;
    $("main").hidden = false;
    state.doc = await doc.json();
    $("raw").value = state.doc.text;
    fill(state.doc.spec);
    clearErrors();
    // The file was changed by hand and does not load: say so; the YAML editor can fix it.
    if (state.doc.error) $("general-error").textContent = t("studio.broken", { error: state.doc.error });
    showRestart(state.doc.restart);
    loadHistory();
  }

  function fill(spec) {
    for (const input of document.querySelectorAll("[data-field]")) {
      const value = get(spec, input.dataset.field);
      if (input.type === "checkbox") input.checked = !!value;
      else input.value = value === undefined || value === null ? "" : value;
    }
    for (const box of document.querySelectorAll("[data-toggle]")) {
      box.checked = (spec[box.dataset.toggle] || []).includes(box.value);
    }
    // Instructions from instructions_file are shown; changing them moves them into the
    // agent file (one file, one history).
    const file = spec.instructions_file;
    const area = document.querySelector('[data-field="instructions"]');
    area.value = state.doc.instructions || "";
    $("instructions-file").hidden = !file;
    $("instructions-file").textContent = file ? t("studio.instructions.file", { file }) : "";
    renderPreview();
    KINDS.forEach(showProvider);
  }

  function renderPreview() {
    window.CauserieMarkdown.render($("preview"), document.querySelector('[data-field="instructions"]').value);
  }

  // -- save ------------------------------------------------------------------------------
  function valueOf(input) {
    if (input.type === "checkbox") return input.checked;
    const raw = input.value;
    if (input.type === "number") return raw.trim() === "" ? null : Number.isNaN(Number(raw)) ? raw : Number(raw);
    return raw === "" ? null : raw;
  }

  function changes() {
    const out = {};
    const spec = state.doc.spec;
    for (const input of document.querySelectorAll("[data-field]")) {
      const field = input.dataset.field;
      if (field === "instructions") {
        const text = input.value;
        if (text !== (state.doc.instructions || "")) {
          out.instructions = text === "" ? null : text;
          if (spec.instructions_file) out.instructions_file = null;
        }
        continue;
      }
      const before = get(spec, field);
      const after = valueOf(input);
      if ((before === undefined ? null : before) !== after) out[field] = after;
    }
    for (const field of ["tools", "plugins"]) {
      const on = [...document.querySelectorAll(`[data-toggle="${field}"]`)].filter((b) => b.checked).map((b) => b.value);
      const before = spec[field] || [];
      if (on.join(",") !== before.join(",")) out[field] = on;
    }
    return out;
  }

  function clearErrors() {
    for (const e of document.querySelectorAll("[data-error-for]")) e.textContent = "";
    for (const e of document.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    $("general-error").textContent = "";
  }

  function showErrors(fields) {
    const rest = [];
    for (const [field, message] of Object.entries(fields)) {
      const slot = document.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      const input = document.querySelector(`[data-field="${CSS.escape(field)}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
      if (slot) slot.textContent = message;
      else rest.push(`${field}: ${message}`);
    }
    $("general-error").textContent = rest.join("\n");
  }

  function showRestart(lines) {
    const ul = $("restart");
    ul.replaceChildren(...(lines || []).map((l) => el("li", l)));
  }

  async function save(ev) {
    ev.preventDefault();
    clearErrors();
    const edit = changes();
    if (!Object.keys(edit).length) { $("status").textContent = t("studio.nothing"); return; }
    await put({ changes: edit });
  }

  // The whole file from the YAML editor: the server checks it like the form.
  async function saveRaw() {
    clearErrors();
    if ($("raw").value === state.doc.text) { $("status").textContent = t("studio.nothing"); return; }
    await put({ text: $("raw").value });
  }

  async function put(reqBody) {
    $("status").textContent = t("studio.saving");
    const r = await api("/api/agents/" + encodeURIComponent(state.key), {
      method: "PUT",
      json: { base_version: state.doc.version, ...reqBody, author: localStorage.getItem("causerie.author") || "studio" },
    });
    const body = await r.json().catch(() => ({}));
    if (r.status === 200) {
      $("status").textContent = t("studio.saved", { number: body.number }) + " " + body.message;
      await load();
      showRestart(body.restart);
      return;
    }
    $("status").textContent = "";
    if (r.status === 409) $("general-error").textContent = t("studio.conflict") + " " + body.message;
    else if (r.status === 422 && body.fields) {
      showErrors(body.fields);
      if (reqBody.text !== undefined) {
        // From the YAML editor: every error under it too, where the user is looking.
        $("raw").setAttribute("aria-invalid", "true");
        document.querySelector('[data-error-for="yaml"]').textContent =
          Object.entries(body.fields).map(([f, m]) => (f === "yaml" ? m : `${f}: ${m}`)).join("\n");
      }
    }
    else $("general-error").textContent = body.message || r.statusText;
  }

  // -- history ---------------------------------------------------------------------------
  async function loadHistory() {
    const r = await api("/api/agents/" + encodeURIComponent(state.key) + "/history");
    if (!r.ok) return;
    const list = $("history");
    list.replaceChildren();
    for (const v of await r.json()) {
      const li = el("li");
      const when = new Date(v.at * 1000).toLocaleString();
      li.appendChild(el("span", `#${v.number} · ${v.author} · ${when}${v.note ? " · " + v.note : ""} `));
      const restore = el("button", t("studio.restore"));
      restore.type = "button";
      restore.dataset.number = v.number;
      restore.addEventListener("click", () => restoreVersion(v.number));
      li.appendChild(restore);
      if (v.diff) {
        const d = el("details");
        d.appendChild(el("summary", t("studio.diff")));
        d.appendChild(el("pre", v.diff));
        li.appendChild(d);
      }
      list.appendChild(li);
    }
  }

  async function restoreVersion(number) {
    clearErrors();
    const r = await api(`/api/agents/${encodeURIComponent(state.key)}/history/${number}/restore`, {
      method: "POST",
      json: { base_version: state.doc.version, author: localStorage.getItem("causerie.author") || "studio" },
    });
    const body = await r.json().catch(() => ({}));
    if (r.status === 200) {
      await load();
      $("status").textContent = t("studio.restored", { number });
    } else if (r.status === 409) {
      $("general-error").textContent = t("studio.conflict") + " " + body.message;
    } else {
      $("general-error").textContent = body.message || r.statusText;
    }
  }

  // -- voice preview and talk ------------------------------------------------------------
  async function previewVoice() {
    clearErrors();
    const q = (f) => document.querySelector(`[data-field="${f}"]`).value;
    const r = await api("/api/voice-preview", {
      method: "POST",
      json: { provider: q("tts.provider"), voice: q("tts.voice") || null, model: q("tts.model") || null, language: (q("language") || "en").slice(0, 2) },
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      if (body.fields) showErrors(body.fields); else $("general-error").textContent = body.message || r.statusText;
      return;
    }
    const audio = $("preview-audio");
    audio.src = URL.createObjectURL(await r.blob());
    audio.hidden = false;
    audio.play().catch(() => {});
  }

  function talk() {
    window.open("/?agent=" + encodeURIComponent($("agent").value), "_blank", "noopener");
  }

  async function start() {
    await i18n.init();
    i18n.switcher($("language-ui"));
    $("login").addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      load();
    });
    $("editor").addEventListener("submit", save);
    $("save-raw").addEventListener("click", saveRaw);
    $("agent").addEventListener("change", load);
    $("talk").addEventListener("click", talk);
    document.querySelector('[data-field="instructions"]').addEventListener("input", renderPreview);
    await loadAgents();
    await load();
  }

  start();
})();
