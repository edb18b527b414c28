"""Cartesia streaming TTS."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo
from ._common import api_key, kwargs, plugin_options

_OPTIONS = plugin_options("livekit.plugins.cartesia", "TTS")


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.cartesia as cartesia

    return cartesia.TTS(
        **kwargs(
            spec,
            "tts",
            _OPTIONS,
            model=spec.model or "sonic-2",
            voice=spec.voice,
            language=ctx.language_for(spec).split("-")[0],
            api_key=api_key(spec, ctx, "CARTESIA_API_KEY"),
        )
    )


PROVIDER = ProviderInfo(
    kind="tts",
    name="cartesia",
    build=_build,
    description="Cartesia Sonic streaming text-to-speech",
    modules=("livekit.plugins.cartesia",),
    extra="cartesia",
    key_env=("CARTESIA_API_KEY",),
    models=("sonic-2",),
    options=_OPTIONS,
)
