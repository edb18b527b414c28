"""``stt.options`` of pocketsphinx: ours, plus any ``pocketsphinx.Config`` setting.

Unknown keys are refused like everywhere else; the difference is that the allowed set
includes pocketsphinx's own settings (beam, maxhmmpf, fwdflat...), checked by pocketsphinx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ...config.options import Options, allowed
from .pocketsphinx_worker import CMN_SEED_S

Scalar = str | int | float | bool


class PocketsphinxOptions(Options):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    interim_interval: float = Field(default=0.3, ge=0.05, le=5.0, strict=True)
    endpoint_silence: float | None = Field(
        default=1.5, description="Seconds of silence that end an utterance; 0 or null: never."
    )
    cmn_seed: float | None = Field(
        default=CMN_SEED_S,
        ge=0.3,
        le=2.8,
        description="Seconds of speech that seed the cepstral mean; null: pocketsphinx's own.",
    )
    vad_mode: Literal[0, 1, 2, 3] = Field(default=0, description="0 (loose) to 3 (strict).")
    vocabulary: str | Path | list[str] | None = None
    vocabulary_weight: float | None = Field(
        default=None, ge=1.0, le=10000.0, description="null: the vocabulary module's default."
    )
    hmm: str | Path | None = None
    dict_: str | Path | None = Field(default=None, alias="dict")
    lm: str | Path | None = Field(default=None, description="null: no LM (for a grammar).")

    @field_validator("interim_interval", "vocabulary_weight", "cmn_seed", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        return value

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

    @model_validator(mode="after")
    def _pocketsphinx_settings(self) -> PocketsphinxOptions:
        extra = dict(self.model_extra or {})
        if not extra:
            return self
        from pocketsphinx import Config

        unknown = sorted(set(extra) - {key for key, _ in Config().items()})
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for pocketsphinx; allowed: "
                f"{', '.join(allowed(type(self)))}, and pocketsphinx settings "
                "(any pocketsphinx.Config key: beam, maxhmmpf, fwdflat, ...)"
            )
        for key, value in extra.items():
            if not isinstance(value, Scalar):
                raise ValueError(f"{key} must be a string, number or boolean, got {value!r}")
            try:
                Config(**{key: value})
            except ValueError as e:
                raise ValueError(f"{key}: invalid value {value!r} ({e})") from e
        return self
