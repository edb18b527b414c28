"""The metrics API's query parameters as typed models (``Annotated[Model, Query()]``):
FastAPI validates them, documents them in ``/openapi.json``, and a bad one is a 422 whose
message names the parameter and what it accepts (``security.install_error_handlers``).

A duration (``90s``, ``15m``, ``1h``, ``7d`` or seconds) and a time (epoch seconds or ISO
8601) have no JSON-schema grammar: they are strings to the schema, parsed by the same
functions as ``causerie metrics`` (:mod:`causerie.metrics.query`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from ..metrics.export import FORMATS, ExportFormat
from ..metrics.query import (
    LATENCY_METRICS,
    MAX_POINTS,
    QueryError,
    parse_choice,
    parse_duration,
    parse_int,
    parse_time,
)
from ..store.base import MAX_PAGE
from ..store.records import OUTCOMES

SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SESSION_ID_RULE = "session id: 1 to 128 letters, digits or . _ : -"


def _session_id(value: str) -> str:
    if not SESSION_ID.match(value):
        raise QueryError(SESSION_ID_RULE)
    return value


SessionId = Annotated[
    str,
    Path(description="1 to 128 letters, digits or . _ : -"),
    AfterValidator(_session_id),
    WithJsonSchema({"type": "string", "pattern": SESSION_ID.pattern}),
]


def _duration(value: Any, info: ValidationInfo) -> float:
    return parse_duration(str(info.field_name), str(value))


def _time(value: Any, info: ValidationInfo) -> float | None:
    return parse_time(str(info.field_name), str(value)) if value not in (None, "") else None


def _whole(lo: int, hi: int) -> Callable[[Any, ValidationInfo], int]:
    def check(value: Any, info: ValidationInfo) -> int:
        return parse_int(str(info.field_name), str(value), lo, hi)

    return check


def _one_of(choices: Sequence[str]) -> Callable[[Any, ValidationInfo], str]:
    def check(value: Any, info: ValidationInfo) -> str:
        return parse_choice(str(info.field_name), str(value), choices)

    return check


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "examples": ["90s", "15m", "1h", "7d"]}),
]
Time = Annotated[
    float | None,
    BeforeValidator(_time),
    WithJsonSchema({"type": "string", "description": "epoch seconds or ISO 8601"}),
]


def _int_schema(lo: int, hi: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": lo, "maximum": hi})


def _enum_schema(choices: Sequence[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(choices)})


ErrorLimit = Annotated[int, BeforeValidator(_whole(1, 1000)), _int_schema(1, 1000)]
PageLimit = Annotated[int, BeforeValidator(_whole(1, MAX_PAGE)), _int_schema(1, MAX_PAGE)]
Offset = Annotated[int, BeforeValidator(_whole(0, 10**9)), _int_schema(0, 10**9)]
By = Annotated[str, BeforeValidator(_one_of(("provider",))), _enum_schema(("provider",))]
OutcomeName = Annotated[str, BeforeValidator(_one_of(OUTCOMES)), _enum_schema(OUTCOMES)]
Format = Annotated[str, BeforeValidator(_one_of(FORMATS)), _enum_schema(FORMATS)]


def _metrics(value: Any) -> list[str]:
    # FastAPI hands a list field every value of a repeated parameter: ?metric=a,b&metric=c
    raw = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    names = [m.strip() for m in raw.split(",") if m.strip()]
    for m in names or ["(empty)"]:
        parse_choice("metric", m, LATENCY_METRICS)
    return names


class QueryModel(BaseModel):
    """Unknown parameters are refused (a typo must not silently widen a query)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                allowed = ", ".join(sorted(cls.model_fields)) or "none"
                raise QueryError(
                    f"unknown query parameter(s) {', '.join(unknown)}; allowed: {allowed}"
                )
        return data


class NoQuery(QueryModel):
    pass


class SummaryQuery(QueryModel):
    window: Duration = Field("1h", validate_default=True, description="how far back")
    by: By | None = Field(None, description="break down by provider")


class SeriesQuery(QueryModel):
    window: Duration = Field("1h", validate_default=True, description="how far back")
    step: Duration | None = Field(None, description="bucket size (default: window / 60)")
    metric: Annotated[
        list[str],
        BeforeValidator(_metrics),
        WithJsonSchema({"type": "string", "description": ", ".join(LATENCY_METRICS)}),
    ] = Field("voice_to_voice", validate_default=True, description="comma-separated")

    @model_validator(mode="after")
    def _points(self) -> SeriesQuery:
        if self.step is None:
            self.step = max(10.0, self.window / 60)
        if self.window / self.step > MAX_POINTS:
            raise QueryError(
                f"step: window/step gives more than {MAX_POINTS} points; use a larger step"
            )
        return self


class ErrorsQuery(QueryModel):
    window: Duration = Field("24h", validate_default=True, description="how far back")
    limit: ErrorLimit = 100
    session: Annotated[str, AfterValidator(_session_id)] | None = Field(
        None, description="one session id"
    )


class SessionsQuery(QueryModel):
    limit: PageLimit = 50
    offset: Offset = 0
    transport: str | None = None
    outcome: OutcomeName | None = None
    agent: str | None = Field(None, description="agent name")
    since: Time = None
    until: Time = None
    q: str | None = Field(None, description="text in the transcript")


class ExportQuery(QueryModel):
    format: Format = "json"

    @property
    def export_format(self) -> ExportFormat:
        return self.format  # type: ignore[return-value]
