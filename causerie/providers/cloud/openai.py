"""OpenAI (LLM, STT, TTS) and any OpenAI-compatible server (Ollama, vLLM, llama.cpp)."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo
from ._common import api_key, kwargs, plugin_options

_MODULES = ("livekit.plugins.openai",)
_KEY = ("OPENAI_API_KEY",)
_LLM = plugin_options("livekit.plugins.openai", "LLM")
_STT = plugin_options("livekit.plugins.openai", "STT")
_TTS = plugin_options("livekit.plugins.openai", "TTS")


def _llm(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.openai as openai

    base_url = spec.base_url or ctx.env.get("OPENAI_BASE_URL")
    return openai.LLM(
        **kwargs(
            spec,
            "llm",
            _LLM,
            model=spec.model or "gpt-4o-mini",
            api_key=api_key(spec, ctx, *_KEY),
            base_url=base_url,
        )
    )


def _ollama(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.openai as openai

    base_url = spec.base_url or ctx.env.get("OLLAMA_BASE_URL") or "http://localhost:11434/v1"
    # Local servers ignore the key, but the client insists on one.
    key = api_key(spec, ctx, "OLLAMA_API_KEY") or "ollama"
    return openai.LLM(
        **kwargs(spec, "llm", _LLM, model=spec.model or "llama3.2", api_key=key, base_url=base_url)
    )


def _stt(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.openai as openai

    return openai.STT(
        **kwargs(
            spec,
            "stt",
            _STT,
            model=spec.model or "gpt-4o-mini-transcribe",
            language=ctx.language_for(spec).split("-")[0],
            api_key=api_key(spec, ctx, *_KEY),
            base_url=spec.base_url,
        )
    )


def _tts(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.openai as openai

    return openai.TTS(
        **kwargs(
            spec,
            "tts",
            _TTS,
            model=spec.model or "gpt-4o-mini-tts",
            voice=spec.voice or "alloy",
            api_key=api_key(spec, ctx, *_KEY),
            base_url=spec.base_url,
        )
    )


LLM_PROVIDER = ProviderInfo(
    kind="llm",
    name="openai",
    build=_llm,
    description="OpenAI chat models, or any compatible base_url",
    modules=_MODULES,
    extra="openai",
    key_env=_KEY,
    models=("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"),
    options=_LLM,
)
OLLAMA_PROVIDER = ProviderInfo(
    kind="llm",
    name="ollama",
    build=_ollama,
    description="OpenAI-compatible local server (Ollama, vLLM, llama.cpp); set llm.base_url",
    modules=_MODULES,
    extra="openai",
    models=("llama3.2", "qwen2.5"),
    options=_LLM,
)
STT_PROVIDER = ProviderInfo(
    kind="stt",
    name="openai",
    build=_stt,
    description="OpenAI transcription (whisper-1, gpt-4o-transcribe)",
    modules=_MODULES,
    extra="openai",
    key_env=_KEY,
    models=("gpt-4o-mini-transcribe", "whisper-1"),
    options=_STT,
)
TTS_PROVIDER = ProviderInfo(
    kind="tts",
    name="openai",
    build=_tts,
    description="OpenAI speech (gpt-4o-mini-tts, tts-1)",
    modules=_MODULES,
    extra="openai",
    key_env=_KEY,
    models=("gpt-4o-mini-tts", "tts-1"),
    voices=("alloy", "ash", "coral", "echo", "nova", "sage", "shimmer"),
    options=_TTS,
)
