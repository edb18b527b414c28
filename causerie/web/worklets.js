// AudioWorklet processors for the WebSocket transport. They run in a 16 kHz AudioContext,
// so samples are the wire's 16 kHz mono and no resampling happens here.

const FRAME = 320; // 20 ms at 16 kHz: one WebSocket binary message

// Microphone -> 20 ms Int16 frames posted to the main thread (which sends them).
class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buf = new Int16Array(FRAME);
    this.n = 0;
    this.muted = false;
    this.port.onmessage = (e) => { if (e.data.type === "mute") this.muted = e.data.muted; };
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      // Muted: keep streaming silence, so the server's VAD still sees the end of speech.
      const s = this.muted ? 0 : Math.max(-1, Math.min(1, ch[i]));
      this.buf[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.n === FRAME) {
        this.port.postMessage(this.buf.buffer, [this.buf.buffer]);
        this.buf = new Int16Array(FRAME);
        this.n = 0;
      }
    }
    return true;
  }
}

// Agent's voice: a ring buffer fed with Int16 frames; "clear" drops everything (barge-in).
class PcmPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(16000 * 20); // 20 s: the server paces in real time
    this.read = 0;
    this.write = 0;
    // Jitter headroom before playback starts: 40 ms, grown by 20 ms after each underrun
    // (up to 120 ms) when the server's delivery turns out to be burstier than that.
    this.prebuffer = 2 * FRAME;
    this.playing = false;
    this.underruns = 0;
    this.dryAt = null; // frame at which the buffer last ran dry mid-stream
    this.port.onmessage = (e) => {
      if (e.data === "clear") {
        this.read = this.write;
        this.playing = false;
        this.dryAt = null; // silence after a barge-in is wanted, not a gap
      } else {
        this.push(new Int16Array(e.data));
      }
    };
  }

  get buffered() { return this.write - this.read; }

  push(pcm) {
    const size = this.ring.length;
    for (let i = 0; i < pcm.length; i++) this.ring[(this.write + i) % size] = pcm[i] / 0x8000;
    this.write += pcm.length;
    if (this.buffered > size) this.read = this.write - size; // overflow: keep the newest
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.buffered >= this.prebuffer) {
      this.playing = true;
      // Audio again within 200 ms of running dry: a gap inside a reply, not between replies.
      if (this.dryAt !== null && currentFrame - this.dryAt < 0.2 * sampleRate) {
        this.underruns++;
        this.prebuffer = Math.min(6 * FRAME, this.prebuffer + FRAME);
        this.port.postMessage({ underruns: this.underruns });
      }
      this.dryAt = null;
    }
    if (!this.playing) { out.fill(0); return true; }
    const size = this.ring.length;
    const n = Math.min(out.length, this.buffered);
    for (let i = 0; i < n; i++) out[i] = this.ring[(this.read + i) % size];
    out.fill(0, n);
    this.read += n;
    if (this.buffered === 0) {
      this.playing = false;
      this.dryAt = currentFrame;
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
registerProcessor("pcm-player", PcmPlayer);
