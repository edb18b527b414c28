"""The platform's function tools: the registry that gives an agent the tools of its apps
(docs/APPS.md) and its declared HTTP tools (``declared/``, docs/TOOLS.md).

``build_tools(loaded)`` returns the tools ``agent.yaml`` enables; ``handle_client_action``
hands a click in the client to the app that takes it.
"""

from __future__ import annotations

from typing import Any

from .registry import build_tools, expand

__all__ = ["ALL_TOOLS", "TOOL_GROUPS", "build_tools", "expand", "handle_client_action"]


def __getattr__(name: str) -> Any:
    if name in ("ALL_TOOLS", "TOOL_GROUPS"):
        from . import registry

        return getattr(registry, name)
    raise AttributeError(name)


async def handle_client_action(session: Any, event: dict[str, Any]) -> dict[str, Any]:
    """A click in the client, applied by the installed app that takes it (the dispatcher of
    :class:`causerie.apps.AppRegistry`)."""
    from ..appkit.registry import AppRegistry

    return await AppRegistry.from_entry_points().client_action(session, event)
