"""A stage with several providers: livekit's ``FallbackAdapter`` over them, in order.

livekit does the failing over (a failure or a timeout marks a provider unavailable, the next
takes the request, a background probe brings it back). The subclasses only keep the chain's
labels, so metrics can say the first of the chain and who actually answered each turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livekit.agents import llm, stt, tts

from ..metrics.collector import provider_label


def describe(obj: Any) -> str:
    """'openai/gpt-4o-mini', as the metrics and the session record spell a provider."""
    provider = getattr(obj, "provider", None) or type(obj).__name__
    return provider_label(provider, getattr(obj, "model", None))


async def _close_all(instances: Sequence[Any]) -> None:
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
    def __init__(self, instances: Sequence[stt.STT], *, timeout: float, vad: Any) -> None:
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


def build_chain(kind: str, instances: Sequence[Any], *, timeout: float, vad: Any = None) -> Any:
    """One provider as is; several as a chain."""
    if len(instances) == 1:
        return instances[0]
    if kind == "llm":
        return LLMChain(instances, timeout=timeout)
    if kind == "stt":
        return STTChain(instances, timeout=timeout, vad=vad)
    if kind == "tts":
        return TTSChain(instances)
    raise ValueError(f"{kind}: one provider only (no fallback chain)")
