"""How records name providers: ``"openai/gpt-4o-mini"``, as livekit's metrics metadata
spells them, and the stages a session has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["chains", "describe", "describe_providers", "label_from_metadata", "provider_label"]


def provider_label(provider: str | None, model: str | None) -> str:
    """'openai/gpt-4o-mini': how records name a provider (metrics metadata spell it so)."""
    name = provider or "unknown"
    return f"{name}/{model}" if model and model != "unknown" else name


def label_from_metadata(meta: Mapping[str, Any] | None) -> str | None:
    """The label of a ``ChatMessage.metrics`` ``*_metadata`` entry; None when it is empty."""
    if not meta:
        return None
    provider, model = meta.get("model_provider"), meta.get("model_name")
    return provider_label(provider, model) if provider or model else None


def describe(obj: Any) -> str | None:
    """A provider object's label; a fallback chain's is its first provider's."""
    if obj is None:
        return None
    if isinstance(obj, str):  # livekit accepts "provider/model" strings for inference
        return obj
    chain = getattr(obj, "chain_labels", None)
    if chain:
        return str(chain[0])
    return provider_label(
        getattr(obj, "provider", None) or type(obj).__name__, getattr(obj, "model", None)
    )


def chains(session: Any) -> dict[str, tuple[str, ...]]:
    """Stage -> its chain's labels, for the stages given as a fallback chain."""
    out = {}
    for kind in ("stt", "llm", "tts"):
        labels = getattr(getattr(session, kind, None), "chain_labels", None)
        if labels:
            out[kind] = tuple(labels)
    return out


def describe_providers(session: Any) -> dict[str, str]:
    """``{"stt": "pocketsphinx/en-us", ...}`` for the stages a session has."""
    out: dict[str, str] = {}
    for kind in ("stt", "llm", "tts", "vad"):
        try:
            desc = describe(getattr(session, kind, None))
        except Exception:  # a provider property that raises must not stop recording
            desc = None
        if desc:
            out[kind] = desc
    return out
