// The talk page: connect, stream the mic, show both sides of the conversation.
// URL options (handy for tests and demos): ?transport=websocket|webrtc|livekit  ?aec=0 (no echo
// cancellation, noise suppression or gain control)  ?autoconnect=1  ?lang=fr  ?theme=market
// ?room=...&name=... (LiveKit). Strings come from /i18n/ (i18n.js), never inserted as HTML.
import { ConnectError, WebRTCTransport, WebSocketTransport } from "./transports.js";
import { LiveKitTransport, randomId } from "./livekit.js";
import { applyTheme, pageInfo } from "./theme.js";

const TRANSPORTS = { webrtc: WebRTCTransport, websocket: WebSocketTransport, livekit: LiveKitTransport };
const TRANSPORT_NAMES = { webrtc: "WebRTC", websocket: "WebSocket", livekit: "LiveKit" };

const $ = (id) => document.getElementById(id);
const i18n = window.CauserieI18n;
const t = (key, vars) => i18n.t(key, vars);
const params = new URLSearchParams(location.search);
const processing = params.get("aec") !== "0";

const ui = {
  conn: $("conn"), orb: $("orb"), agentState: $("agent-state"), connect: $("connect"),
  mic: $("mic"), interrupt: $("interrupt"), transcript: $("transcript"), say: $("say"),
  text: $("text"), send: $("send"), notice: $("notice"), noticeText: $("notice-text"),
  reconnect: $("reconnect"), micLevel: $("mic-level"), agentLevel: $("agent-level"),
  transportChoice: $("transport-choice"), visualiser: $("visualiser"), audio: $("agent-audio"), agentName: $("agent-name"),
  livekitOptions: $("livekit-options"), room: $("lk-room"), name: $("lk-name"),
};

const STATE_KEYS = {
  initializing: "talk.state.initializing", idle: "talk.state.idle", listening: "talk.state.listening",
  thinking: "talk.state.thinking", speaking: "talk.state.speaking",
};
const CONN_KEYS = {
  idle: "talk.conn.idle", connecting: "talk.conn.connecting", connected: "talk.conn.connected",
  error: "talk.conn.error",
};

// Everything a test (or a curious person in the console) may want to read.
const debug = {
  conn: "idle", agentState: null, muted: false, events: [],
  agentLevels: [], // [performance.now(), rms] of the agent's voice, last ~15 s
  stats: { agentAudibleTicks: 0, agentPeak: 0, micPeak: 0, heard: [], underruns: 0 },
};
window.causerie = debug;
debug.disconnect = () => { if (transport) disconnect(); };
debug.micStats = async () => (transport && transport.micStats ? transport.micStats() : null);

let transport = null;
let mic = null;
let meterCtx = null;
let meters = null;
let bubbles = { user: null, agent: null };
let visualiser = null; // a theme's visualiser.js, when it has one
const shown = { connKey: "talk.conn.idle", notice: null }; // redrawn when the language changes

// -- connection ---------------------------------------------------------------------------

function selectedTransport() {
  return document.querySelector('input[name="transport"]:checked').value;
}

function showTransportOptions() {
  ui.livekitOptions.hidden = selectedTransport() !== "livekit";
}

// labelKey: a string key for the pill, instead of the state's own.
function setConn(state, labelKey) {
  debug.conn = state;
  ui.conn.dataset.state = state;
  shown.connKey = labelKey || CONN_KEYS[state];
  ui.conn.textContent = t(shown.connKey);
  const live = state === "connected";
  ui.connect.textContent = t(live || state === "connecting" ? "talk.disconnect" : "talk.connect");
  ui.connect.disabled = state === "connecting";
  ui.mic.disabled = !live || !mic;
  ui.interrupt.disabled = !live;
  ui.text.disabled = !live;
  ui.send.disabled = !live;
  ui.transportChoice.disabled = state === "connecting" || live;
  ui.livekitOptions.disabled = state === "connecting" || live;
  if (!live) setAgentState(null);
}

