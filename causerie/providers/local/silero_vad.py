"""Registry entry for the silero VAD built into livekit-agents' local inference."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...config.options import Options
from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo


class SileroOptions(Options):
    """``vad.options``. A short silence: the VAD's end of speech ends the turn."""

    min_silence_duration: float = Field(default=0.2, ge=0.05, le=3.0)
    min_speech_duration: float = Field(default=0.05, ge=0.01, le=1.0)
    prefix_padding_duration: float = Field(default=0.3, ge=0.0, le=2.0)
    activation_threshold: float = Field(default=0.5, ge=0.05, le=0.95)


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    from livekit.agents import inference

    opts: SileroOptions = PROVIDER.parse_options(spec)
    return inference.VAD(model="silero", **opts.model_dump())


PROVIDER = ProviderInfo(
    kind="vad",
    name="silero",
    build=_build,
    description="Silero VAD from livekit-agents' local inference (in-process, no download)",
    offline=True,
    models=("silero",),
    options=SileroOptions,
)
