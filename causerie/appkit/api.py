"""What an app declares: its tool groups and their options, brain skills and client actions.

An app is a package whose entry point (group ``causerie.apps``) is an :class:`App`. Built-in
apps (the shop, the appointment desk) register exactly like a third party's. Importing the
entry point must stay cheap: an app imports its tools, data and skills inside its methods.
See docs/APPS.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

if TYPE_CHECKING:
    from livekit.agents import llm

    from ..providers.local.scripted.brain import Skill


class AppOptions(BaseModel):
    """Base of an app's ``tool_options`` model: unknown keys are refused, values frozen.

    ``data_dir`` is where an app writes its files (``causerie test`` points it at a
    temporary folder). Relative paths are resolved against the folder of agent.yaml (the
    validation context's ``base_dir``) by :func:`resolve`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="where the app writes its files")

    @field_validator("data_dir", mode="after")
    @classmethod
    def _data_dir(cls, v: Path, info: ValidationInfo) -> Path:
        return resolve(v, info)


def resolve(path: Path, info: ValidationInfo) -> Path:
    """``path`` (``~`` expanded) relative to agent.yaml's folder, for a path field's
    ``field_validator(mode="after")``."""
    base = (info.context or {}).get("base_dir")
    path = path.expanduser()
    return base / path if base is not None and not path.is_absolute() else path


class AppContext(BaseModel):
    """What an app gets to build its tools besides its options."""

    model_config = ConfigDict(frozen=True)

    base_dir: Path
    """Folder of agent.yaml: relative paths in options are relative to it."""
    language: str = "en"


class App:
    """Base of an app. Subclass it, fill the class attributes, override what you offer."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    groups: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Tool group -> its tool names, in the order an LLM should see them."""
    aliases: ClassVar[Mapping[str, str]] = {}
    """Other names for groups (``kb`` -> ``knowledge``)."""
    skills: ClassVar[tuple[str, ...]] = ()
    """Scripted-brain skills this app offers (``llm.options.skills`` names)."""

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(t for group in self.groups.values() for t in group)

    def options_model(self) -> type[AppOptions]:
        """The typed ``tool_options`` of this app's tool groups."""
        return AppOptions

    def build_tools(
        self, options: AppOptions, names: Sequence[str], ctx: AppContext
    ) -> list[llm.FunctionTool]:
        """The tools ``names`` (a subset of :attr:`tools`, in that order)."""
        return []

    def skill(self, name: str, *, agent_name: str) -> Skill:
        """The scripted brain's skill ``name`` (one of :attr:`skills`)."""
        raise KeyError(name)

    async def client_action(self, session: Any, event: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a click in the page. Return ``{"ok", "action", "message"}``, or ``None`` when
        the event is not for this app."""
        return None
