"""Deepgram streaming STT."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..registry import BuildContext, ProviderInfo
from ._common import api_key, kwargs


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.deepgram as deepgram

    return deepgram.STT(
        **kwargs(
            spec,
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
)