// A notice is a string key and its values, so that it can be said again in another language.
function showNotice(key, vars, { reconnect = false } = {}) {
  shown.notice = { key, vars };
  ui.noticeText.textContent = t(key, vars);
  ui.reconnect.hidden = !reconnect;
  ui.notice.hidden = false;
}

function hideNotice() {
  shown.notice = null;
  ui.notice.hidden = true;
}

class MicError extends Error {
  constructor(key, vars) { super(key); this.key = key; this.vars = vars; }
}

async function openMic() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new MicError("talk.mic.insecure");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
    });
  } catch (e) {
    if (e.name === "NotAllowedError" || e.name === "SecurityError") throw new MicError("talk.mic.denied");
    if (e.name === "NotFoundError" || e.name === "OverconstrainedError") throw new MicError("talk.mic.missing");
    throw new MicError("talk.mic.failed", { error: e.name });
  }
}

async function connect() {
  hideNotice();
  setConn("connecting");
  try {
    mic = await openMic();
  } catch (e) {
    mic = null;
    showNotice(e.key || "talk.error.generic", e.vars || { message: e.message });
  }
  meterCtx = meterCtx || new AudioContext();
  await meterCtx.resume();
  const options = { mic, onEvent, onClosed, audioElement: ui.audio, audioContext: meterCtx };
  if (selectedTransport() === "livekit") Object.assign(options, livekitOptions());
  transport = new TRANSPORTS[selectedTransport()](options);
  try {
    await transport.connect();
  } catch (e) {
    cleanup();
    setConn("error", e.kind === "busy" ? "talk.conn.busy" : "talk.conn.error");
    const livekit = selectedTransport() === "livekit";
    const key = e instanceof ConnectError
      ? { busy: "talk.error.busy", unreachable: livekit ? "talk.error.livekit" : "talk.error.unreachable", rejected: "talk.error.rejected" }[e.kind]
      : "talk.error.generic";
    showNotice(key, { message: e.message }, { reconnect: true });
    return;
  }
  setConn("connected");
  startMeters();
  const where = selectedTransport() === "livekit" ? ` (${transport.roomName})` : "";
  addLine("system", t("talk.connected", { transport: TRANSPORT_NAMES[selectedTransport()] + where }));
}

// Room and display name for LiveKit: what the user typed, else random ones.
function livekitOptions() {
  const room = ui.room.value.trim() || randomId("causerie-web-");
  ui.room.value = room;
  return { room, name: ui.name.value.trim() || null, identity: randomId("web-"), pageToken: true };
}

function disconnect() {
  cleanup();
  setConn("idle");
  addLine("system", t("talk.disconnected"));
}

function onClosed(reason) {
  cleanup();
  setConn("error", "talk.conn.lost");
  showNotice("talk.error.lost", { reason }, { reconnect: true });
}

function cleanup() {
  if (transport) transport.close();
  transport = null;
  if (mic) for (const t of mic.getTracks()) t.stop();
  mic = null;
  stopMeters();
  debug.muted = false;
  ui.mic.setAttribute("aria-pressed", "false");
  ui.mic.textContent = t("talk.mute");
  bubbles = { user: null, agent: null };
}

// -- events from the server ---------------------------------------------------------------

let speechEnd = null; // when the mic last carried sound before the user stopped (browser clock)
let heardPending = false;

