"""What a declared tool may contain (``api_tools:`` in agent.yaml, or ``tools/*.yaml``).

Validation is static: the JSON Schema of the parameters, the templates' variables against
the parameters, the URL scheme, retries only on idempotent methods. Environment variables
depend on where the agent runs, so :func:`missing_env` checks them separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .templating import ENV, TEMPLATE_NAMES, env_in, params_in, parse_path, template_names

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
IDEMPOTENT: frozenset[str] = frozenset({"GET", "HEAD", "PUT", "DELETE"})
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
# Server events the page already gives a meaning to: a tool must not impersonate them.
RESERVED_EVENTS = frozenset(
    {"ready", "user_transcript", "agent_transcript", "agent_state", "user_state",
     "interrupted", "turn_metrics", "error", "pong"}
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestSpec(_Strict):
    """The HTTP call. ``{{ param }}`` and ``${ENV_VAR}`` work in url, headers, query, body."""

    method: Method = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = Field(default=None, description="Sent as JSON; '{{ x }}' alone keeps x's type.")
    timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds per attempt.")
    retries: int = Field(
        default=0, ge=0, le=5, description="Extra attempts on timeout/5xx (idempotent only)."
    )
    max_redirects: int = Field(default=3, ge=0, le=10)
    max_response_bytes: int = Field(default=1_000_000, ge=1, le=50_000_000)
    allowed_hosts: list[str] = Field(
        default_factory=list, description="If set, only these hosts (redirects included)."
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        probe = ENV.sub("x", v)  # ${API_URL}/x: the scheme is only known at call time
        if not v.startswith("${"):
            scheme = urlsplit(probe).scheme.lower()
            if scheme not in ("http", "https"):
                raise ValueError(f"only http and https URLs are allowed, got {scheme or v!r}")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        return [h.strip().lower() for h in v if h.strip()]

    @model_validator(mode="after")
    def _retries(self) -> RequestSpec:
        if self.retries and self.method not in IDEMPOTENT:
            raise ValueError(
                f"retries: a {self.method} may not be repeated safely (the server could act "
                f"twice); retries are for {', '.join(sorted(IDEMPOTENT))} only"
            )
        return self


class ResponseSpec(_Strict):
    """From the HTTP answer to the text the LLM sees."""

    path: str | None = Field(default=None, description="JSONPath subset, e.g. $.order.status")
    template: str | None = Field(default=None, description="Jinja2 (sandboxed) text")
    max_chars: int = Field(default=2000, ge=10, le=100_000)
    errors: dict[int, str] = Field(
        default_factory=dict, description="HTTP status -> what to tell the LLM (template)."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            parse_path(v)
        return v

    @field_validator("errors")
    @classmethod
    def _codes(cls, v: dict[int, str]) -> dict[int, str]:
        bad = [c for c in v if not 400 <= c <= 599]
        if bad:
            raise ValueError(f"status codes must be 400-599, got {bad}")
        return v


class CardSpec(_Strict):
    """A card for the page; each value is a template (text only, never HTML)."""

    title: str
    text: str | None = None
    fields: dict[str, str] = Field(default_factory=dict, description="label -> template")


class UiEventSpec(_Strict):
    type: str = Field(default="tool_card", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    card: CardSpec

    @field_validator("type")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_EVENTS:
            raise ValueError(f"{v!r} is a built-in event; use another type, e.g. tool_card")
        return v


class ApiToolSpec(_Strict):
    """One business tool backed by an HTTP API."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str = Field(min_length=1, description="What the tool does, for the LLM.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments (an object).",
    )
    request: RequestSpec
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    ui_event: UiEventSpec | None = None
    triggers: list[str] = Field(
        default_factory=list, description="Words that make the scripted brain call the tool."
    )

    @field_validator("parameters")
    @classmethod
    def _schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_schema(v)
        return v

    @model_validator(mode="after")
    def _variables(self) -> ApiToolSpec:
        props = set(self.properties)
        allowed = ", ".join(sorted(props)) or "(none)"
        req = self.request
        for where, value in (
            ("request.url", req.url),
            ("request.headers", req.headers),
            ("request.query", req.query),
            ("request.body", req.body),
        ):
            unknown = sorted(params_in(value) - props)
            if unknown:
                raise ValueError(
                    f"{where}: {{{{ {unknown[0]} }}}} is not a parameter; parameters: {allowed}"
                )
        names = props | set(TEMPLATE_NAMES)
        for where, source in self._templates():
            try:
                used = template_names(source)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            unknown = sorted(used - names)
            if unknown:
                raise ValueError(
                    f"{where}: unknown variable {unknown[0]!r}; available: "
                    f"{', '.join(TEMPLATE_NAMES)}, and the parameters: {allowed}"
                )
        return self

    def _templates(self) -> list[tuple[str, str]]:
        out = []
        if self.response.template:
            out.append(("response.template", self.response.template))
        out += [(f"response.errors.{c}", t) for c, t in self.response.errors.items()]
        if self.ui_event is not None:
            card = self.ui_event.card
            out.append(("ui_event.card.title", card.title))
            if card.text:
                out.append(("ui_event.card.text", card.text))
            out += [(f"ui_event.card.fields.{k}", t) for k, t in card.fields.items()]
        return out

    @property
    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = self.parameters.get("properties") or {}
        return props

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required") or [])

    def env_vars(self) -> set[str]:
        return env_in(self.request.model_dump())


def check_schema(schema: Mapping[str, Any]) -> None:
    """The parameters must be a JSON Schema object whose properties have known types."""
    if schema.get("type", "object") != "object":
        raise ValueError(f"type must be 'object' (the arguments), got {schema.get('type')!r}")
    props = schema.get("properties", {})
    if not isinstance(props, Mapping):
        raise ValueError("properties must be a mapping of parameter name -> schema")
    for name, sub in props.items():
        if not isinstance(sub, Mapping):
            raise ValueError(f"properties.{name} must be a schema (a mapping)")
        _check_type(f"properties.{name}", sub)
    required = schema.get("required", [])
    if not isinstance(required, list):
        raise ValueError("required must be a list of parameter names")
    unknown = [r for r in required if r not in props]
    if unknown:
        raise ValueError(f"required names {unknown[0]!r}, which is not in properties")


def _check_type(where: str, sub: Mapping[str, Any]) -> None:
    types = sub.get("type")
    for t in types if isinstance(types, list) else [types] if types else []:
        if t not in JSON_TYPES:
            raise ValueError(f"{where}.type: {t!r} is not a JSON type ({', '.join(JSON_TYPES)})")
    if "enum" in sub and not isinstance(sub["enum"], list):
        raise ValueError(f"{where}.enum must be a list")
    if types == "array" and isinstance(sub.get("items"), Mapping):
        _check_type(f"{where}.items", sub["items"])


def missing_env(tool: ApiToolSpec, env: Mapping[str, str]) -> list[str]:
    """The ``${VAR}`` names the tool needs that are unset or empty."""
    return sorted(v for v in tool.env_vars() if not env.get(v))
