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
from .pocketsphinx_worker import CMN_RESEED_S, CMN_SEED_S, RENEW_AFTER_S

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
    cmn_reseed: float | list[float] | None = Field(
        default=list(CMN_RESEED_S or ()),
        description="Seconds of a longer utterance after which its mean is settled again: "
        "one or a list, rising, the first more than cmn_seed and at most 2.8, each next at "
        "most 3 after the one before; null: once only.",
    )
    spare_decoder: bool = Field(
        default=True,
        description="A second decoder per worker (shared model, in the fork server) that "
        "re-decodes a long utterance under its settled mean while the live pass goes on; "
        "false: re-decoded in line, and a final waits for it.",
    )
    renew_worker_after: float | None = Field(
        default=RENEW_AFTER_S,
        ge=0.5,
        description="Seconds of an utterance after which the stream hands its worker back "
        "to be ended and goes on with a fresh one from the pool, between utterances: the "
        "pages a long decode wrote (the spare's search state too, ~25 MB each decoder) are "
        "freed, for a fork; null: a session keeps its worker.",
    )
    defer_first_pass: bool = Field(
        default=True,
        description="Until an utterance's mean settles (cmn_seed s, or its first pause), "
        "run the front end only and decode the words once, under that mean: ~1/3 less "
        "decoding on short questions, no interim before then; false: decoded as it comes, "
        "and most of it again at the settle.",
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
        if isinstance(value, bool) or (
            isinstance(value, list) and any(isinstance(v, bool) for v in value)
        ):
            raise ValueError(f"must be a number, got {value!r}")
        return value

    @property
    def reseed_points(self) -> tuple[float, ...] | None:
        reseed = self.cmn_reseed
        if reseed is None or reseed == []:
            return None
        return tuple(reseed) if isinstance(reseed, list) else (reseed,)

    @field_validator("cmn_reseed")
    @classmethod
    def _reseed_points(cls, value: float | list[float] | None) -> float | list[float] | None:
        points = value if isinstance(value, list) else [] if value is None else [value]
        # Each settle reads the decoder's sums since the one before: ~3 s of audio at most.
        for i, point in enumerate(points):
            least, most = (0.5, 2.8) if i == 0 else (points[i - 1], points[i - 1] + 3.0)
            if not least <= point <= most or (i and point == least):
                raise ValueError(
                    f"{point} must be from {least:g} to {most:g} "
                    + ("s" if i == 0 else "s, after the one before")
                )
        return value

    @model_validator(mode="after")
    def _reseed_after_seed(self) -> PocketsphinxOptions:
        seed, points = self.cmn_seed, self.reseed_points
        if seed is not None and points and points[0] <= seed:
            raise ValueError(
                f"cmn_reseed ({points[0]}) must be more than cmn_seed ({seed}), or null"
            )
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
