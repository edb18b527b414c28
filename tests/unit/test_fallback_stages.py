"""STT and TTS chains: a failing first provider (a fake subclassing livekit's real base class)
hands the work to a real engine behind it (pocketsphinx, espeak), as livekit's
FallbackAdapter does it, and the chain keeps its labels for the metrics."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectionError, APIConnectOptions, stt, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from causerie.agent.fallback import LLMChain, STTChain, TTSChain, build_chain, describe
from causerie.config.spec import ProviderSpec
from causerie.metrics.collector import describe_providers
from causerie.providers.info import BuildContext
from causerie.providers.local.scripted import ScriptedLLM
from causerie.providers.registry import Registry
from tests.speech import speak


class DeadSTT(stt.STT):
    """A vendor whose service is down."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.calls = 0

    @property
    def provider(self) -> str:
        return "dead-stt"

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        self.calls += 1
        raise APIConnectionError("stt service unreachable", retryable=False)


class DeadTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=22050, num_channels=1
        )
        self.calls = 0
        self.closed = False

    @property
    def provider(self) -> str:
        return "dead-tts"

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.calls += 1
        return _DeadStream(tts=self, input_text=text, conn_options=conn_options)


class _DeadStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        raise APIConnectionError("tts service unreachable", retryable=False)


def _build(kind: str, name: str) -> object:
    return Registry.from_entry_points().build(
        kind,  # type: ignore[arg-type]
        ProviderSpec(provider=name),
        BuildContext(env={}),
    )


async def test_tts_chain_speaks_with_the_next_when_the_first_fails() -> None:
    dead, espeak = DeadTTS(), _build("tts", "espeak")
    chain = build_chain("tts", [dead, espeak], timeout=2.0)
    assert isinstance(chain, TTSChain)
    assert chain.chain_labels == (describe(dead), describe(espeak))
    changes: list[tuple[str, bool]] = []
    chain.on("tts_availability_changed", lambda ev: changes.append((ev.tts.provider, ev.available)))
    try:
        async with chain.synthesize("Hello there, how are you?") as stream:
            frames = [ev.frame async for ev in stream]
    finally:
        await chain.aclose()
    samples = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    # Tried once, then probed in the background (livekit recovery); espeak spoke.
    assert dead.calls >= 1 and np.abs(samples).max() > 1000
    assert ("dead-tts", False) in changes
    assert dead.closed  # the chain owns its providers, as the pipeline owns a stage's one


@pytest.mark.slow
async def test_stt_chain_recognises_with_the_next_when_the_first_fails() -> None:
    dead, sphinx = DeadSTT(), _build("stt", "pocketsphinx")
    # A non-streaming STT in a chain is wrapped with the pipeline's VAD (as build_pipeline does).
    chain = build_chain("stt", [dead, sphinx], timeout=10.0, vad=_build("vad", "silero"))
    assert isinstance(chain, STTChain)
    pcm = speak("i would like a cup of coffee")
    frame = rtc.AudioFrame(pcm.tobytes(), 16000, 1, len(pcm))
    try:
        event = await asyncio.wait_for(chain.recognize([frame]), timeout=60)
    finally:
        await chain.aclose()
    assert dead.calls >= 1
    # espeak through pocketsphinx is imperfect: half of the key words, as its own tests ask.
    words = event.alternatives[0].text.split()
    keys = ("would", "like", "cup", "coffee")
    assert sum(any(w.startswith(k) for w in words) for k in keys) >= 2, words


async def test_one_provider_is_not_wrapped_and_vad_has_no_chain() -> None:
    llm_ = ScriptedLLM()
    assert build_chain("llm", [llm_], timeout=1.0) is llm_
    with pytest.raises(ValueError, match="vad: one provider only"):
        build_chain("vad", [object(), object()], timeout=1.0)


async def test_a_session_is_described_by_the_first_of_each_chain() -> None:
    first, second = ScriptedLLM(), ScriptedLLM()
    chain = LLMChain([first, second], timeout=1.0)

    class Session:
        llm = chain

    assert describe_providers(Session())["llm"] == describe(first)
