"""Mute is one behaviour on every transport: the session hears silence of the same shape, so
its VAD still sees the end of speech; a room's input (installed while the session starts) is
gated the same way as a transport's own."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from causerie.config import load_config
from causerie.providers.registry import Registry
from causerie.runtime import Conversation, Runtime
from causerie.runtime.mute import MuteGate


class Mic(io.AudioInput):
    """Endless 10 ms stereo 48 kHz frames of a loud square wave, at real-time pace."""

    def __init__(self) -> None:
        super().__init__(label="test-mic")
        self.frames = 0

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(0.01)  # a microphone's pace: the session's reader must yield
        self.frames += 1
        samples = np.tile(np.array([8000, -8000], np.int16), 480)  # 480 samples x 2 channels
        return rtc.AudioFrame(samples.tobytes(), 48000, 2, 480)


async def test_muted_frames_are_silence_of_the_same_shape() -> None:
    gate = MuteGate(Mic())
    loud = await gate.__anext__()
    gate.muted = True
    quiet = await gate.__anext__()
    gate.muted = False
    again = await gate.__anext__()
    for frame in (loud, quiet, again):
        assert (frame.sample_rate, frame.num_channels, frame.samples_per_channel) == (48000, 2, 480)
    assert np.abs(np.frombuffer(loud.data, np.int16)).max() == 8000
    assert not np.frombuffer(quiet.data, np.int16).any()
    assert np.frombuffer(again.data, np.int16).any()


async def test_an_input_installed_during_start_is_gated_too() -> None:
    registry = Registry.from_entry_points()
    loaded = load_config(None, environ={}, dotenv=None, registry=registry)
    runtime = await Runtime.build(loaded, registry, stages=("llm",))
    conversation = Conversation(runtime, transport="livekit", greeting=False)
    mic = Mic()
    conversation.session.input.audio = mic  # as RoomIO does inside session.start()
    await conversation.start()
    try:
        gate = conversation.session.input.audio
        assert isinstance(gate, MuteGate) and gate.source is mic
        assert conversation.handle_client_event('{"type": "mute", "muted": true}') == {"ok": True}
        assert gate.muted and conversation.muted
        conversation.handle_client_event({"type": "mute", "muted": False})
        assert not gate.muted
    finally:
        await conversation.aclose()
        await runtime.aclose()
