"""The rule engine's vocabulary: a turn in, a reply or tool requests out."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolResult:
    name: str
    arguments: str
    output: str
    is_error: bool


@dataclass
class Turn:
    """What a skill sees of the conversation."""

    user_text: str
    language: str
    """Base language: 'en' or 'fr'."""
    tools: frozenset[str]
    """Names of the function tools available this turn."""
    tool_results: list[ToolResult] = field(default_factory=list)
    """Results of the tool calls just made, when the LLM is called back after tools."""
    history: list[tuple[str, str]] = field(default_factory=list)
    """(role, text) of earlier messages, oldest first."""
    instructions: str = ""
    """System messages, joined (instructions, then any per-turn context notes)."""
    past_tools: list[ToolResult] = field(default_factory=list)
    """Tool calls of earlier turns with their outputs, oldest first ("it": the last product)."""
    resources: Mapping[str, Any] = field(default_factory=dict)
    """What the tools offer the brain (``AppTool`` resources), e.g. the catalogue."""

    @property
    def words(self) -> list[str]:
        return normalize(self.user_text).split()

    def has_any(self, *keys: str) -> bool:
        """True if any key (a word, or several words in a row) appears in the user text."""
        text = f" {' '.join(self.words)} "
        return any(f" {normalize(k)} " in text for k in keys)

    def last_agent_text(self) -> str | None:
        for role, text in reversed(self.history):
            if role == "assistant" and text:
                return text
        return None


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class ToolRequest:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


Response = Reply | list[ToolRequest]


class Skill(Protocol):
    """A group of intents. Skills are asked in order; the first non-None answer wins."""

    name: str

    def respond(self, turn: Turn) -> Response | None: ...

    def after_tools(self, turn: Turn) -> Reply | None:
        """Phrase the results of tool calls this skill asked for (None: not mine)."""
        ...


def normalize(text: str) -> str:
    """Lower case, no accents, no punctuation: 'Ça va ?' -> 'ca va'."""
    t = unicodedata.normalize("NFKD", text.lower())
    t = "".join(c for c in t if not unicodedata.combining(c))
    t = re.sub(r"[^a-z0-9' ]+", " ", t).replace("'", " ")
    return re.sub(r"\s+", " ", t).strip()


def pick(language: str, en: str, fr: str) -> str:
    return fr if language == "fr" else en


def first(items: Iterable[Response | None]) -> Response | None:
    for item in items:
        if item is not None:
            return item
    return None