function onEvent(ev) {
  ev._at = performance.now();
  debug.events.push(ev);
  if (debug.events.length > 500) debug.events.shift();
  // Panels such as the shop (shop.js) listen here; they send with "causerie:send".
  window.dispatchEvent(new CustomEvent("causerie:event", { detail: ev }));
  switch (ev.type) {
    case "ready":
      ui.agentName.textContent = ev.agent_name;
      break;
    case "agent_state":
      setAgentState(ev.state);
      break;
    case "user_state":
      if (ev.state === "listening" && meters && meters.lastMicLoud) {
        speechEnd = meters.lastMicLoud;
        heardPending = true;
      }
      break;
    case "user_transcript":
      bubbles.user = upsert(bubbles.user, "user", ev.text, !ev.final);
      if (ev.final) bubbles.user = null;
      break;
    case "agent_transcript":
      bubbles.agent = upsert(bubbles.agent, "agent", ev.text, !ev.final);
      if (ev.final) {
        if (ev.interrupted) {
          bubbles.agent.classList.add("cut");
          bubbles.agent.dataset.cut = t("talk.interrupted");
        }
        bubbles.agent = null;
      }
      break;
    case "interrupted":
      heardPending = false;
      break;
    case "turn_metrics":
      showMetrics(ev);
      break;
    case "error":
      if (ev.fatal) showNotice("talk.error.server", { message: ev.message }, { reconnect: true });
      else addLine("system", t("talk.problem", { message: ev.message }));
      break;
  }
}

function setAgentState(state) {
  debug.agentState = state;
  ui.orb.dataset.state = state || "idle";
  ui.agentState.textContent = state ? (STATE_KEYS[state] ? t(STATE_KEYS[state]) : state) : t("talk.state.none");
  if (visualiser) visualiser.update({ state: state || "idle" });
}

function upsert(li, role, text, interim) {
  if (!li) li = addLine(role, text);
  li.textContent = text;
  li.classList.toggle("interim", interim);
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  return li;
}

function addLine(role, text) {
  const hint = ui.transcript.querySelector(".hint");
  if (hint) hint.remove();
  const li = document.createElement("li");
  li.className = role;
  li.dataset.role = role;
  li.textContent = text;
  ui.transcript.append(li);
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  return li;
}

function ms(seconds) {
  return seconds == null ? "–" : `${Math.round(seconds * 1000)} ms`;
}

function showMetrics(m) {
  $("lat-v2v").textContent = ms(m.voice_to_voice);
  $("lat-eot").textContent = ms(m.end_of_turn);
  $("lat-stt").textContent = ms(m.stt);
  $("lat-llm").textContent = ms(m.llm_ttft);
  $("lat-tts").textContent = ms(m.tts_ttfb);
}

// -- level meters (and the browser's own voice-to-voice measurement) -----------------------

function analyser(node) {
  const a = node.context.createAnalyser();
  a.fftSize = node.context.sampleRate > 20000 ? 512 : 256; // ~10-16 ms windows
  node.connect(a);
  return { node: a, buf: new Float32Array(a.fftSize) };
}

function rms(m) {
  m.node.getFloatTimeDomainData(m.buf);
  let sum = 0;
  for (const v of m.buf) sum += v * v;
  return Math.sqrt(sum / m.buf.length);
}

function startMeters() {
  meters = { mic: null, agent: null, lastMicLoud: null, timer: null };
  if (mic) meters.mic = analyser(meterCtx.createMediaStreamSource(mic));
  meters.timer = setInterval(tickMeters, 10);
}

function stopMeters() {
  if (meters) clearInterval(meters.timer);
  meters = null;
  ui.micLevel.value = 0;
  ui.agentLevel.value = 0;
  ui.orb.style.setProperty("--level", 0);
}

function tickMeters() {
  if (!transport) return;
  if (!meters.agent && transport.agentSource) meters.agent = analyser(transport.agentSource);
  const now = performance.now();
  const micRms = meters.mic && !debug.muted ? rms(meters.mic) : 0;
  const agentRms = meters.agent ? rms(meters.agent) : 0;
  if (micRms > 0.02) meters.lastMicLoud = now;
  debug.agentLevels.push([now, agentRms]);
  if (debug.agentLevels.length > 1500) debug.agentLevels.shift();
  if (agentRms > 0.01) {
    debug.stats.agentAudibleTicks++;
    if (heardPending && speechEnd) {
      heardPending = false;
      const heard = (now - speechEnd) / 1000;
      debug.stats.heard.push(heard);
      $("lat-heard").textContent = ms(heard);
    }
  }
  debug.stats.micPeak = Math.max(debug.stats.micPeak, micRms);
  debug.stats.agentPeak = Math.max(debug.stats.agentPeak, agentRms);
  if (transport.underruns !== undefined) debug.stats.underruns = transport.underruns;
  ui.micLevel.value = Math.min(1, micRms * 5);
  ui.agentLevel.value = Math.min(1, agentRms * 5);
  ui.orb.style.setProperty("--level", Math.min(1, agentRms * 5).toFixed(2));
  if (visualiser) visualiser.update({ agent: Math.min(1, agentRms * 5), user: Math.min(1, micRms * 5) });
}

