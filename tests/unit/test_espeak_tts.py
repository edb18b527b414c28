"""EspeakTTS on the real libespeak-ng engine: no mocks, no downloads."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT

from causerie.config.spec import ProviderSpec
from causerie.errors import ProviderError
from causerie.providers.info import BuildContext
from causerie.providers.local.espeak_engine import get_engine
from causerie.providers.local.espeak_tts import PROVIDER, EspeakTTS, _build, _Chunker
from causerie.providers.registry import Registry

EN = "Hello there, this is a test of the speech synthesizer. It should sound fine."
FR = "Bonjour, ceci est un essai de la synthèse vocale. Elle devrait bien marcher."
# Hours of speech: synthesizing it all would take minutes, far past any guard below.
LONG = "This is a rather long sentence for the cancellation test. " * 4000
GUARD_S = 60.0  # a hang guard, not a timing: timings live in bench/


def engine_freed() -> bool:
    """The engine's lock comes free: no synthesis left running (the whole of LONG never)."""
    lock = get_engine()._lock
    if not lock.acquire(timeout=GUARD_S / 2):
        return False
    lock.release()
    return True


def _pcm(frames: list) -> np.ndarray:
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


async def _frames(stream) -> list:
    async with stream:
        return [ev.frame async for ev in stream]


def _other_tasks() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


def build(voice: str | None = None, language: str = "en", **options) -> EspeakTTS:
    spec = ProviderSpec(provider="espeak", voice=voice, options=options)
    return _build(spec, BuildContext(language=language))


@pytest.mark.parametrize(("text", "language"), [(EN, "en"), (FR, "fr")])
async def test_speaks_english_and_french(text: str, language: str) -> None:
    tts = build(language=language)
    frames = await _frames(tts.synthesize(text))
    assert {f.sample_rate for f in frames} == {22050} and {f.num_channels for f in frames} == {1}
    pcm = _pcm(frames)
    assert pcm.dtype == np.int16
    duration = len(pcm) / 22050
    assert 2.5 < duration < 9.0, duration  # ~13 words at 175 wpm, plus pauses
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    assert rms > 500 and np.abs(pcm).max() > 5000


async def test_first_audio_arrives_while_the_engine_still_synthesizes() -> None:
    tts = build()
    async with tts.synthesize(LONG) as stream:
        first = await asyncio.wait_for(stream.__anext__(), GUARD_S)
        assert first.frame.samples_per_channel > 0
        # Streamed as made: the engine is still busy with the rest of the text.
        assert not get_engine()._lock.acquire(blocking=False), "synthesis already finished"


async def test_audio_arrives_in_several_frames_as_made() -> None:
    frames = await _frames(build().synthesize(EN + " " + EN))
    assert len(frames) >= 5
    # The engine itself calls back chunk by chunk: many small chunks, not one at the end.
    engine, chunks = get_engine(), []
    engine.synthesize(EN * 5, lambda pcm: chunks.append(len(pcm)), voice="en-us")
    assert len(chunks) > 20 and max(chunks) < sum(chunks) / 5


async def test_cancel_aborts_promptly_and_frees_the_engine() -> None:
    tts = build()
    before = _other_tasks()
    stream = tts.synthesize(LONG)
    got = 0
    async for ev in stream:
        got += ev.frame.samples_per_channel
        if got > 22050:
            break
    await asyncio.wait_for(stream.aclose(), GUARD_S)
    # The rest of the text (minutes of speech) is abandoned, not synthesized in the background.
    assert engine_freed()  # not held by a leftover synthesis
    assert _other_tasks() <= before

    frames = await asyncio.wait_for(_frames(tts.synthesize("Next one.")), GUARD_S)
    assert len(_pcm(frames)) > 0.3 * 22050


async def test_task_cancel_mid_synthesis_raises_cancelled() -> None:
    tts = build()
    started = asyncio.Event()

    def sink(_data: bytes) -> None:
        started.set()

    task = asyncio.create_task(tts._speak(LONG, sink))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, GUARD_S)
    assert engine_freed()  # the synthesis stopped with the task


async def test_faster_rate_gives_shorter_audio() -> None:
    slow = _pcm(await _frames(build(rate=120).synthesize(EN)))
    fast = _pcm(await _frames(build(rate=320).synthesize(EN)))
    assert len(fast) < 0.6 * len(slow)


async def test_resamples_to_the_requested_rate() -> None:
    tts = build(sample_rate=16000)
    assert tts.sample_rate == 16000
    frames = await _frames(tts.synthesize(EN))
    assert {f.sample_rate for f in frames} == {16000}
    native = _pcm(await _frames(build().synthesize(EN)))
    assert abs(len(_pcm(frames)) / 16000 - len(native) / 22050) < 0.05


async def test_concurrent_requests_both_complete() -> None:
    tts_en, tts_fr = build(), build(language="fr")
    en, fr = await asyncio.wait_for(
        asyncio.gather(_frames(tts_en.synthesize(EN)), _frames(tts_fr.synthesize(FR))), GUARD_S
    )
    assert len(_pcm(en)) > 22050 and len(_pcm(fr)) > 22050


