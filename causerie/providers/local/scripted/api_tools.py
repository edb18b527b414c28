"""Calls the agent's declared (HTTP API) tools, for any business, from their declaration.

A tool is asked for when the user says one of its ``triggers`` (default: its name, words
apart: ``order_status`` -> "order status"). Arguments come from the user's words using the
parameters' JSON Schema: an ``enum`` value that is said, a ``pattern`` that matches, a number
for ``integer``/``number``, and for other strings a word holding a digit (an order number, a
reference). A required argument that is missing is asked for, and the next turn answers it.
The tool's output (text written for the LLM) is said as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .brain import Reply, Response, ToolRequest, Turn, normalize, pick

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_REFERENCE = re.compile(r"[A-Za-z0-9][\w\-/]*\d[\w\-/]*|\d[\w\-/]*")


class ApiToolSkill:
    name = "api_tools"

    def respond(self, turn: Turn) -> Response | None:
        tools: Mapping[str, Any] = turn.resources.get("api_tools") or {}
        last = turn.last_agent_text() or ""
        for name, spec in tools.items():
            if name not in turn.tools:
                continue
            answering = any(last == self._ask(turn, spec, p) for p in spec.required)
            if not answering and not turn.has_any(*triggers(spec)):
                continue
            args = extract(turn.user_text, spec.properties, whole_answer=answering)
            missing = [p for p in spec.required if p not in args]
            if missing:
                return Reply(self._ask(turn, spec, missing[0]))
            return [ToolRequest(name, args)]
        return None

    def after_tools(self, turn: Turn) -> Reply | None:
        tools: Mapping[str, Any] = turn.resources.get("api_tools") or {}
        if not turn.tool_results or any(r.name not in tools for r in turn.tool_results):
            return None
        return Reply(" ".join(r.output for r in turn.tool_results))

    @staticmethod
    def _ask(turn: Turn, spec: Any, param: str) -> str:
        sub = spec.properties.get(param) or {}
        label = str(sub.get("title") or param.replace("_", " "))
        return pick(
            turn.language,
            f"To do that I need the {label}. What is it?",
            f"Pour cela, il me faut : {label}. Pouvez-vous me le donner ?",
        )


def triggers(spec: Any) -> list[str]:
    return list(spec.triggers) or [spec.name.replace("_", " ")]


def extract(text: str, properties: Mapping[str, Any], whole_answer: bool = False) -> dict[str, Any]:
    """Arguments found in ``text``; each piece of text is used for one argument at most."""
    out: dict[str, Any] = {}
    used: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in used)

    def take(pattern: re.Pattern[str]) -> str | None:
        for m in pattern.finditer(text):
            if free(m):
                used.append(m.span())
                return m.group(0)
        return None

    for name, sub in properties.items():
        if not isinstance(sub, Mapping):
            continue
        kind = sub.get("type")
        if isinstance(sub.get("enum"), list):
            said = f" {normalize(text)} "
            found = [v for v in sub["enum"] if f" {normalize(str(v))} " in said]
            if found:
                out[name] = found[0]
        elif isinstance(sub.get("pattern"), str):
            try:
                value = take(re.compile(sub["pattern"].strip("^$")))
            except re.error:
                value = None
            if value is not None:
                out[name] = value
        elif kind in ("integer", "number"):
            value = take(_NUMBER)
            if value is not None:
                num = float(value.replace(",", "."))
                out[name] = int(num) if kind == "integer" else num
        elif kind in ("string", None):
            value = take(_REFERENCE)
            if value is None and whole_answer and text.strip():
                value = text.strip().strip(".!?")
            if value is not None:
                out[name] = value
    return out
