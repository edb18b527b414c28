"""The whole audio pipeline with the real offline engines: espeak speech in, silero VAD,
streaming pocketsphinx, scripted LLM, espeak out, at real-time pace."""

from __future__ import annotations

import numpy as np
import pytest

from causerie.agent.faults import Faults
from causerie.agent.pipeline import Pipeline, build_pipeline
from causerie.agent.session import build_agent, build_session
from causerie.audio.wav import PCM
from causerie.config import load_config
from causerie.providers.registry import Registry
from causerie.transports.file import IN_RATE, talk
from tests.speech import conversation, speak

pytestmark = pytest.mark.slow
VOICE = "en-us+f2"  # the espeak voice pocketsphinx understands best


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_entry_points()


@pytest.fixture(scope="module")
def pipeline(registry: Registry) -> Pipeline:
    loaded = load_config(None, environ={}, dotenv=None, registry=registry)
    return build_pipeline(loaded, registry)


async def _talk(
    registry: Registry,
    pipeline: Pipeline,
    utterances: list[str],
    env: dict[str, str] | None = None,
    gap: float = 5.0,
    record: bool = True,
):  # type: ignore[no-untyped-def]
    loaded = load_config(None, environ=env or {}, dotenv=None, registry=registry)
    pcm = PCM(conversation(utterances, IN_RATE, gap=gap, voice=VOICE), IN_RATE)
    lines: list[str] = []
    result = await talk(
        build_session(loaded, pipeline),
        build_agent(loaded, Faults()),
        pcm,
        fast=True,
        printer=lines.append,
        record=record,
    )
    return result, lines


async def test_two_turns_heard_and_answered(registry: Registry, pipeline: Pipeline) -> None:
    result, lines = await _talk(registry, pipeline, ["What can you do?", "What time is it?"])
    assert len(result.turns) == 2, lines
    assert {"what", "can", "do"} <= set(result.turns[0].user_text.split()), lines
    # pocketsphinx on synthetic speech is approximate: assert the robust word only.
    assert "what" in result.turns[1].user_text.split(), lines
    assert result.turns[0].agent_text.startswith("I can"), lines
    assert result.turns[1].agent_text, lines
    # The reply is real audio, and it was measured.
    assert result.output is not None
    assert int(np.abs(result.output.samples).max()) > 3000
    for t in result.turns:
        # Measured and positive (the answer follows the question); its size is bench/'s job.
        assert t.voice_to_voice is not None and t.voice_to_voice > 0, lines
    # The timeline bench/false_cut.py reads: each utterance said, then its reply.
    assert len(result.utterances) == 2 and len(result.reply_starts) >= 2, lines
    for (start, end), turn in zip(result.utterances, result.turns, strict=True):
        assert start < end == turn.user_end < (turn.reply_start or 0), lines
        # bench/latency.py's breakdown: the VAD's end of speech falls between the two.
        assert end < (turn.vad_end_at or 0) <= (turn.committed_at or 0), lines
        assert turn.reply_start in result.reply_starts
    assert any(line.startswith("user: ") for line in lines) and any(
        line.startswith("agent: ") for line in lines
    )
    assert any("voice-to-voice" in line for line in lines)


async def test_reply_audio_sits_after_the_question_on_the_timeline(
    registry: Registry, pipeline: Pipeline
) -> None:
    result, _ = await _talk(registry, pipeline, ["What can you do?"])
    assert result.output is not None
    out = result.output.samples
    first = int(np.flatnonzero(np.abs(out) > 300)[0]) / result.output.sample_rate
    # Speech starts at 0.5 s and lasts ~1.2 s: the answer must come after it, not over it.
    assert first > 1.2


async def test_a_talk_that_keeps_no_audio_still_answers_and_measures(
    registry: Registry, pipeline: Pipeline
) -> None:
    result, lines = await _talk(registry, pipeline, ["What can you do?"], record=False)
    assert result.output is None  # played, not kept (bench/peers: as the Pipecat stacks)
    assert len(result.turns) == 1 and result.turns[0].agent_text.startswith("I can"), lines
    assert len(result.reply_starts) == 1 and result.latencies and result.latencies[0] > 0


async def test_silence_gives_no_turn(registry: Registry, pipeline: Pipeline) -> None:
    loaded = load_config(None, environ={}, dotenv=None, registry=registry)
    pcm = PCM(np.zeros(IN_RATE * 2, dtype=np.int16), IN_RATE)
    result = await talk(
        build_session(loaded, pipeline),
        build_agent(loaded, Faults()),
        pcm,
        fast=True,
        printer=lambda s: None,
        tail_timeout=3.0,
    )
    assert result.turns == []
    assert result.output is not None and int(np.abs(result.output.samples).max()) == 0


