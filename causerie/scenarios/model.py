"""The scenario file format (YAML), validated with pydantic. See docs/TOOLS.md, "Scenarios".

::

    name: Add to cart
    config: ../shop.yaml            # relative to this file
    set: {tool_options.max_quantity: 5}
    turns:
      - user: add two comté to my cart
        expect:
          tools: [{name: cart_add, arguments: {quantity: 2}}]
          reply_contains: [total]
          events: [cart_updated]
          cart: {comte-18-mois: 2}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML

from ..errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listify(v: Any) -> Any:
    return [v] if isinstance(v, (str, dict)) else v


class ToolExpect(_Strict):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Each key must be present with this value (other arguments may be present too)."""
    error: bool | None = None
    """True: the tool must refuse (a ToolError the LLM sees); False: it must succeed."""
    output_contains: list[str] = Field(default_factory=list)


class EventExpect(_Strict):
    type: str
    fields: dict[str, Any] = Field(default_factory=dict)


class Expect(_Strict):
    tools: list[ToolExpect] = Field(default_factory=list)
    no_tools: bool = False
    not_tools: list[str] = Field(default_factory=list)
    """Tools that must not be called this turn."""
    reply_contains: list[str] = Field(default_factory=list)
    reply_not_contains: list[str] = Field(default_factory=list)
    reply_matches: str | None = None
    events: list[EventExpect] = Field(default_factory=list)
    no_events: list[str] = Field(default_factory=list)
    cart: dict[str, int] | None = None
    cart_total: float | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    """Keys of SessionData.state; a dict value is matched key by key, a list exactly."""

    @field_validator("tools", mode="before")
    @classmethod
    def _tools(cls, v: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in _listify(v) or []]

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, v: Any) -> Any:
        out: list[Any] = []
        for e in _listify(v) or []:
            if isinstance(e, str):
                out.append({"type": e})
            elif isinstance(e, dict) and "type" in e:
                out.append(
                    {"type": e["type"], "fields": {k: x for k, x in e.items() if k != "type"}}
                )
            else:
                out.append(e)
        return out

    @field_validator(
        "reply_contains", "reply_not_contains", "not_tools", "no_events", mode="before"
    )
    @classmethod
    def _strings(cls, v: Any) -> Any:
        return _listify(v) or []


class Turn(_Strict):
    user: str | None = None
    audio: Path | None = None
    """A WAV of the user's words: transcribed by the agent's STT, then run as the turn."""
    client_action: dict[str, Any] | None = None
    """An event from the client (e.g. an add-to-cart click), as a transport would pass it."""
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _one_input(self) -> Turn:
        given = [x for x in (self.user, self.audio, self.client_action) if x is not None]
        if len(given) != 1:
            raise ValueError("each turn needs exactly one of: user, audio, client_action")
        return self

    def label(self) -> str:
        if self.user is not None:
            return repr(self.user)
        if self.audio is not None:
            return f"audio {self.audio}"
        return f"client action {self.client_action}"


class Session(_Strict):
    identity: str | None = None
    language: str | None = None
    turns: list[Turn] = Field(min_length=1)


class Service(_Strict):
    """A local process the scenario starts first (see :mod:`causerie.scenarios.services`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    command: list[str] = Field(min_length=1)
    """Run in the scenario's folder; ``python`` is this interpreter, ``{port}`` a free port."""
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Environment variable that receives ``http://127.0.0.1:PORT`` for the agent."""
    ready: str | None = Field(default=None, pattern=r"^/")
    """Path that answers 2xx once the service is up (default: the port accepts)."""
    timeout: float = Field(default=20.0, gt=0, le=300)

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return v.split() if isinstance(v, str) else v


class Scenario(_Strict):
    name: str
    description: str = ""
    config: Path | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the agent definition, as dotted keys (``tool_options.catalogue``)."""
    identity: str | None = None
    language: str | None = None
    turns: list[Turn] = Field(default_factory=list)
    sessions: list[Session] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    env: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Environment for the agent (e.g. a test token for a declared tool), over the process's."""
    expect_error: list[str] = Field(default_factory=list)
    """The agent must refuse to start, with an error containing each of these texts
    (e.g. a malformed catalogue); no turns are run."""
    path: Path = Path("scenario.yaml")

    @field_validator("expect_error", mode="before")
    @classmethod
    def _errors(cls, v: Any) -> Any:
        return _listify(v) or []

    @model_validator(mode="after")
    def _turns_or_sessions(self) -> Scenario:
        if self.expect_error and not (self.turns or self.sessions):
            return self
        if bool(self.turns) == bool(self.sessions):
            raise ValueError("give either turns (one session) or sessions (several), not both")
        if self.turns:
            self.sessions = [Session(turns=self.turns)]
            self.turns = []
        return self

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else self.path.parent / p


def load_scenario(path: Path) -> Scenario:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except Exception as e:
        raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario is a mapping with name and turns")
    try:
        return Scenario.model_validate({**data, "path": path})
    except ValidationError as e:
        lines = [f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        raise ConfigError("\n".join(lines)) from None


def find_scenarios(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"{p}: no such scenario file or folder")
    return out
