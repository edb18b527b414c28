"""ElevenLabs streaming TTS."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo
from ._common import api_key, kwargs, plugin_options

_OPTIONS = plugin_options("livekit.plugins.elevenlabs", "TTS")

_KEY = ("ELEVEN_API_KEY", "ELEVENLABS_API_KEY")


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.elevenlabs as elevenlabs

    return elevenlabs.TTS(
        **kwargs(
            spec,
            "tts",
            _OPTIONS,
            model=spec.model or "eleven_flash_v2_5",
            voice_id=spec.voice,
            api_key=api_key(spec, ctx, *_KEY),
        )
    )


PROVIDER = ProviderInfo(
    kind="tts",
    name="elevenlabs",
    build=_build,
    description="ElevenLabs streaming text-to-speech",
    modules=("livekit.plugins.elevenlabs",),
    extra="elevenlabs",
    key_env=_KEY,
    models=("eleven_flash_v2_5", "eleven_turbo_v2_5"),
    options=_OPTIONS,
)