async def test_barge_in_stops_the_agent(registry: Registry, pipeline: Pipeline) -> None:
    # A long reply (the fallback) interrupted by a second utterance 1.5 s into it.
    result, lines = await _talk(
        registry, pipeline, ["Tell me a story about the sea.", "What can you do?"], gap=1.6
    )
    assert result.turns and result.turns[0].interrupted, lines


async def test_bundled_turn_model_by_config(registry: Registry) -> None:
    """turn.detection: turn_model uses livekit's local v1-mini turn detector (no download)."""
    env = {"TURN_DETECTION": "turn_model"}
    loaded = load_config(None, environ=env, dotenv=None, registry=registry)
    pipeline = build_pipeline(loaded, registry)
    try:
        assert type(pipeline.turn_detector).__name__ == "TurnDetector"
        result, lines = await _talk(registry, pipeline, ["What can you do?"], env=env)
    finally:
        await pipeline.aclose()
    assert len(result.turns) == 1, lines
    assert result.turns[0].agent_text, lines
    v2v = result.turns[0].voice_to_voice
    assert v2v is not None and v2v > 0, lines


async def test_a_short_pause_inside_a_sentence_does_not_end_the_turn(
    registry: Registry, pipeline: Pipeline
) -> None:
    """A 150 ms pause is shorter than the VAD's silence (0.2 s): no reply to half a sentence
    (bench/false_cut.py measures longer pauses and the rate)."""

    quiet = np.zeros(int(0.15 * IN_RATE), dtype=np.int16)
    lead, tail = np.zeros(IN_RATE // 2, dtype=np.int16), np.zeros(5 * IN_RATE, dtype=np.int16)
    first, second = (
        speak(t, IN_RATE, voice=VOICE, trim=True) for t in ("What can you", "do for me")
    )
    pcm = np.concatenate([lead, first, quiet, second, tail])  # espeak's own pauses cut off
    loaded = load_config(None, environ={}, dotenv=None, registry=registry)
    lines: list[str] = []
    result = await talk(
        build_session(loaded, pipeline),
        build_agent(loaded, Faults()),
        PCM(pcm, IN_RATE),
        fast=True,
        printer=lines.append,
    )
    assert len(result.utterances) == 1, lines
    start, end = result.utterances[0]
    assert result.reply_starts, lines  # answered...
    assert not [r for r in result.reply_starts if start < r < end], lines  # ...once it was said
    assert len(result.turns) == 1, lines


async def _paused(
    registry: Registry, pipeline: Pipeline, detection: str
) -> tuple[list[tuple[float, float]], list[float], list[str]]:
    """'I would like' + 400 ms + 'two jars of honey': (utterances, reply starts, lines)."""
    import dataclasses

    from causerie.agent.pipeline import build_turn_detector

    quiet = np.zeros(int(0.4 * IN_RATE), dtype=np.int16)
    lead, tail = np.zeros(IN_RATE // 2, dtype=np.int16), np.zeros(5 * IN_RATE, dtype=np.int16)
    first, second = (
        speak(t, IN_RATE, voice="en-us", trim=True) for t in ("I would like", "two jars of honey")
    )
    pcm = np.concatenate([lead, first, quiet, second, tail])
    overrides = {"turn.detection": detection, "turn.max_endpointing_delay": 0.8}
    loaded = load_config(None, environ={}, dotenv=None, registry=registry, overrides=overrides)
    turn = build_turn_detector(loaded.spec.turn)
    lines: list[str] = []
    result = await talk(
        build_session(loaded, dataclasses.replace(pipeline, turn_detector=turn)),
        build_agent(loaded, Faults()),
        PCM(pcm, IN_RATE),
        fast=True,
        printer=lines.append,
    )
    return result.utterances, result.reply_starts, lines


async def test_lm_detection_waits_out_a_pause_after_unfinished_words(
    registry: Registry, pipeline: Pipeline
) -> None:
    """turn.detection: lm holds the turn open after "I would like" (a 400 ms pause, which
    plain VAD endpointing cuts: bench/false_cut.py), and answers once the sentence is said."""
    utterances, replies, lines = await _paused(registry, pipeline, "lm")
    assert len(utterances) == 1, lines
    start, end = utterances[0]
    assert replies, lines
    assert not [r for r in replies if start < r < end], lines
