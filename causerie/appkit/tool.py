"""``AppTool``: a function tool that also offers the scripted brain some resources
(the catalogue, the declared tools' specs), kept in our own subclass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from livekit.agents import llm


class AppTool(llm.FunctionTool):
    """A bound function tool plus what it offers the scripted brain (e.g. the catalogue).

    Our own subclass carries the metadata, so nothing is hung on livekit's objects; a real
    LLM sees an ordinary function tool (same id, schema and call)."""

    def __init__(self, tool: llm.FunctionTool, resources: Mapping[str, Any]) -> None:
        super().__init__(tool, tool.info)  # calling the wrapper calls the bound tool
        self.resources: Mapping[str, Any] = resources


class AppRawTool(llm.RawFunctionTool):
    """:class:`AppTool` for a tool declared with a raw JSON Schema (declared HTTP tools)."""

    def __init__(self, tool: llm.RawFunctionTool, resources: Mapping[str, Any]) -> None:
        super().__init__(tool, tool.info)
        self.resources: Mapping[str, Any] = resources


def resources_of(tools: Sequence[Any]) -> dict[str, Any]:
    """Everything the app tools in ``tools`` offer the brain, merged."""
    out: dict[str, Any] = {}
    for t in tools:
        if isinstance(t, (AppTool, AppRawTool)):
            out.update(t.resources)
    return out
