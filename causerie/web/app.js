// The talk page: connect, stream the mic, show both sides of the conversation.
// URL options (handy for tests and demos): ?transport=websocket|webrtc  ?aec=0 (no echo
// cancellation, noise suppression or gain control)  ?autoconnect=1
import { ConnectError, WebRTCTransport, WebSocketTransport } from "./transports.js";
import { LiveKitTransport } from "./livekit.js";

const TRANSPORTS = { webrtc: WebRTCTransport, websocket: WebSocketTransport, livekit: LiveKitTransport };
const TRANSPORT_NAMES = { webrtc: "WebRTC", websocket: "WebSocket", livekit: "LiveKit" };

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const processing = params.get("aec") !== "0";

const ui = {
  conn: $("conn"), orb: $("orb"), agentState: $("agent-state"), connect: $("connect"),
  mic: $("mic"), interrupt: $("interrupt"), transcript: $("transcript"), say: $("say"),
  text: $("text"), send: $("send"), notice: $("notice"), noticeText: $("notice-text"),
  reconnect: $("reconnect"), micLevel: $("mic-level"), agentLevel: $("agent-level"),
  transportChoice: $("transport-choice"), audio: $("agent-audio"), agentName: $("agent-name"),
};

const STATE_LABELS = {
  initializing: "Starting…", idle: "Ready", listening: "Listening", thinking: "Thinking…",
  speaking: "Speaking",
};

// Everything a test (or a curious person in the console) may want to read.
const debug = {
  conn: "idle", agentState: null, muted: false, events: [],
  agentLevels: [], // [performance.now(), rms] of the agent's voice, last ~15 s
  stats: { agentAudibleTicks: 0, agentPeak: 0, micPeak: 0, heard: [], underruns: 0 },
};
window.causerie = debug;
debug.disconnect = () => { if (transport) disconnect(); };

let transport = null;
let mic = null;
let meterCtx = null;
let meters = null;
let bubbles = { user: null, agent: null };

// -- connection ---------------------------------------------------------------------------

function selectedTransport() {
  return document.querySelector('input[name="transport"]:checked').value;
}

function setConn(state, label) {
  debug.conn = state;
  ui.conn.dataset.state = state;
  ui.conn.textContent = label || { idle: "Disconnected", connecting: "Connecting…", connected: "Connected", error: "Not connected" }[state];
  const live = state === "connected";
  ui.connect.textContent = live || state === "connecting" ? "Disconnect" : "Connect";
  ui.connect.disabled = state === "connecting";
  ui.mic.disabled = !live || !mic;
  ui.interrupt.disabled = !live;
  ui.text.disabled = !live;
  ui.send.disabled = !live;
  ui.transportChoice.disabled = state === "connecting" || live;
  if (!live) setAgentState(null);
}

function showNotice(message, { reconnect = false } = {}) {
  ui.noticeText.textContent = message;
  ui.reconnect.hidden = !reconnect;
  ui.notice.hidden = false;
}

function hideNotice() { ui.notice.hidden = true; }

async function openMic() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("The microphone needs a secure page (https, or http://localhost). You can still type.");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
    });
  } catch (e) {
    if (e.name === "NotAllowedError" || e.name === "SecurityError") {
      throw new Error("Microphone access was denied. You can still type; to talk, allow the microphone for this site and reconnect.");
    }
    if (e.name === "NotFoundError" || e.name === "OverconstrainedError") {
      throw new Error("No microphone was found. You can still type; plug one in and reconnect to talk.");
    }
    throw new Error(`The microphone could not be opened (${e.name}). You can still type.`);
  }
}

async function connect() {
  hideNotice();
  setConn("connecting");
  try {
    mic = await openMic();
  } catch (e) {
    mic = null;
    showNotice(e.message);
  }
  meterCtx = meterCtx || new AudioContext();
  await meterCtx.resume();
  const options = { mic, onEvent, onClosed, audioElement: ui.audio, audioContext: meterCtx };
  transport = new TRANSPORTS[selectedTransport()](options);
  try {
    await transport.connect();
  } catch (e) {
    cleanup();
    setConn("error", e.kind === "busy" ? "Busy" : "Not connected");
    const message = e instanceof ConnectError
      ? { busy: `The server is busy: ${e.message}`, unreachable: selectedTransport() === "livekit" ? `Cannot reach LiveKit: ${e.message}` : `Cannot connect: ${e.message}. Is \`causerie serve\` running?`, rejected: `The server refused the connection: ${e.message}` }[e.kind]
      : `Cannot connect: ${e.message}`;
    showNotice(message, { reconnect: true });
    return;
  }
  setConn("connected");
  startMeters();
  addLine("system", `Connected over ${TRANSPORT_NAMES[selectedTransport()]}.`);
}

function disconnect() {
  cleanup();
  setConn("idle");
  addLine("system", "Disconnected.");
}

function onClosed(reason) {
  cleanup();
  setConn("error", "Connection lost");
  showNotice(`Connection lost: ${reason}.`, { reconnect: true });
}

function cleanup() {
  if (transport) transport.close();
  transport = null;
  if (mic) for (const t of mic.getTracks()) t.stop();
  mic = null;
  stopMeters();
  debug.muted = false;
  ui.mic.setAttribute("aria-pressed", "false");
  ui.mic.textContent = "Mute mic";
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
        if (ev.interrupted) bubbles.agent.classList.add("cut");
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
      if (ev.fatal) showNotice(`The server reported: ${ev.message}`, { reconnect: true });
      else addLine("system", `Problem: ${ev.message}`);
      break;
  }
}

function setAgentState(state) {
  debug.agentState = state;
  ui.orb.dataset.state = state || "idle";
  ui.agentState.textContent = state ? STATE_LABELS[state] || state : "Not connected";
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
  ui.mic.textContent = debug.muted ? "Unmute mic" : "Mute mic";
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

const wanted = params.get("transport");
if (wanted in TRANSPORTS) {
  document.querySelector(`input[name="transport"][value="${wanted}"]`).checked = true;
}
setConn("idle");
if (params.get("autoconnect") === "1") connect();
