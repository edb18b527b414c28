"""Audio I/O adapters that let an ``AgentSession`` run without a LiveKit room.

``QueueAudioInput``: the transport pushes microphone frames; the session pulls them. The queue
is bounded: a peer sending faster than real time loses its oldest frames (counted), never
the server's memory.

``PacedAudioOutput``: the session pushes TTS frames as fast as they are made; a playout task
hands them to the transport's sink in 20 ms frames at real-time pace, so an interruption
(``clear_buffer``) silences the agent within one frame and playback positions are true.
It also records when the first audible sample of each reply left, the end of a
voice-to-voice measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from livekit import rtc
from livekit.agents.utils.audio import AudioByteStream
from livekit.agents.voice import io

logger = logging.getLogger(__name__)

FRAME_MS = 20
AUDIBLE_THRESHOLD = 300  # |sample| above ~-40 dBFS counts as sound
GAP_S = 1.0  # frames come every 20 ms; a silence this long is the client's, not jitter


class QueueAudioInput(io.AudioInput):
    def __init__(self, *, label: str = "causerie-in", max_seconds: float = 2.0) -> None:
        super().__init__(label=label)
        self._frames: deque[rtc.AudioFrame] = deque()
        self._buffered = 0.0
        self._max_seconds = max_seconds
        self._event = asyncio.Event()
        self._closed = False
        self.dropped_frames = 0
        self.last_audible_at: float | None = None
        """Monotonic time of the last frame with sound pushed (a voice-to-voice start): a
        wall-clock step (NTP, suspend) must not make a latency negative or huge."""
        self.last_gap_at: float | None = None
        """Monotonic time at which frames resumed after a gap of more than ``GAP_S``."""
        self._last_push: float | None = None

    def push(self, frame: rtc.AudioFrame) -> None:
        if self._closed:
            return
        self._frames.append(frame)
        self._buffered += frame.duration
        while self._buffered > self._max_seconds and len(self._frames) > 1:
            old = self._frames.popleft()
            self._buffered -= old.duration
            self.dropped_frames += 1
        now = time.monotonic()
        if self._last_push is not None and now - self._last_push > GAP_S:
            self.last_gap_at = now  # the client stopped sending: not the agent's latency
        self._last_push = now
        if is_audible(frame):
            self.last_audible_at = now
        self._event.set()

    def close(self) -> None:
        self._closed = True
        self._event.set()

    @property
    def buffered_seconds(self) -> float:
        return self._buffered

    async def __anext__(self) -> rtc.AudioFrame:
        while not self._frames:
            if self._closed:
                raise StopAsyncIteration
            self._event.clear()
            await self._event.wait()
        frame = self._frames.popleft()
        self._buffered -= frame.duration
        return frame


FrameSink = Callable[[rtc.AudioFrame], Awaitable[None] | None]


@dataclass
class Segment:
    """One reply's playout, as the peer hears it."""

    index: int
    first_frame_at: float | None = None
    first_audible_at: float | None = None
    played: float = 0.0
    interrupted: bool = False


class PacedAudioOutput(io.AudioOutput):
    def __init__(
        self,
        sink: FrameSink,
        *,
        sample_rate: int = 16000,
        num_channels: int = 1,
        label: str = "causerie-out",
        on_segment_start: Callable[[Segment], None] | None = None,
        on_segment_end: Callable[[Segment], None] | None = None,
        realtime: bool = True,
        lead: float = 0.0,
    ) -> None:
        """``lead``: seconds the sink may be fed ahead of real time. A peer that buffers
        (the browser clients flush on ``interrupted``) rides out event-loop stalls with it."""
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=sample_rate,
        )
        self._sink = sink
        self._rate = sample_rate
        self._channels = num_channels
        self._spf = sample_rate * FRAME_MS // 1000
        self._bstream = AudioByteStream(sample_rate, num_channels, samples_per_channel=self._spf)
        self._queue: deque[rtc.AudioFrame | None] = deque()  # None marks a flush (end of segment)
        self._wakeup = asyncio.Event()
        self._segments = 0
        self._current: Segment | None = None
        self._on_start = on_segment_start
        self._on_end = on_segment_end
        self._realtime = realtime
        self._lead = lead
        self._next_at = time.monotonic()  # when what was sent so far will have played
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._finished = 0  # segments reported finished (livekit counts the captured ones)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._playout(), name="PacedAudioOutput.playout")

    async def aclose(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def playing(self) -> bool:
        return self._current is not None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self.start()
        for f in self._bstream.write(frame.data.tobytes()):
            self._queue.append(f)
        self._wakeup.set()

    def flush(self) -> None:
        super().flush()
        for f in self._bstream.flush():
            self._queue.append(f)
        self._queue.append(None)
        self._wakeup.set()

    def clear_buffer(self) -> None:
        self._queue.clear()
        self._bstream.flush()  # discard partial frame
        if self._current is not None:
            self._current.interrupted = True
            self._end_segment()
        # Segments captured but not started yet must finish too, or wait_for_playout hangs.
        while self.unfinished_segments > 0:
            self._finish(0.0, interrupted=True)

    @property
    def unfinished_segments(self) -> int:
        """Segments captured that have not reported ``playback_finished`` yet."""
        return self.captured_playout_segments - self._finished

    def _finish(self, position: float, *, interrupted: bool) -> None:
        self._finished += 1
        self.on_playback_finished(playback_position=position, interrupted=interrupted)

    def _begin_segment(self) -> None:
        self._segments += 1
        self._current = Segment(index=self._segments)

    def _end_segment(self) -> None:
        seg = self._current
        self._current = None
        if seg is not None and seg.interrupted:
            # What was sent ahead (the lead) was never heard.
            seg.played = max(0.0, seg.played - max(0.0, self._next_at - time.monotonic()))
        if self.unfinished_segments > 0:
            self._finish(seg.played if seg else 0.0, interrupted=seg.interrupted if seg else False)
        if seg is not None and self._on_end is not None:
            self._on_end(seg)

    async def _playout(self) -> None:
        while not self._closed:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                self._next_at = max(self._next_at, time.monotonic())
                continue
            item = self._queue.popleft()
            if item is None:
                self._end_segment()
                continue
            if self._current is None:
                self._begin_segment()
            seg = self._current
            assert seg is not None
            now = time.time()
            if seg.first_frame_at is None:
                seg.first_frame_at = now
                self.on_playback_started(created_at=now)
                if self._on_start is not None:
                    self._on_start(seg)
            if seg.first_audible_at is None and is_audible(item):
                seg.first_audible_at = now
            res = self._sink(item)
            if res is not None:
                await res
            seg.played += item.duration
            if self._realtime:
                self._next_at += item.duration
                mono = time.monotonic()
                if mono - self._next_at > 0.2:  # fell behind (CPU stall): don't burst to catch up
                    self._next_at = mono
                delay = self._next_at - self._lead - mono
                if delay > 0:
                    await asyncio.sleep(delay)


def is_audible(frame: rtc.AudioFrame, threshold: int = AUDIBLE_THRESHOLD) -> bool:
    data = np.frombuffer(frame.data, dtype=np.int16)
    return bool(len(data)) and int(np.abs(data).max()) > threshold
