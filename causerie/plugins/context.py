"""What hooks receive: the session as a plugin sees it, and the user's message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import EventChannel
from ..userdata import SessionData
from .stores import PluginStores


@dataclass
class UserMessage:
    text: str
    """The message as the LLM will read it (after earlier plugins' rewrites)."""
    original: str
    """The message as the user said it."""
    language: str = "en"
    context: list[str] = field(default_factory=list)
    reply: str | None = None
    blocked_by: str | None = None
    _plugin: str = ""

    def rewrite(self, text: str) -> None:
        self.text = text

    def add_context(self, note: str) -> None:
        """A note for the LLM, for this turn only (a system message before the user's)."""
        if note.strip():
            self.context.append(note.strip())

    def block(self, reply: str) -> None:
        """Answer ``reply`` instead of calling the LLM; later plugins are skipped."""
        self.reply = reply
        self.blocked_by = self._plugin or "plugin"

    @property
    def blocked(self) -> bool:
        return self.reply is not None

    @property
    def rewritten(self) -> bool:
        return self.text != self.original


@dataclass
class PluginSession:
    """The session as plugins see it. ``state`` is shared with the tools (cart, memory);
    namespace your own keys (e.g. ``state["sentiment"]``)."""

    data: SessionData
    data_dir: Path = Path("var")
    """Where a plugin may keep files (``tool_options.data_dir``, default ``var/``)."""
    base_dir: Path = Path(".")
    """The folder of agent.yaml: relative paths in options are relative to it."""
    history_source: Callable[[], list[tuple[str, str]]] = field(default=lambda: [])
    stores: PluginStores = field(default_factory=PluginStores)
    """The stores to keep data in across sessions: ``stores.get()`` is the agent's store
    (``metrics.store_url``), ``stores.get(url)`` another one (see :mod:`.stores`)."""

    @property
    def session_id(self) -> str:
        return self.data.session_id

    @property
    def language(self) -> str:
        return self.data.language

    @property
    def identity(self) -> str | None:
        return self.data.identity

    @property
    def state(self) -> dict[str, Any]:
        return self.data.state

    @property
    def events(self) -> EventChannel:
        return self.data.events

    @property
    def annotations(self) -> dict[str, Any]:
        ann: dict[str, Any] = self.data.state.setdefault("annotations", {})
        return ann

    def annotate(self, **values: Any) -> None:
        """Merge values into the session's annotations and tell listeners (the metrics
        recorder stores them with the session; a dashboard may show them)."""
        self.annotations.update(values)
        self.events.emit("session_annotations", annotations=dict(values))

    def history(self) -> list[tuple[str, str]]:
        """(role, text) of the conversation so far, oldest first; user and assistant only."""
        return self.history_source()