async def test_stream_speaks_at_the_first_clause_and_aligns_transcript() -> None:
    tts = build()
    async with tts.stream() as stream:
        for tok in ["Sure", ",", " I", " can"]:
            stream.push_text(tok)
        # No sentence end yet: audio must start on the clause alone.
        first = await asyncio.wait_for(stream.__anext__(), GUARD_S)
        rest = " help with that. The weather is sunny today, with a high of twenty degrees."
        for tok in rest.split(" "):
            stream.push_text(" " + tok if tok else "")
        stream.end_input()
        frames = [first.frame] + [ev.frame async for ev in stream]
    text = "".join(str(s) for f in frames for s in f.userdata.get(USERDATA_TIMED_TRANSCRIPT, []))
    assert text == "Sure, I can" + rest
    assert len(_pcm(frames)) / 22050 > 3.0


async def test_stream_cancel_mid_speech() -> None:
    tts = build()
    stream = tts.stream()
    stream.push_text(LONG[: len(LONG) // 10])  # the stream splits sentences: 400 are plenty
    stream.end_input()
    await stream.__anext__()
    await asyncio.wait_for(stream.aclose(), GUARD_S)
    assert engine_freed()  # not held by a leftover synthesis
    frames = await _frames(tts.synthesize("Still working."))
    assert len(frames) > 0


def test_chunker_cuts_at_clauses_when_eager_and_sentences_otherwise() -> None:
    c = _Chunker()
    assert c.push("Well, I think", eager=False) is None
    assert c.push(" so. And", eager=False) == "Well, I think so. "
    assert c.push(" then, more", eager=True) == "And then, "
    assert c.push(" Dr. Smith said 3.5 or 1,000.", eager=False) is None
    assert c.push(" M. Dupont", eager=False) == "more Dr. Smith said 3.5 or 1,000. "
    assert c.flush() == "M. Dupont" and c.flush() is None
    assert c.push("Bonjour ! Ça", eager=False) == "Bonjour ! "
    assert c.push(" va" * 120, eager=False) is not None  # bounded without punctuation


@pytest.mark.parametrize(
    ("language", "voice"),
    [("en", "en-us"), ("en-GB", "en-gb"), ("fr", "fr-fr"), ("fr-CA", "fr-fr"), ("en-AU", "en-gb")],
)
def test_default_voice_follows_the_language(language: str, voice: str) -> None:
    assert build(language=language).voice == voice


@pytest.mark.parametrize("voice", ["en-us", "en-gb", "fr-fr", "en-us+f3", "fr-fr+m2", "de"])
def test_named_voices(voice: str) -> None:
    assert build(voice).voice == voice
    assert len(get_engine().synthesize_pcm("Yes.", voice=voice)) > 0


def test_unknown_voice_lists_voices_for_the_language() -> None:
    with pytest.raises(ProviderError, match=r"unknown espeak voice 'xx-nope'.*fr-fr"):
        build("xx-nope", language="fr")
    with pytest.raises(ProviderError, match=r"variant 'zz'.*f3"):
        build("en-us+zz")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"rate": 1000}, r"tts\.options\.rate: .*80 to 450"),
        ({"rate": True}, r"tts\.options\.rate"),
        ({"pitch": "high"}, r"tts\.options\.pitch: .*0 to 99"),
        ({"volume": 2.5}, r"tts\.options\.volume: .*0 to 200"),
        ({"sample_rate": 100}, r"tts\.options\.sample_rate: .*8000 to 48000"),
        ({"speed": 2}, r"unknown option.*speed.*allowed: rate"),
    ],
)
def test_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ProviderError, match=match):
        build(**options)


def test_registry_entry() -> None:
    assert PROVIDER.qualified == "tts.espeak" and PROVIDER.offline
    assert PROVIDER.status({}) == "ready"
    tts = Registry([PROVIDER]).build("tts", ProviderSpec(provider="espeak"), BuildContext("fr"))
    assert isinstance(tts, EspeakTTS) and tts.capabilities.streaming


def test_engine_lists_every_language_of_a_voice() -> None:
    engine = get_engine()
    gb = engine.find_voice("en-gb")
    assert gb is not None and {"en-gb", "en"} <= set(gb.languages)
    assert engine.resolve_voice("fr-fr") == "roa/fr"
    assert engine.resolve_voice("en-us+nope") is None
    assert "f3" in engine.variants()


def test_engine_propagates_callback_errors_and_stays_usable() -> None:
    engine = get_engine()

    def boom(_pcm: np.ndarray) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        engine.synthesize("Hello.", boom)
    assert engine.synthesize("Hello.", lambda _pcm: None) is True
    assert engine.synthesize("Hello. " * 20, lambda _pcm: False) is False


def test_the_same_text_sounds_the_same_in_every_process() -> None:
    """espeak_Initialize seeds its noise from the clock; the engine seeds it before each
    synthesis, so test speech and the benches' corpora are the same from run to run."""
    import subprocess
    import sys

    code = (
        "import hashlib; from causerie.providers.local.espeak_engine import get_engine; "
        "e = get_engine(); print(hashlib.md5(e.synthesize_pcm("
        "'good morning', voice='en-us+f2', rate=160).tobytes()).hexdigest())"
    )
    runs = []
    for _ in range(2):
        runs.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True))
        time.sleep(1.1)  # the clock's seed is in seconds: the second run gets another one
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout.strip() and runs[0].stdout == runs[1].stdout
