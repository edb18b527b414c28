// Causerie dashboard: plain JavaScript over /api/* and the /api/events live feed.
// Data from the server is put in the page with textContent only (never innerHTML).
// Labels come from /i18n/ (i18n.js: window.CauserieI18n), redrawn when the language changes.
"use strict";

(() => {
  const TOKEN_KEY = "causerie.adminToken";
  const PAGE = 25;
  const STAGES = [
    // [TurnRecord field, label key, colour]
    ["stt_final_delay", "dash.metric.stt_final_delay", "#7b61ff"],
    ["end_of_utterance_delay", "dash.metric.end_of_utterance_delay", "#9aa3b5"],
    ["llm_ttft", "dash.metric.llm_ttft", "#3a6df0"],
    ["tts_ttfb", "dash.metric.tts_ttfb", "#1c9c8a"],
    ["voice_to_voice", "dash.metric.audio_out", "#e0851d"],
  ];
  const BREAKDOWN = [
    ["stt", "stt_final_delay", "dash.metric.stt_final_delay"],
    ["vad", "end_of_utterance_delay", "dash.metric.end_of_utterance_delay"],
    ["llm", "llm_ttft", "dash.metric.llm_ttft"],
    ["tts", "tts_ttfb", "dash.metric.tts_ttfb"],
    ["pipeline", "voice_to_voice", "dash.metric.voice_to_voice"],
  ];
  const i18n = window.CauserieI18n;
  const t = (key, vars) => i18n.t(key, vars);

  const $ = (id) => document.getElementById(id);
  const state = { offset: 0, total: 0, selected: null, active: new Map(), charts: {}, timers: {} };
  window.causerieDashboard = state; // for tests and the curious

  // -- helpers ---------------------------------------------------------------------------
  const ms = (v) => (v === null || v === undefined ? "–" : Math.round(v * 1000).toString());
  const when = (at) => (at ? new Date(at * 1000).toLocaleTimeString(i18n.language) : "–");
  const shortId = (id) => (id.length > 12 ? id.slice(0, 12) + "…" : id);
  const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "–" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function debounce(name, fn, delay) {
    clearTimeout(state.timers[name]);
    state.timers[name] = setTimeout(fn, delay);
  }

  function authHeaders() {
    const tok = sessionStorage.getItem(TOKEN_KEY);
    return tok ? { Authorization: "Bearer " + tok } : {};
  }

  class Unauthorized extends Error {}

  async function api(path, options = {}) {
    const r = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
    if (r.status === 401) {
      showLogin();
      throw new Unauthorized("unauthorized");
    }
    if (!r.ok) {
      let message = r.statusText;
      try { message = (await r.json()).message || message; } catch (_) { /* not JSON */ }
      throw new Error(`${path}: ${r.status} ${message}`);
    }
    return r.status === 204 ? null : r;
  }
  const getJSON = async (path) => (await api(path)).json();

  // -- login -----------------------------------------------------------------------------
  function showLogin() {
    $("login").hidden = false;
    $("main").hidden = true;
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("login").hidden = true;
    $("main").hidden = false;
    start();
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });

  // -- charts ----------------------------------------------------------------------------
  function makeCharts() {
    Chart.defaults.font.size = 11;
    Chart.defaults.animation = false;
    state.charts.latency = new Chart($("latency-chart"), {
      type: "line",
      data: { datasets: [
        { label: "p50", data: [], borderColor: "#3a6df0", backgroundColor: "#3a6df0" },
        { label: "p90", data: [], borderColor: "#e0851d", backgroundColor: "#e0851d" },
        { label: "p99", data: [], borderColor: "#c8364a", backgroundColor: "#c8364a" },
      ] },
      options: {
        maintainAspectRatio: false, parsing: false,
        scales: {
          x: { type: "linear", ticks: { callback: (v) => new Date(v).toLocaleTimeString(i18n.language, { hour: "2-digit", minute: "2-digit" }) } },
          y: { beginAtZero: true, title: { display: true, text: "ms" } },
        },
        plugins: { tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleTimeString(i18n.language) } } },
      },
    });
    state.charts.providers = new Chart($("provider-chart"), {
      type: "bar",
      data: { labels: [], datasets: [
        { label: "p50", data: [], backgroundColor: "#3a6df0" },
        { label: "p90", data: [], backgroundColor: "#e0851d" },
      ] },
      options: { maintainAspectRatio: false, indexAxis: "y", scales: { x: { beginAtZero: true, title: { display: true, text: "ms" } } } },
    });
    state.charts.waterfall = new Chart($("waterfall-chart"), {
      type: "bar",
      data: { labels: [], datasets: STAGES.map(([, key, colour]) => ({ label: t(key), data: [], backgroundColor: colour, grouped: false, barPercentage: 0.6 })) },
      options: {
        maintainAspectRatio: false, indexAxis: "y",
        scales: { x: { beginAtZero: true, title: { display: true, text: t("dash.waterfall.axis") } } },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${Math.round(c.raw[0])}–${Math.round(c.raw[1])} ms` } } },
      },
    });
  }

  // The waterfall's points, in ms after the end of the user's speech. Each stage is a
  // floating bar [start, end]; a stage that was not measured is left out.
  function waterfall(turn) {
    const bars = {};
    const stt = turn.stt_final_delay, eou = turn.end_of_utterance_delay;
    let t = 0;
    if (stt !== null) { bars.stt_final_delay = [0, stt * 1000]; t = stt; }
    if (eou !== null) { bars.end_of_utterance_delay = [t * 1000, Math.max(t, eou) * 1000]; t = Math.max(t, eou); }
    if (turn.llm_ttft !== null) { bars.llm_ttft = [t * 1000, (t + turn.llm_ttft) * 1000]; t += turn.llm_ttft; }
    if (turn.tts_ttfb !== null) { bars.tts_ttfb = [t * 1000, (t + turn.tts_ttfb) * 1000]; t += turn.tts_ttfb; }
    if (turn.voice_to_voice !== null) bars.voice_to_voice = [Math.min(t, turn.voice_to_voice) * 1000, turn.voice_to_voice * 1000];
    return bars;
  }

  // -- loaders ---------------------------------------------------------------------------
  const windowParam = () => $("window").value;

  async function loadSummary() {
    const s = await getJSON(`/api/metrics/summary?window=${windowParam()}&by=provider`);
    $("card-turns").textContent = s.turns + (s.truncated ? "+" : "");
    $("card-errors").textContent = s.errors;
    $("card-active").textContent = s.sessions.active;
    const v = s.metrics.voice_to_voice;
    $("card-v2v").textContent = v.count ? `${ms(v.p50)} / ${ms(v.p90)} / ${ms(v.p99)} ms` : "–";
    const labels = [], p50 = [], p90 = [];
    for (const [stage, metric, key] of BREAKDOWN) {
      const label = t(key);
      for (const [provider, stats] of Object.entries((s.by_provider || {})[stage] || {})) {
        const p = stats[metric];
        if (!p || !p.count) continue;
        // The pipeline is "stt+llm+tts", each "provider/model": the providers say enough.
        const name = stage === "pipeline" ? provider.split("+").map((p) => p.split("/")[0]).join(" + ") : provider;
        // Turns this provider served because the one before it in a fallback chain failed.
        const failed = ((s.failovers || {})[stage] || {})[provider] || 0;
        const note = failed ? ` · ${t("dash.providers.failovers")}: ${failed}` : "";
        labels.push(`${label} · ${name}${note}`);
        p50.push(p.p50 * 1000);
        p90.push(p.p90 * 1000);
      }
    }
    const c = state.charts.providers;
    c.data.labels = labels;
    c.data.datasets[0].data = p50;
    c.data.datasets[1].data = p90;
    c.update();
  }

  async function loadSeries() {
    const metric = $("metric").value;
    const s = await getJSON(`/api/metrics/series?window=${windowParam()}&metric=${metric}`);
    const points = s.series[metric] || [];
    const c = state.charts.latency;
    c.options.scales.x.min = s.since * 1000; // the whole window, even where it is empty
    c.options.scales.x.max = s.until * 1000;
    ["p50", "p90", "p99"].forEach((k, i) => {
      c.data.datasets[i].data = points.map((p) => ({ x: p.t * 1000, y: p[k] * 1000 }));
    });
    c.update();
  }

  function sessionQuery() {
    const q = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if ($("f-transport").value) q.set("transport", $("f-transport").value);
    if ($("f-outcome").value) q.set("outcome", $("f-outcome").value);
    if ($("f-agent").value) q.set("agent", $("f-agent").value);
    if ($("f-q").value.trim()) q.set("q", $("f-q").value.trim());
    return q;
  }

  async function loadSessions() {
    const page = await getJSON(`/api/sessions?${sessionQuery()}`);
    state.total = page.total;
    const body = $("sessions").tBodies[0];
    body.replaceChildren();
    for (const s of page.items) {
      const tr = document.createElement("tr");
      tr.className = "clickable" + (s.id === state.selected ? " selected" : "");
      tr.dataset.id = s.id;
      cell(tr, shortId(s.id)).title = s.id;
      cell(tr, when(s.started_at));
      cell(tr, s.transport);
      cell(tr, s.agent_name);
      noteAgent(s.agent_name);
      cell(tr, s.turn_count);
      cell(tr, s.duration === null ? "–" : s.duration.toFixed(1) + " s");
      cell(tr, s.outcome, s.outcome === "error" ? "error" : "");
      tr.addEventListener("click", () => selectSession(s.id));
      body.appendChild(tr);
    }
    const last = Math.min(state.offset + page.items.length, page.total);
    $("page-info").textContent = page.total
      ? t("dash.pager.range", { first: state.offset + 1, last, total: page.total })
      : t("dash.pager.none");
    $("prev").disabled = state.offset === 0;
    $("next").disabled = page.next_offset === null;
    if (!state.selected) {
      const first = page.items.find((s) => s.turn_count > 0);
      if (first) await selectSession(first.id);
    }
  }

  async function loadErrors() {
    const { items } = await getJSON(`/api/errors?window=${windowParam()}&limit=100`);
    const body = $("errors").tBodies[0];
    body.replaceChildren();
    for (const e of items) {
      const tr = document.createElement("tr");
      cell(tr, when(e.at));
      cell(tr, e.component);
      cell(tr, e.provider);
      cell(tr, e.session_id ? shortId(e.session_id) : "–");
      cell(tr, e.message, "error");
      body.appendChild(tr);
    }
    $("errors-empty").hidden = items.length > 0;
  }

  async function selectSession(id) {
    state.selected = id;
    for (const tr of $("sessions").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
    let s;
    try {
      s = await getJSON(`/api/sessions/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof Unauthorized) return;
      $("detail").hidden = true;
      state.selected = null;
      return;
    }
    $("detail").hidden = false;
    $("d-id").textContent = s.id;
    const providers = Object.entries(s.providers).map(([k, v]) => `${k}=${v}`).join(", ");
    const started = t("dash.detail.started", { when: new Date(s.started_at * 1000).toLocaleString(i18n.language) });
    $("d-meta").textContent = `${s.agent_name} · ${s.transport} · ${s.outcome} · ${started}` +
      (s.duration !== null ? ` · ${s.duration.toFixed(1)} s` : "") + (providers ? ` · ${providers}` : "") + (s.error ? ` · ${s.error}` : "");
    renderTurns(s.turns);
    renderTranscript(s);
  }

  function renderTurns(turns) {
    const c = state.charts.waterfall;
    c.data.labels = turns.map((turn) => t("dash.waterfall.turn", { index: turn.index }));
    const bars = turns.map(waterfall);
    STAGES.forEach(([field], i) => { c.data.datasets[i].data = bars.map((b) => b[field] || null); });
    c.update();
    const body = $("turns").tBodies[0];
    body.replaceChildren();
    for (const turn of turns) {
      const tr = document.createElement("tr");
      cell(tr, turn.index);
      cell(tr, turn.user_text);
      cell(tr, turn.agent_text);
      cell(tr, ms(turn.voice_to_voice));
      cell(tr, ms(turn.stt_final_delay));
      cell(tr, ms(turn.end_of_utterance_delay));
      cell(tr, ms(turn.llm_ttft));
      cell(tr, ms(turn.tts_ttfb));
      cell(tr, turn.tool_calls.map((x) => x.name + (x.ok ? "" : " ✗")).join(", ") || "–");
      const flags = [turn.interrupted ? t("dash.interrupted") : "", turn.error || ""];
      cell(tr, flags.filter(Boolean).join(" · "), turn.error ? "error" : "");
      body.appendChild(tr);
    }
  }

  function renderTranscript(s) {
    const list = $("transcript");
    list.replaceChildren();
    for (const e of s.transcript) {
      const li = document.createElement("li");
      const role = document.createElement("span");
      role.className = "role role-" + e.role;
      role.textContent = e.role;
      const offset = document.createElement("span");
      offset.className = "muted";
      offset.textContent = ` +${(e.at - s.started_at).toFixed(1)} s `;
      li.append(role, offset, document.createTextNode(e.text));
      list.appendChild(li);
    }
    if (!s.transcript.length) list.textContent = t("dash.transcript.none");
  }

  async function download(format) {
    const id = state.selected;
    const r = await api(`/api/sessions/${encodeURIComponent(id)}/export?format=${format}`);
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `causerie-session-${id}.${format}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // -- live feed -------------------------------------------------------------------------
  function renderActive() {
    const body = $("active").tBodies[0];
    body.replaceChildren();
    const rows = [...state.active.values()].sort((a, b) => b.started_at - a.started_at);
    for (const s of rows) {
      const tr = document.createElement("tr");
      tr.className = "clickable";
      tr.dataset.id = s.id;
      cell(tr, shortId(s.id)).title = s.id;
      cell(tr, s.transport);
      cell(tr, s.agent_name);
      cell(tr, when(s.started_at));
      cell(tr, s.turn_count || 0);
      cell(tr, ms(s.last_v2v));
      cell(tr, s.state || "–");
      tr.addEventListener("click", () => selectSession(s.id));
      body.appendChild(tr);
    }
    $("active-empty").hidden = rows.length > 0;
  }

  function refreshSoon() {
    debounce("all", () => { refreshAll().catch(console.warn); }, 1500);
  }

  function onEvent(type, data) {
    if (type === "snapshot") {
      state.active = new Map(data.active.map((s) => [s.id, s]));
      if (data.active_count !== null) $("card-active").textContent = data.active_count;
    } else if (type === "stats") {
      if (data.active_count !== null) $("card-active").textContent = data.active_count;
      return;
    } else if (type === "session_start") {
      state.active.set(data.session.id, data.session);
      refreshSoon();
    } else if (type === "session_end") {
      state.active.delete(data.session_id);
      refreshSoon();
    } else if (type === "turn") {
      const s = state.active.get(data.turn.session_id);
      if (s) { s.turn_count = data.turn.index; if (data.turn.voice_to_voice !== null) s.last_v2v = data.turn.voice_to_voice; }
      if (data.turn.session_id === state.selected) debounce("detail", () => selectSession(state.selected), 500);
      refreshSoon();
    } else if (type === "agent_state") {
      const s = state.active.get(data.session_id);
      if (s) s.state = data.state;
    } else if (type === "error") {
      refreshSoon();
    }
    if (data.lost) refreshSoon(); // we fell behind and missed events: reload everything
    renderActive();
  }

  function parseBlock(block) {
    let type = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (data.length) onEvent(type, JSON.parse(data.join("\n")));
  }

  // EventSource cannot send the Authorization header, so the feed is read with fetch.
  async function liveLoop() {
    for (;;) {
      try {
        const r = await api("/api/events");
        $("live").className = "live on";
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            parseBlock(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) {
        if (e instanceof Unauthorized) return;
        console.warn("live feed:", e);
      }
      $("live").className = "live off";
      await sleep(3);
    }
  }

  // -- wiring ----------------------------------------------------------------------------
  async function refreshAll() {
    await Promise.all([loadSummary(), loadSeries(), loadSessions(), loadErrors()]);
  }

  let started = false;
  // The agent filter offers every agent seen in the store's sessions: with several agents
  // per server, or several servers sharing one store, all of them.
  function noteAgent(name) {
    const select = $("f-agent");
    if (!name || [...select.options].some((o) => o.value === name)) return;
    const o = document.createElement("option");
    o.value = name;
    o.textContent = name;
    select.appendChild(o);
  }

  async function start() {
    try {
      await refreshAll();
    } catch (e) {
      if (e instanceof Unauthorized) return;
      console.warn(e);
    }
    $("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
    if (!started) {
      started = true;
      liveLoop();
      setInterval(() => { refreshAll().catch(console.warn); }, 30000);
    }
  }

  // Chart labels and what the loaders wrote, in the new language.
  function relabel() {
    const c = state.charts;
    if (!c.waterfall) return;
    STAGES.forEach(([, key], i) => { c.waterfall.data.datasets[i].label = t(key); });
    c.waterfall.options.scales.x.title.text = t("dash.waterfall.axis");
    refreshAll().catch(console.warn);
    if (state.selected) selectSession(state.selected).catch(console.warn);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await i18n.init(); // the agent's language when the server has an agent, else the browser's
    i18n.switcher($("language"));
    window.addEventListener("causerie:language", relabel);
    makeCharts();
    $("window").addEventListener("change", () => refreshAll().catch(console.warn));
    $("metric").addEventListener("change", () => loadSeries().catch(console.warn));
    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); state.offset = 0; loadSessions().catch(console.warn); });
    $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadSessions().catch(console.warn); });
    $("next").addEventListener("click", () => { state.offset += PAGE; loadSessions().catch(console.warn); });
    $("d-json").addEventListener("click", () => download("json").catch(console.warn));
    $("d-txt").addEventListener("click", () => download("txt").catch(console.warn));
    $("d-delete").addEventListener("click", async () => {
      if (!state.selected || !confirm(t("dash.detail.confirm", { id: state.selected }))) return;
      await api(`/api/sessions/${encodeURIComponent(state.selected)}`, { method: "DELETE" });
      state.selected = null;
      $("detail").hidden = true;
      await refreshAll();
    });
    start();
  });
})();
