"""A stage with several providers: livekit's ``FallbackAdapter`` over them, in order.

livekit does the failing over (a failure or a timeout marks a provider unavailable, the next
takes the request, a background probe brings it back). The subclasses only keep the chain's
labels, so metrics can say the first of the chain and who actually answered each turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from livekit.agents import llm, stt, tts
from livekit.agents import vad as lk_vad

from ..metrics.collector import provider_label
from ..providers.info import Stage

T = TypeVar("T")


def describe(obj: object) -> str:
    """'openai/gpt-4o-mini', as the metrics and the session record spell a provider."""
    provider = getattr(obj, "provider", None) or type(obj).__name__
    return provider_label(provider, getattr(obj, "model", None))


async def _close_all(instances: Sequence[llm.LLM | stt.STT | tts.TTS]) -> None:
    """livekit's adapters leave their providers to the caller: the chain owns them here,
    as the pipeline owns a stage's one provider."""
    for instance in instances:
        await instance.aclose()


class LLMChain(llm.FallbackAdapter):
    def __init__(self, instances: Sequence[llm.LLM], *, timeout: float) -> None:
        # No retry on the same provider: the next one is the retry.
        super().__init__(list(instances), attempt_timeout=timeout, max_retry_per_llm=0)
        self.instances = tuple(instances)
        self.chain_labels: tuple[str, ...] = tuple(describe(i) for i in instances)

    async def aclose(self) -> None:
        await super().aclose()
        await _close_all(self.instances)


class STTChain(stt.FallbackAdapter):
    def __init__(
        self, instances: Sequence[stt.STT], *, timeout: float, vad: lk_vad.VAD | None
    ) -> None:
        # A non-streaming STT (pocketsphinx in batch mode, whisper) is wrapped with the VAD.
        super().__init__(list(instances), vad=vad, attempt_timeout=timeout, max_retry_per_stt=0)
        self.instances = tuple(instances)
        self.chain_labels: tuple[str, ...] = tuple(describe(i) for i in instances)

    async def aclose(self) -> None:
        await super().aclose()
        await _close_all(self.instances)


class TTSChain(tts.FallbackAdapter):
    """Each attempt's timeout is the session's ``tts_conn_options`` (set from the chain's)."""

    def __init__(self, instances: Sequence[tts.TTS]) -> None:
        super().__init__(list(instances), max_retry_per_tts=0)
        self.instances = tuple(instances)
        self.chain_labels: tuple[str, ...] = tuple(describe(i) for i in instances)

    async def aclose(self) -> None:
        await super().aclose()
        await _close_all(self.instances)


def build_chain(
    kind: str, instances: Sequence[Stage], *, timeout: float, vad: lk_vad.VAD | None = None
) -> Stage:
    """One provider as is; several as a chain."""
    if len(instances) == 1:
        return instances[0]
    if kind == "llm":
        return LLMChain(_all(kind, instances, (llm.LLM,)), timeout=timeout)
    if kind == "stt":
        return STTChain(_all(kind, instances, (stt.STT,)), timeout=timeout, vad=vad)
    if kind == "tts":
        return TTSChain(_all(kind, instances, (tts.TTS,)))
    raise ValueError(f"{kind}: one provider only (no fallback chain)")


def _all(kind: str, instances: Sequence[Stage], base: tuple[type[T], ...]) -> list[T]:
    """livekit's adapter needs its own kind of provider throughout the chain (``base`` in
    a tuple: mypy refuses an abstract class where a bare ``type[T]`` is expected)."""
    wrong = [describe(i) for i in instances if not isinstance(i, base)]
    if wrong:
        raise TypeError(f"{kind} chain: {', '.join(wrong)} is not a livekit {base[0].__name__}")
    return [i for i in instances if isinstance(i, base)]
