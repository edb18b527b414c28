"""The platform's function tools: the registry that gives an agent the tools of its apps
(docs/APPS.md) and its declared HTTP tools (``declared/``, docs/TOOLS.md).

``build_tools(loaded)`` returns the tools ``agent.yaml`` enables. A click in the client goes
to the app that takes it (``Runtime.client_action``, :class:`causerie.appkit.AppRegistry`).
"""

from __future__ import annotations

from typing import Any

from .registry import build_tools, expand

__all__ = ["ALL_TOOLS", "TOOL_GROUPS", "build_tools", "expand"]


def __getattr__(name: str) -> Any:
    if name in ("ALL_TOOLS", "TOOL_GROUPS"):
        from . import registry

        return getattr(registry, name)
    raise AttributeError(name)
