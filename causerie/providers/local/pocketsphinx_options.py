"""``stt.options`` of pocketsphinx: ours, plus every ``pocketsphinx.Config`` setting.

Unknown keys are refused like everywhere else; pocketsphinx's own settings (beam, maxhmmpf,
fwdflat...) are fields too, their values checked by pocketsphinx. The model is made on first
use, so listing providers does not import pocketsphinx.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from ...config.options import Options
from .pocketsphinx_worker import CMN_RESEED_S, CMN_SEED_S

Scalar = str | int | float | bool


class PocketsphinxOptions(Options):
    """Causerie's own options (a new one in the builder goes here too, or it is refused);
    :func:`options_model` adds pocketsphinx's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    interim_interval: float = Field(default=0.3, ge=0.05, le=5.0)
    endpoint_silence: float | None = Field(
        default=1.5, description="Seconds of silence that end an utterance; 0 or null: never."
    )
    cmn_seed: float | None = Field(
        default=CMN_SEED_S,
        ge=0.3,
        le=2.8,
        description="Seconds of speech that seed the cepstral mean; null: pocketsphinx's own.",
    )
    cmn_reseed: float | None = Field(
        default=CMN_RESEED_S,
        ge=0.5,
        le=2.8,
        description="Seconds of a longer utterance after which its mean is settled again "
        "(more than cmn_seed); null: once only.",
    )
    vad_mode: Literal[0, 1, 2, 3] = Field(default=0, description="0 (loose) to 3 (strict).")
    vocabulary: str | Path | list[str] | None = None
    vocabulary_weight: float | None = Field(
        default=None, description="null: the vocabulary module's default (range: its own)."
    )
    hmm: str | Path | None = None
    dict_: str | Path | None = Field(default=None, alias="dict")
    lm: str | Path | None = Field(default=None, description="null: no LM (for a grammar).")

    @field_validator(
        "interim_interval", "vocabulary_weight", "cmn_seed", "cmn_reseed", mode="before"
    )
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        return value

    @model_validator(mode="after")
    def _reseed_after_seed(self) -> PocketsphinxOptions:
        seed, reseed = self.cmn_seed, self.cmn_reseed
        if seed is not None and reseed is not None and reseed <= seed:
            raise ValueError(f"cmn_reseed ({reseed}) must be more than cmn_seed ({seed}), or null")
        return self

    @field_validator("endpoint_silence", mode="before")
    @classmethod
    def _endpoint(cls, value: Any) -> Any:
        if value in (None, 0, False):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number of seconds from 0.2 to 30, got {value!r}")
        if not 0.2 <= value <= 30.0:
            raise ValueError(f"must be from 0.2 to 30 seconds, got {value!r}")
        return value


def _setting(value: Any, info: ValidationInfo) -> Any:
    """A pocketsphinx setting's value, as pocketsphinx itself judges it."""
    if value is None:
        return value
    if not isinstance(value, Scalar):
        raise ValueError(
            f"must be a string, number or boolean (a pocketsphinx setting), got {value!r}"
        )
    from pocketsphinx import Config

    try:
        Config(**{str(info.field_name): value})
    except ValueError as e:
        raise ValueError(f"invalid value {value!r} ({e})") from None
    return value


@cache
def options_model() -> type[PocketsphinxOptions]:
    from pocketsphinx import Config

    ours = {f.alias or name for name, f in PocketsphinxOptions.model_fields.items()}
    keys = sorted(k for k, _ in Config().items() if k not in ours)
    model: type[PocketsphinxOptions] = create_model(  # type: ignore[call-overload]
        "PocketsphinxSettings",
        __base__=PocketsphinxOptions,
        __validators__={"_setting": field_validator(*keys)(_setting)},
        **{k: (Any, None) for k in keys},
    )
    return model
