// The LiveKit transport for the talk page: the agent runs in a `causerie worker`, reached
// through a LiveKit server. Same surface as the transports in transports.js:
//   await t.connect()    resolves once the agent said "ready"; throws a ConnectError
//   t.send(event)        a client event, by RPC to the agent (method "causerie.client")
//   t.setMuted(bool)     t.close()     t.agentSource (an AudioNode with the agent's voice)
//   onEvent(event), onClosed(reason)   callbacks set by the caller
// Events from the agent are the same JSON schema as the other transports, sent as data
// messages (or text streams, when large) on topic "causerie.events".
//
// The page asks our server for a token, which also dispatches the agent to a new room: the
// talk page uses POST /api/page-token (same origin only, so CAUSERIE_TOKEN_API_KEY never
// reaches the browser); other pages GET /token, with the key if the server wants one. livekit-client (vendored, 600 KB) is loaded only when this transport is used.
import { ConnectError, Transport } from "./transports.js";

export const EVENTS_TOPIC = "causerie.events";
export const CLIENT_RPC = "causerie.client";
const CLIENT_SRC = "/static/vendor/livekit-client.umd.js";
const AGENT_TIMEOUT_MS = 30000;
const PAGE_TOKEN_URL = "/api/page-token";

let loading = null;

// window.LivekitClient, loading the vendored UMD build on first use.
export function loadClient() {
  if (window.LivekitClient) return Promise.resolve(window.LivekitClient);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = CLIENT_SRC;
      script.onload = () => (window.LivekitClient
        ? resolve(window.LivekitClient)
        : reject(new ConnectError("rejected", `${CLIENT_SRC} did not define LivekitClient`)));
      script.onerror = () => {
        loading = null;
        reject(new ConnectError("unreachable", `could not load ${CLIENT_SRC} from the server`));
      };
      document.head.append(script);
    });
  }
  return loading;
}

export function randomId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// {url, token} from our server's /token endpoint (or its same-origin /api/page-token, with
// pageToken); its error messages are meant for people.
export async function fetchToken({ tokenUrl = "/token", room, identity, name = null, apiKey = null, pageToken = false }) {
  let response;
  // Several agents per server: the page's ?agent= goes to the worker with the dispatch.
  const agent = new URLSearchParams(location.search).get("agent");
  const fields = { room, identity };
  if (name) fields.name = name;
  if (agent) fields.agent = agent;
  try {
    if (pageToken) {
      response = await fetch(PAGE_TOKEN_URL, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(fields),
      });
    } else {
      const query = new URLSearchParams(fields);
      response = await fetch(`${tokenUrl}?${query}`, { headers: apiKey ? { "X-API-Key": apiKey } : {} });
    }
  } catch {
    throw new ConnectError("unreachable", "cannot reach the token endpoint of this server");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const kind = response.status === 429 ? "busy" : "rejected";
    throw new ConnectError(kind, body.message || `the token endpoint answered ${response.status}`);
  }
  return body;
}

export class LiveKitTransport extends Transport {
  constructor({ mic, audioElement, audioContext, onEvent, onClosed, room, identity, name, tokenUrl, apiKey, pageToken }) {
    super();
    this.mic = mic; // MediaStream or null (text only)
    this.audioElement = audioElement;
    this.ctx = audioContext;
    this.onEvent = onEvent;
    this.onClosed = onClosed;
    this.roomName = room || randomId("causerie-web-");
    this.identity = identity || randomId("web-");
    this.name = name || null; // the display name others in the room see
    this.pageToken = Boolean(pageToken);
    this.tokenUrl = tokenUrl || "/token";
    this.apiKey = apiKey || null;
    this.room = null;
    this.agentIdentity = null;
    this.agentSource = null;
    this.micPublication = null;
    this.closing = false;
  }