// -- controls -----------------------------------------------------------------------------

ui.connect.addEventListener("click", () => {
  if (transport || debug.conn === "connected") disconnect();
  else connect();
});

ui.reconnect.addEventListener("click", () => { cleanup(); connect(); });

ui.mic.addEventListener("click", () => {
  debug.muted = !debug.muted;
  transport.setMuted(debug.muted);
  ui.mic.setAttribute("aria-pressed", String(debug.muted));
  ui.mic.textContent = t(debug.muted ? "talk.unmute" : "talk.mute");
});

ui.interrupt.addEventListener("click", () => transport && transport.send({ type: "interrupt" }));

ui.say.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.text.value.trim();
  if (!text || !transport) return;
  bubbles.user = null;
  addLine("user", text);
  bubbles.agent = null;
  transport.send({ type: "text", text });
  ui.text.value = "";
});

window.addEventListener("pagehide", () => cleanup());
window.addEventListener("causerie:send", (e) => { if (transport) transport.send(e.detail); });

for (const radio of document.querySelectorAll('input[name="transport"]')) {
  radio.addEventListener("change", showTransportOptions);
}

// Everything this script wrote itself, in the new language.
window.addEventListener("causerie:language", () => {
  ui.conn.textContent = t(shown.connKey);
  const live = debug.conn === "connected";
  ui.connect.textContent = t(live || debug.conn === "connecting" ? "talk.disconnect" : "talk.connect");
  ui.mic.textContent = t(debug.muted ? "talk.unmute" : "talk.mute");
  setAgentState(debug.agentState);
  if (shown.notice) ui.noticeText.textContent = t(shown.notice.key, shown.notice.vars);
  for (const li of ui.transcript.querySelectorAll("li.cut")) li.dataset.cut = t("talk.interrupted");
});

const wanted = params.get("transport");
if (wanted in TRANSPORTS) {
  document.querySelector(`input[name="transport"][value="${wanted}"]`).checked = true;
}
ui.room.value = params.get("room") || randomId("causerie-web-");
ui.name.value = params.get("name") || "";
showTransportOptions();

// Several agents on one server: pick one (/?agent=KEY); the choice reloads the page.
async function agentSelector() {
  let agents = [];
  try {
    const r = await fetch("/api/agents");
    if (r.ok) agents = await r.json();
  } catch (_) { return; }
  const select = $("agent-select");
  if (agents.length < 2) return;
  const current = params.get("agent") || (agents.find((a) => a.default) || agents[0]).key;
  for (const a of agents) {
    const option = document.createElement("option");
    option.value = a.key;
    option.textContent = a.name;
    option.selected = a.key === current;
    select.appendChild(option);
    if (a.key === current) ui.agentName.textContent = a.name;
  }
  select.hidden = false;
  select.addEventListener("change", () => {
    const next = new URLSearchParams(location.search);
    next.set("agent", select.value);
    location.search = next.toString();
  });
}

async function start() {
  const info = await pageInfo();
  await i18n.init({ agentLanguage: info && info.language, languages: info && info.languages });
  i18n.switcher($("language"));
  if (info && info.agent) ui.agentName.textContent = info.agent;
  await agentSelector();
  visualiser = await applyTheme(info, params.get("theme"), ui.visualiser);
  if (debug.conn === "idle") setConn("idle"); // unless a click came first
  debug.ready = true;
  if (params.get("autoconnect") === "1") connect();
}

start();
