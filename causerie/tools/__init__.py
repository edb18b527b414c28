"""The shop assistant's function tools: catalogue search and presentation, comparison, a
knowledge base, selection and cart, session memory, and the conclusion (order or not).

``build_tools(loaded)`` returns the tools ``agent.yaml`` enables; ``handle_client_action``
applies a click in the client. See docs/TOOLS.md.
"""

from __future__ import annotations

from typing import Any

from .registry import ALL_TOOLS, TOOL_GROUPS, build_tools, expand

__all__ = ["ALL_TOOLS", "TOOL_GROUPS", "build_tools", "expand", "handle_client_action"]


async def handle_client_action(session: Any, event: dict[str, Any]) -> dict[str, Any]:
    """See :func:`causerie.tools.actions.handle_client_action`."""
    from .actions import handle_client_action as handle

    return await handle(session, event)
