"""The silero VAD as the registry builds it: livekit's native model, scored inline."""

from __future__ import annotations

import asyncio
import threading

import pytest
from livekit import rtc
from livekit.agents import vad as lk_vad

from causerie.config.spec import ProviderSpec
from causerie.providers.info import BuildContext
from causerie.providers.local.silero_vad import InlineExecutor
from causerie.providers.registry import Registry
from tests.speech import conversation


async def test_speech_is_heard_without_a_thread_per_stream() -> None:
    spec = ProviderSpec(provider="silero")
    vad = Registry.from_entry_points().build("vad", spec, BuildContext(env={}))
    assert isinstance(vad, lk_vad.VAD)
    pcm = conversation(["what can you do"], gap=1.0)
    before = {t.name for t in threading.enumerate()}
    streams = [vad.stream() for _ in range(3)]
    events: list[lk_vad.VADEventType] = []

    async def read(stream: lk_vad.VADStream) -> None:
        async for ev in stream:
            if ev.type != lk_vad.VADEventType.INFERENCE_DONE:
                events.append(ev.type)

    readers = [asyncio.create_task(read(s)) for s in streams]
    for k in range(0, len(pcm) - 320, 320):
        for s in streams:
            s.push_frame(rtc.AudioFrame(pcm[k : k + 320].tobytes(), 16000, 1, 320))
        await asyncio.sleep(0)
    for s in streams:
        s.end_input()
    await asyncio.gather(*readers)
    new = {t.name for t in threading.enumerate()} - before
    assert not [name for name in new if name.startswith("inference.vad")]
    start, end = lk_vad.VADEventType.START_OF_SPEECH, lk_vad.VADEventType.END_OF_SPEECH
    assert events.count(start) == 3 and events.count(end) == 3
    for s in streams:
        await s.aclose()


def test_inline_executor_runs_at_once_and_keeps_the_error() -> None:
    ex = InlineExecutor()
    seen: list[int] = []
    assert ex.submit(seen.append, 1).result() is None and seen == [1]
    failed = ex.submit(int, "not a number")
    assert failed.done()
    with pytest.raises(ValueError, match="not a number"):
        failed.result()
