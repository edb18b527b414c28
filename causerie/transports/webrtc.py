"""WebRTC transport (aiortc): the browser's microphone track in, the agent's voice out as an
audio track, JSON events both ways on a data channel.

* In: Opus from the browser, decoded by aiortc to 48 kHz frames, mixed to mono and
  resampled to 16 kHz for the session.
* Out: :class:`AgentAudioTrack`, a pull-based track: aiortc's sender calls ``recv()`` in a
  loop and we pace it at 20 ms, handing out 48 kHz stereo 960-sample frames that
  :class:`~causerie.transports.audio_io.PacedAudioOutput` queued, or silence.
* Events: the browser opens a data channel before its offer; events emitted before it is
  open wait for it.

A connection's lifetime is one background task owned by the SessionManager; it ends (and
frees the session) when the peer hangs up, the data channel closes, ICE fails or stays
disconnected, or the peer never connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import re
import time
from collections import deque
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add, uint16_gt
from av import AudioFrame
from livekit import rtc

from ..compat.aiortc import replace_jitter_buffer
from ..events.schema import encode
from .admission import AgentUnavailable
from .audio_io import FRAME_MS
from .bridge import IN_RATE, LiveSession

logger = logging.getLogger(__name__)

OUT_RATE = 48000
OUT_SAMPLES = OUT_RATE * FRAME_MS // 1000  # 960
_TIME_BASE = fractions.Fraction(1, OUT_RATE)
_MAX_TRACK_FRAMES = 25  # 0.5 s: PacedAudioOutput already paces, so this only absorbs jitter


class AgentAudioTrack(MediaStreamTrack):
    """The agent's voice. ``recv`` is the clock: one 20 ms frame per call, silence when idle."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[rtc.AudioFrame] = deque(maxlen=_MAX_TRACK_FRAMES)
        self._start: float | None = None
        self._pts = 0
        self._silence = np.zeros(OUT_SAMPLES * 2, dtype=np.int16)
        self.on_sent: Any = None
        """Called with each non-silent frame as it leaves (voice-to-voice end)."""
        self.underruns = 0

    def push(self, frame: rtc.AudioFrame) -> None:
        self._frames.append(frame)

    def clear(self) -> None:
        self._frames.clear()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            due = self._start + self._pts / OUT_RATE
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.2:  # stalled (CPU): restart the clock rather than burst
                self._start = now - self._pts / OUT_RATE
        src = self._frames.popleft() if self._frames else None
        if src is not None:
            mono = np.frombuffer(src.data, dtype=np.int16)
            samples = np.repeat(mono, 2) if len(mono) == OUT_SAMPLES else self._silence
            if self.on_sent is not None:
                self.on_sent(src)
        else:
            samples = self._silence
        frame = AudioFrame(format="s16", layout="stereo", samples=OUT_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = OUT_RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        self._pts += OUT_SAMPLES
        return frame


class _MicPump:
    """Browser microphone frames -> 16 kHz mono frames for the session."""

    def __init__(self) -> None:
        self._resampler: rtc.AudioResampler | None = None
        self._rate = 0

    def convert(self, frame: AudioFrame) -> list[rtc.AudioFrame]:
        pcm = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            mono = pcm.astype(np.int32).mean(axis=0)
        else:
            mono = pcm.reshape(-1, channels).astype(np.int32).mean(axis=1)
        if frame.format.name not in ("s16", "s16p"):
            mono = mono * 32767.0  # float formats
        data = np.clip(mono, -32768, 32767).astype(np.int16)
        rate = frame.sample_rate
        if rate == IN_RATE:
            return [rtc.AudioFrame(data.tobytes(), IN_RATE, 1, len(data))]
        if self._resampler is None or rate != self._rate:
            self._resampler = rtc.AudioResampler(
                rate, IN_RATE, num_channels=1, quality=rtc.AudioResamplerQuality.MEDIUM
            )
            self._rate = rate
        return list(self._resampler.push(rtc.AudioFrame(data.tobytes(), rate, 1, len(data))))


class WebRTCPeer:
    """One browser's RTCPeerConnection and everything that hangs off it."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        *,
        connect_timeout: float,
        disconnect_grace: float,
        media_timeout: float = 10.0,
    ) -> None:
        self.pc = pc
        self.track = AgentAudioTrack()
        self.connect_timeout = connect_timeout
        self.disconnect_grace = disconnect_grace
        self.media_timeout = media_timeout
        self.channel: RTCDataChannel | None = None
        self.mic: MediaStreamTrack | None = None
        self._pending: list[str] = []
        self._state_changed = asyncio.Event()
        self._channel_closed = asyncio.Event()
        self._mic_ready = asyncio.Event()
        self.live: LiveSession | None = None
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._state_changed.set)

    # -- events ----------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        channel.on("open", self._flush_pending)
        channel.on("close", self._channel_closed.set)
        channel.on("message", self._on_message)
        if channel.readyState == "open":
            self._flush_pending()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self.mic is None:
            self.mic = track
            self._mic_ready.set()

    def _on_message(self, message: str | bytes) -> None:
        if self.live is not None:
            self.live.handle_message(message)

    def send_event(self, event: dict[str, Any]) -> None:
        text = encode(event)
        ch = self.channel
        if ch is not None and ch.readyState == "open":
            ch.send(text)
        elif len(self._pending) < 200:  # until the channel opens; bounded
            self._pending.append(text)

    def _flush_pending(self) -> None:
        ch = self.channel
        if ch is None:
            return
        pending, self._pending = self._pending, []
        for text in pending:
            ch.send(text)

    # -- lifetime --------------------------------------------------------------------------

    async def _wait_connected(self) -> bool:
        deadline = time.monotonic() + self.connect_timeout
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed"):
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._state_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_changed.wait(), timeout=remaining)
        return True

    async def _watch_connection(self) -> None:
        """Returns when the peer is gone: closed, failed, or disconnected for too long."""
        while True:
            state = self.pc.connectionState
            if state in ("failed", "closed"):
                return
            self._state_changed.clear()
            timeout = self.disconnect_grace if state == "disconnected" else None
            try:
                await asyncio.wait_for(self._state_changed.wait(), timeout=timeout)
            except TimeoutError:
                return

    async def _pump_mic(self, live: LiveSession) -> None:
        pump = _MicPump()
        await self._mic_ready.wait()  # the track event fires during setRemoteDescription
        assert self.mic is not None
        while True:
            try:
                async with asyncio.timeout(self.media_timeout):
                    frame = await self.mic.recv()
            except TimeoutError:
                logger.info(
                    "session %s: no audio from the peer for %.0f s: gone",
                    live.session_id,
                    self.media_timeout,
                )
                return
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            for f in pump.convert(frame):
                live.push_audio(f)

    async def run(self, slot: Any) -> None:
        """The whole connection; always closes the peer connection and frees the slot."""

        try:
            if not await self._wait_connected():
                logger.info("WebRTC peer never connected (%s)", self.pc.connectionState)
                return
            try:
                await self._converse(slot)
            except AgentUnavailable:
                pass  # the peer got the error event on the data channel
        finally:
            slot.release()
            await self.pc.close()
            self.track.stop()

    async def _converse(self, slot: Any) -> None:
        """The conversation, from the slot's session to its end."""
        async with slot.session(
            out_rate=OUT_RATE,
            send_audio=self.track.push,
            drop_audio=self.track.clear,
            on_event=self.send_event,
        ) as live:
            self.live = live
            self.track.on_sent = live.audio_sent
            sid = live.session_id
            tasks = {
                asyncio.create_task(self._pump_mic(live), name=f"webrtc.mic[{sid}]"),
                asyncio.create_task(self._watch_connection(), name=f"webrtc.watch[{sid}]"),
                asyncio.create_task(self._channel_closed.wait(), name=f"webrtc.channel[{sid}]"),
                asyncio.create_task(live.closed.wait(), name=f"webrtc.session-ended[{sid}]"),
                asyncio.create_task(_server_stopping(slot), name=f"webrtc.stop[{sid}]"),
            }
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.live = None


async def _server_stopping(slot: Any) -> None:
    """Returns once the server is shutting down (SIGTERM), after a moment for the data
    channel to carry the ``server_shutdown`` event out."""
    closing: asyncio.Event = getattr(slot.manager, "closing", None) or asyncio.Event()
    await closing.wait()
    await asyncio.sleep(0.3)


class _InOrderAudio(JitterBuffer):
    """In place of aiortc's audio jitter buffer, which holds 4 packets (80 ms) before it
    decodes the first: latency the user hears on every turn. It smooths playout, but our
    consumer is a recognizer, which needs the frames in order, not on time. Opus sends one
    whole frame per packet: pass each one on at once. A packet older than one already
    passed (reordered, duplicated) is dropped: 20 ms the recognizer can spare."""

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._next: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._next is not None and uint16_gt(self._next, seq):
            return False, None
        self._next = uint16_add(seq, 1)
        # An audio payload is the codec frame as is (aiortc depayloads only VP8 and H264).
        return False, JitterFrame(data=packet.payload, timestamp=packet.timestamp)


def ask_opus_bitrate(sdp: str, bitrate: int) -> str:
    """``sdp`` with every Opus payload's fmtp asking for ``bitrate`` (``maxaveragebitrate``,
    RFC 7587). In an answer it sets what the browser encodes its microphone at: ~32 kbit/s
    otherwise, where a decode of the same speech varies by several points of WER from one
    encode to the next (docs/PERFORMANCE.md)."""
    lines = sdp.split("\r\n")
    opus = {
        m.group(1)
        for line in lines
        if (m := re.match(r"a=rtpmap:(\d+) opus/", line, flags=re.IGNORECASE))
    }
    out: list[str] = []
    have_fmtp: set[str] = set()
    for line in lines:
        m = re.match(r"a=fmtp:(\d+) ?(.*)", line)
        if m and m.group(1) in opus:
            params = [p for p in m.group(2).split(";") if p.strip()]
            params = [p for p in params if not p.strip().startswith("maxaveragebitrate=")]
            line = f"a=fmtp:{m.group(1)} " + ";".join([*params, f"maxaveragebitrate={bitrate}"])
            have_fmtp.add(m.group(1))
        out.append(line)
    for pt in sorted(opus - have_fmtp):  # no fmtp line yet: one right after the rtpmap
        at = next(i for i, line in enumerate(out) if line.startswith(f"a=rtpmap:{pt} "))
        out.insert(at + 1, f"a=fmtp:{pt} maxaveragebitrate={bitrate}")
    return "\r\n".join(out)


async def answer_offer(
    offer: RTCSessionDescription,
    *,
    connect_timeout: float,
    disconnect_grace: float,
    media_timeout: float,
    opus_bitrate: int | None = None,
) -> tuple[RTCSessionDescription, WebRTCPeer]:
    """Apply the browser's offer and make the answer (ICE candidates gathered, inline),
    asking for ``opus_bitrate`` from the microphone when given. Raises ``ValueError`` for an
    offer aiortc cannot use. Then run ``peer.run(slot)``."""
    pc = RTCPeerConnection()
    peer = WebRTCPeer(
        pc,
        connect_timeout=connect_timeout,
        disconnect_grace=disconnect_grace,
        media_timeout=media_timeout,
    )
    try:
        await pc.setRemoteDescription(offer)
        if not any(t.kind == "audio" for t in pc.getTransceivers()):
            raise ValueError("the offer has no audio section")
        pc.addTrack(peer.track)  # after the offer: reuses its audio transceiver (sendrecv)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                replace_jitter_buffer(transceiver.receiver, _InOrderAudio())
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as e:
        await pc.close()
        raise ValueError(f"unusable offer: {str(e) or type(e).__name__}") from e
    answer = pc.localDescription
    if opus_bitrate:
        answer = RTCSessionDescription(ask_opus_bitrate(answer.sdp, opus_bitrate), answer.type)
    return answer, peer
