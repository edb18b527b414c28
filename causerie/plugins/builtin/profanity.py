"""Profanity filter, both ways: a rude user message gets a polite answer instead of the LLM
(and its text is masked in the history); a rude word in the agent's text is masked.

Options (``plugin_options.profanity_filter``): ``words`` (replaces the built-in EN + FR list),
``extra_words`` (added to it), ``allow`` (removed from it), ``mask`` (default ``"***"``),
``block`` (default true; false only masks the user's words), ``reply_en`` / ``reply_fr``.
A word ending in ``*`` matches any ending (``fuck*``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from ...config.options import Options as _Options
from ...tools.textnorm import strip_accents
from ..context import PluginSession, UserMessage
from ..hookspecs import hookimpl


class Options(_Options):
    """``plugin_options.profanity_filter``."""

    words: list[str] | None = Field(default=None, description="Replaces the built-in list.")
    extra_words: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)
    mask: str = "***"
    block: bool = True
    reply_en: str | None = None
    reply_fr: str | None = None


DEFAULT_WORDS = (
    "fuck* shit* bitch* asshole* bastard* crap cunt* dick* motherfuck* bullshit wanker* "
    "merde* putain* connard* connasse* salope* encule* batard* enfoire* con conne chier bordel"
).split()
DEFAULT_REPLY = {
    "en": "Let's keep our conversation friendly, please. How can I help you?",
    "fr": "Restons courtois, s'il vous plaît. Comment puis-je vous aider ?",
}
_cache: dict[tuple[str, ...], re.Pattern[str]] = {}


def word_list(options: dict[str, Any]) -> list[str]:
    words = [str(w).lower() for w in options.get("words", DEFAULT_WORDS)]
    words += [str(w).lower() for w in options.get("extra_words", [])]
    allow = {str(w).lower() for w in options.get("allow", [])}
    return [w for w in words if w and w not in allow]


def pattern(words: list[str]) -> re.Pattern[str]:
    key = tuple(sorted(set(words)))
    if key not in _cache:
        parts = [
            re.escape(strip_accents(w[:-1])) + r"\w*"
            if w.endswith("*")
            else re.escape(strip_accents(w))
            for w in key
        ]
        _cache[key] = re.compile(
            r"(?<!\w)(?:" + "|".join(parts or ["(?!)"]) + r")(?!\w)", re.IGNORECASE
        )
    return _cache[key]


def find(text: str, options: dict[str, Any]) -> list[tuple[int, int]]:
    """Spans of rude words; matched on an accent-free copy of the same length."""
    plain = "".join(strip_accents(c) or c for c in text)
    if len(plain) != len(text):  # a character decomposed oddly: match on the text itself
        plain = text
    return [m.span() for m in pattern(word_list(options)).finditer(plain)]


def mask(text: str, options: dict[str, Any]) -> str:
    out, last = [], 0
    for start, end in find(text, options):
        out.append(text[last:start])
        out.append(str(options.get("mask", "***")))
        last = end
    out.append(text[last:])
    return "".join(out)


@hookimpl
def causerie_user_message(
    message: UserMessage, session: PluginSession, options: dict[str, Any]
) -> None:
    if not find(message.text, options):
        return
    count = session.annotations.get("profanity_count", 0) + 1
    session.annotate(profanity_count=count)
    message.rewrite(mask(message.text, options))
    if options.get("block", True):
        lang = session.language
        message.block(
            str(options.get(f"reply_{lang}") or DEFAULT_REPLY.get(lang, DEFAULT_REPLY["en"]))
        )


@hookimpl
def causerie_agent_text(text: str, session: PluginSession, options: dict[str, Any]) -> str | None:
    if not find(text, options):
        return None
    session.annotate(
        agent_profanity_masked=session.annotations.get("agent_profanity_masked", 0) + 1
    )
    return mask(text, options)
