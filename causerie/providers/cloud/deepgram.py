"""Deepgram streaming STT."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo
from ._common import api_key, kwargs, plugin_options

_OPTIONS = plugin_options("livekit.plugins.deepgram", "STT")


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.deepgram as deepgram

    return deepgram.STT(
        **kwargs(
            spec,
            "stt",
            _OPTIONS,
            model=spec.model or "nova-3",
            language=ctx.language_for(spec),
            api_key=api_key(spec, ctx, "DEEPGRAM_API_KEY"),
        )
    )


PROVIDER = ProviderInfo(
    kind="stt",
    name="deepgram",
    build=_build,
    description="Deepgram streaming speech-to-text",
    modules=("livekit.plugins.deepgram",),
    extra="deepgram",
    key_env=("DEEPGRAM_API_KEY",),
    models=("nova-3", "nova-2"),
    options=_OPTIONS,
)
