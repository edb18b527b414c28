// The two ways to reach the agent. Both expose the same surface to app.js:
//   await t.connect()    resolves once the session is live, throws a ConnectError
//   t.send(event)        a client event (docs/WEBSOCKET.md, causerie/events/schema.py)
//   t.setMuted(bool)
//   t.close()
//   t.agentSource        an AudioNode carrying the agent's voice (for the level meter)
//   onEvent(event), onClosed(reason)   callbacks set by the caller

export class ConnectError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // "busy" | "unreachable" | "rejected"
  }
}

// What a transport does when its connection ends, whichever side ended it: tear down once
// (teardown() sets this.closing), then tell the page.
export class Transport {
  dropped(reason) {
    if (this.closing) return;
    this.teardown();
    this.onClosed(reason);
  }

  close() { this.teardown(); }
}

const BUSY_CLOSE = 1013;

function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

// ---------------------------------------------------------------------------------------
// WebSocket: 16 kHz s16le mono PCM, 20 ms binary frames both ways; JSON text events.

export class WebSocketTransport {
  constructor({ mic, onEvent, onClosed }) {
    this.mic = mic; // MediaStream or null (text only)
    this.onEvent = onEvent;
    this.onClosed = onClosed;
    this.ws = null;
    this.ctx = null;
    this.capture = null;
    this.player = null;
    this.agentSource = null;
    this.underruns = 0;
    this.closing = false;
  }

  async connect() {
    // A 16 kHz context: the browser resamples the mic and the output, we move wire PCM as is.
    this.ctx = new AudioContext({ sampleRate: 16000, latencyHint: "interactive" });
    await this.ctx.audioWorklet.addModule("/static/worklets.js");
    this.player = new AudioWorkletNode(this.ctx, "pcm-player", { outputChannelCount: [1] });
    this.player.port.onmessage = (e) => { this.underruns = e.data.underruns; };
    this.player.connect(this.ctx.destination);
    this.agentSource = this.player;
    await this.ctx.resume();

    const ws = new WebSocket(wsUrl("/api/ws" + agentQuery()));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    await new Promise((resolve, reject) => {
      let opened = false;
      ws.onopen = () => { opened = true; };
      ws.onmessage = (e) => {
        if (typeof e.data === "string") {
          const ev = JSON.parse(e.data);
          if (ev.type === "ready") resolve();
          this.handleEvent(ev);
        } else {
          this.player.port.postMessage(e.data, [e.data]);
        }
      };
      ws.onclose = (e) => {
        if (this.closing) return;
        if (e.code === BUSY_CLOSE) reject(new ConnectError("busy", e.reason || "server busy"));
        else if (!opened) reject(new ConnectError("unreachable", "cannot reach the server"));
        else this.dropped(e.reason || `connection closed (${e.code})`);
      };
    });
    if (this.mic) this.startMic();
  }

  startMic() {
    const src = this.ctx.createMediaStreamSource(this.mic);
    this.capture = new AudioWorkletNode(this.ctx, "pcm-capture", { numberOfOutputs: 1 });
    this.capture.port.onmessage = (e) => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(e.data);
    };
    src.connect(this.capture);
    // A node nobody pulls is not processed: route it to the speakers, muted.
    const sink = new GainNode(this.ctx, { gain: 0 });
    this.capture.connect(sink).connect(this.ctx.destination);
  }

  handleEvent(ev) {
    // Barge-in: audio already buffered here must not keep talking over the user.
    if (ev.type === "interrupted") this.player.port.postMessage("clear");
    this.onEvent(ev);
  }

  send(event) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(event));
  }

  setMuted(muted) {
    if (this.capture) this.capture.port.postMessage({ type: "mute", muted });
    this.send({ type: "mute", muted });
  }

  dropped(reason) {
    this.teardown();
    this.onClosed(reason);
  }

  teardown() {
    this.closing = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "bye");
    if (this.ctx) this.ctx.close();
  }

  close() { this.teardown(); }
}

// ---------------------------------------------------------------------------------------
// WebRTC: the mic as an Opus track, the agent's voice as a remote track, events on a data
// channel. The server (aiortc) does not trickle ICE: we send a complete offer.

export class WebRTCTransport extends Transport {
  constructor({ mic, audioElement, audioContext, onEvent, onClosed }) {
    super();
    this.mic = mic;
    this.audioElement = audioElement;
    this.ctx = audioContext;
    this.onEvent = onEvent;
    this.onClosed = onClosed;
    this.pc = null;
    this.dc = null;
    this.agentSource = null;
    this.closing = false;
  }

  async connect() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    const dc = pc.createDataChannel("events", { ordered: true });
    this.dc = dc;
    const ready = new Promise((resolve) => {
      dc.onmessage = (e) => {
        const ev = JSON.parse(e.data);
        if (ev.type === "ready") resolve();
        this.onEvent(ev);
      };
    });
    dc.onclose = () => this.dropped("the server ended the conversation");

    if (this.mic) {
      for (const track of this.mic.getAudioTracks()) pc.addTrack(track, this.mic);
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" }); // text only: still hear the agent
    }
    pc.ontrack = (e) => {
      // Ask for the smallest jitter buffer the network allows: every ms of it is heard as
      // latency, and the server paces its audio in real time.
      if ("jitterBufferTarget" in e.receiver) e.receiver.jitterBufferTarget = 0;
      const stream = e.streams[0] || new MediaStream([e.track]);
      // Chrome only decodes a remote track that is attached to a media element.
      this.audioElement.srcObject = stream;
      this.audioElement.play().catch(() => {});
      this.agentSource = this.ctx.createMediaStreamSource(stream);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") this.dropped("the connection failed");
    };

    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringDone(pc, 3000);
    let response;
    try {
      response = await fetch("/api/offer" + agentQuery(), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      });
    } catch {
      throw new ConnectError("unreachable", "cannot reach the server");
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new ConnectError(response.status === 503 ? "busy" : "rejected",
        body.message || `the server answered ${response.status}`);
    }
    await pc.setRemoteDescription(await response.json());
    await withTimeout(ready, 15000, "the connection did not come up (network or firewall?)");
  }

  send(event) {
    if (this.dc && this.dc.readyState === "open") this.dc.send(JSON.stringify(event));
  }

  // What the microphone's Opus encoder sends (the server's answer asks for its bitrate).
  async micStats() {
    if (!this.pc) return null;
    for (const s of (await this.pc.getStats()).values()) {
      if (s.type === "outbound-rtp" && s.kind === "audio") {
        return { targetBitrate: s.targetBitrate, bytesSent: s.bytesSent, packetsSent: s.packetsSent };
      }
    }
    return null;
  }

  setMuted(muted) {
    // A disabled track sends silence: the server's VAD still sees the end of speech.
    if (this.mic) for (const t of this.mic.getAudioTracks()) t.enabled = !muted;
    this.send({ type: "mute", muted });
  }

  teardown() {
    this.closing = true;
    if (this.dc) this.dc.onclose = null;
    if (this.pc) this.pc.close();
    this.audioElement.srcObject = null;
  }
}

function iceGatheringDone(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs); // host candidates come first; go with what we have
  });
}

function withTimeout(promise, ms, message) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new ConnectError("unreachable", message)), ms)),
  ]);
}

// The agent to talk to: the page's ?agent= (several agents per server, docs/STUDIO.md).
function agentQuery() {
  const agent = new URLSearchParams(location.search).get("agent");
  return agent ? "?agent=" + encodeURIComponent(agent) : "";
}
