"""Bad input to the pocketsphinx stream: clipping, DC offset, a silent stereo channel, long
noise. Each flush gets its FINAL (a transcript or an empty one), the stream never sticks,
and the next utterance is recognised normally. Real decoders in worker processes."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit.agents import stt

from causerie.providers.local import pocketsphinx_stt
from causerie.providers.local.pocketsphinx_stt import PocketSphinxSTT
from tests.speech import speak
from tests.unit.test_pocketsphinx_stt import FLUSH, found, frames, silence

ET = stt.SpeechEventType
COFFEE = ("i would like a cup of coffee", {"would", "like", "cup", "coffee"})
NOT_STUCK_S = 300.0  # generous: the machine is shared; a stuck stream never answers at all


@pytest.fixture(scope="module")
def engine() -> PocketSphinxSTT:
    s = PocketSphinxSTT()
    s.pool.prewarm(wait=True)
    return s


def normal() -> np.ndarray:
    return np.concatenate([silence(0.4), speak(COFFEE[0]), silence(0.4)])


async def run(
    engine: PocketSphinxSTT, script: list[tuple[np.ndarray, int] | None]
) -> list[stt.SpeechEvent]:
    """Push (pcm as (samples, channels) int16, channels) items and flushes; all events."""

    async def go() -> list[stt.SpeechEvent]:
        async with engine.stream() as stream:
            for item in script:
                if item is FLUSH:
                    stream.flush()
                    continue
                pcm, channels = item
                for f in frames(pcm, 16000, channels=1) if channels == 1 else stereo(pcm):
                    stream.push_frame(f)
            stream.end_input()
            return [ev async for ev in stream]

    return await asyncio.wait_for(go(), NOT_STUCK_S)


def stereo(pcm: np.ndarray):  # type: ignore[no-untyped-def]
    from livekit import rtc

    for i in range(0, len(pcm), 320):
        chunk = np.ascontiguousarray(pcm[i : i + 320])
        yield rtc.AudioFrame(chunk.tobytes(), 16000, 2, len(chunk))


def finals(events: list[stt.SpeechEvent]) -> list[str]:
    return [ev.alternatives[0].text for ev in events if ev.type == ET.FINAL_TRANSCRIPT]


def assert_next_is_normal(texts: list[str], at: int = 1) -> None:
    """One FINAL per flush (end_input adds one); the one at ``at`` is the normal utterance."""
    assert len(texts) > at, texts
    assert found(texts[at], COFFEE[1]) >= 2, texts


async def test_clipped_speech(engine: PocketSphinxSTT) -> None:
    loud = np.clip(speak(COFFEE[0]).astype(np.int32) * 20, -32768, 32767).astype(np.int16)
    events = await run(engine, [(loud, 1), FLUSH, (normal(), 1), FLUSH])
    assert_next_is_normal(finals(events))


async def test_dc_offset(engine: PocketSphinxSTT) -> None:
    pcm = normal().astype(np.int32) + 8000
    shifted = np.clip(pcm, -32768, 32767).astype(np.int16)
    texts = finals(await run(engine, [(shifted, 1), FLUSH, (normal(), 1), FLUSH]))
    assert_next_is_normal(texts)
    assert found(texts[0], COFFEE[1]) >= 2, texts  # an offset is no reason to hear less


async def test_silent_channel_in_stereo(engine: PocketSphinxSTT) -> None:
    speech = normal()
    both = np.stack([speech, np.zeros_like(speech)], axis=1)  # right channel dead
    texts = finals(await run(engine, [(both, 2), FLUSH, (normal(), 1), FLUSH]))
    assert_next_is_normal(texts)
    assert found(texts[0], COFFEE[1]) >= 2, texts  # the mix is the speech, 6 dB down


async def test_long_noise(engine: PocketSphinxSTT, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two minutes of a quiet room (under the gate: cheap), then loud noise that holds the
    gate past the utterance limit (shortened here: decoding noise runs at ~0.75x real time
    on one core, so 2 minutes of it would take the test minutes). Neither sticks the stream."""
    monkeypatch.setattr(pocketsphinx_stt, "_MAX_UTTERANCE_S", 3.0)
    rng = np.random.default_rng(7)
    room = rng.normal(0, 60, 120 * 16000).astype(np.int16)
    loud = rng.normal(0, 3000, 5 * 16000).astype(np.int16)
    events = await run(engine, [(room, 1), FLUSH, (loud, 1), FLUSH, (normal(), 1), FLUSH])
    texts = finals(events)
    assert texts[0] == "", texts
    assert_next_is_normal(texts, at=2)