  async connect() {
    const LK = await loadClient();
    const { url, token } = await fetchToken({
      tokenUrl: this.tokenUrl, room: this.roomName, identity: this.identity, name: this.name,
      apiKey: this.apiKey, pageToken: this.pageToken,
    });
    const room = new LK.Room({ adaptiveStream: false, dynacast: false });
    this.room = room;
    let ready;
    const agentReady = new Promise((resolve) => { ready = resolve; });
    const decoder = new TextDecoder();
    room.on(LK.RoomEvent.DataReceived, (payload, participant, _kind, topic) => {
      if (topic === EVENTS_TOPIC) this.handle(decoder.decode(payload), participant, ready);
    });
    room.registerTextStreamHandler(EVENTS_TOPIC, async (reader, info) => {
      this.handle(await reader.readAll(), { identity: info.identity }, ready);
    });
    room.on(LK.RoomEvent.TrackSubscribed, (track, _pub, participant) => {
      if (track.kind !== "audio" || !participant.isAgent) return;
      // Chrome only plays (and decodes) a remote track attached to a media element.
      track.attach(this.audioElement);
      this.audioElement.play().catch(() => {});
      if (this.ctx) this.agentSource = this.ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack]));
    });
    let connecting = true;
    let lost;
    const lostWhileConnecting = new Promise((_, reject) => { lost = reject; });
    room.on(LK.RoomEvent.Disconnected, (reason) => {
      // While connecting, the failure is connect()'s to report, not onClosed's.
      if (connecting) lost(new ConnectError("unreachable", disconnectReason(LK, reason)));
      else this.dropped(disconnectReason(LK, reason));
    });
    try {
      await room.connect(url, token, { autoSubscribe: true, maxRetries: 1, websocketTimeout: 10000 });
    } catch (e) {
      this.teardown();
      throw new ConnectError("unreachable",
        `cannot connect to the LiveKit server at ${url} (${e.message || e}); is it running, and does this browser reach it?`);
    }
    try {
      if (this.mic) {
        const track = this.mic.getAudioTracks()[0];
        this.micPublication = await room.localParticipant.publishTrack(track, {
          source: LK.Track.Source.Microphone, name: "microphone",
        });
      }
      await Promise.race([lostWhileConnecting, withTimeout(agentReady, AGENT_TIMEOUT_MS,
        "no agent joined the room: is `causerie worker` running against this LiveKit server?")]);
    } catch (e) {
      this.teardown();
      throw e;
    } finally {
      connecting = false;
    }
  }

  handle(text, participant, ready) {
    let ev;
    try { ev = JSON.parse(text); } catch { return; }
    if (!ev || typeof ev.type !== "string") return;
    if (ev.type === "ready") {
      this.agentIdentity = participant ? participant.identity : this.agentIdentity;
      ready();
    }
    this.onEvent(ev);
  }

  send(event) {
    if (!this.room || !this.agentIdentity) return;
    this.room.localParticipant.performRpc({
      destinationIdentity: this.agentIdentity, method: CLIENT_RPC, payload: JSON.stringify(event),
    }).then((reply) => {
      const answer = JSON.parse(reply);
      if (!answer.ok) this.onEvent({ type: "error", code: answer.error, message: answer.message, fatal: false });
    }).catch((e) => {
      this.onEvent({ type: "error", code: "rpc_failed", message: `the agent did not get it: ${e.message}`, fatal: false });
    });
  }

  setMuted(muted) {
    // A muted track stops sending; the agent also stops listening until unmuted.
    const track = this.micPublication && this.micPublication.track;
    if (track) (muted ? track.mute() : track.unmute()).catch(() => {});
    this.send({ type: "mute", muted });
  }

  teardown() {
    this.closing = true;
    if (this.room) this.room.disconnect();
    if (this.audioElement) this.audioElement.srcObject = null;
  }
}

function disconnectReason(LK, reason) {
  const name = LK.DisconnectReason && LK.DisconnectReason[reason];
  return name ? `the LiveKit server closed the room (${name})` : "the LiveKit connection was lost";
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ConnectError("unreachable", message)), ms);
    }),
  ]);
}

// For pages that do not use modules, and for tests.
window.CauserieLiveKit = { LiveKitTransport, loadClient, fetchToken, randomId, EVENTS_TOPIC, CLIENT_RPC };
