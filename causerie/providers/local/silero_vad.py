"""Registry entry for the silero VAD built into livekit-agents' local inference."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..registry import BuildContext, ProviderInfo

_FLOAT_OPTIONS = {
    # option: (min, max, default). Short silence: the VAD's end of speech ends the turn.
    "min_silence_duration": (0.05, 3.0, 0.2),
    "min_speech_duration": (0.01, 1.0, 0.05),
    "prefix_padding_duration": (0.0, 2.0, 0.3),
    "activation_threshold": (0.05, 0.95, 0.5),
}


def vad_options(options: dict[str, Any]) -> dict[str, float]:
    unknown = set(options) - set(_FLOAT_OPTIONS)
    if unknown:
        raise ValueError(
            f"vad.options: unknown option(s) {sorted(unknown)}; allowed: {sorted(_FLOAT_OPTIONS)}"
        )
    out: dict[str, float] = {}
    for key, (lo, hi, default) in _FLOAT_OPTIONS.items():
        value = options.get(key, default)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"vad.options.{key} must be a number between {lo} and {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"vad.options.{key} must be between {lo} and {hi}, got {value}")
        out[key] = value
    return out


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    from livekit.agents import inference

    opts = vad_options(spec.options)
    return inference.VAD(
        model="silero",
        min_silence_duration=opts["min_silence_duration"],
        min_speech_duration=opts["min_speech_duration"],
        prefix_padding_duration=opts["prefix_padding_duration"],
        activation_threshold=opts["activation_threshold"],
    )


PROVIDER = ProviderInfo(
    kind="vad",
    name="silero",
    build=_build,
    description="Silero VAD from livekit-agents' local inference (in-process, no download)",
    offline=True,
    models=("silero",),
)
