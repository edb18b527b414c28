"""Mute, the same on every transport: the session hears silence instead of the microphone,
so its VAD still sees the end of the speech that was going on (stopping the audio would
leave the user "speaking" until unmuted)."""

from __future__ import annotations

from livekit import rtc
from livekit.agents.voice import io


class MuteGate(io.AudioInput):
    """Wraps a transport's audio input; while :attr:`muted`, each frame is replaced by
    silence of the same shape (same pace, rate and size)."""

    def __init__(self, source: io.AudioInput) -> None:
        super().__init__(label="causerie-mute", source=source)
        self.muted = False
        self._silence: rtc.AudioFrame | None = None

    async def __anext__(self) -> rtc.AudioFrame:
        assert self.source is not None
        frame = await self.source.__anext__()
        if not self.muted:
            return frame
        s = self._silence
        if (
            s is None
            or s.sample_rate != frame.sample_rate
            or s.num_channels != frame.num_channels
            or s.samples_per_channel != frame.samples_per_channel
        ):
            n = frame.samples_per_channel * frame.num_channels
            s = rtc.AudioFrame(
                bytes(2 * n), frame.sample_rate, frame.num_channels, frame.samples_per_channel
            )
            self._silence = s
        return s
