"""Which tools an agent gets: ``tools:`` in agent.yaml names groups or single tools.

``tools: [all]``, ``tools: [search, cart]`` or ``tools: [search_products, cart_add]``.
Groups and tools come from the installed apps (``causerie.apps`` entry points, see
docs/APPS.md); the agent's declared HTTP tools (``api_tools``) are the platform's own.
Unknown names are a :class:`~causerie.errors.ConfigError` that lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..appkit.registry import AppRegistry
    from ..config.loader import LoadedConfig


def _apps(apps: AppRegistry | None) -> AppRegistry:
    if apps is not None:
        return apps
    from ..appkit.registry import AppRegistry

    return AppRegistry.from_entry_points()


def __getattr__(name: str) -> Any:
    # Read on use from the installed apps (kept for callers of the former constants).
    if name == "TOOL_GROUPS":
        return _apps(None).groups
    if name == "ALIASES":
        return _apps(None).aliases
    if name == "ALL_TOOLS":
        return _apps(None).tools
    raise AttributeError(name)


def expand(names: Iterable[str], apps: AppRegistry | None = None) -> list[str]:
    """Group and tool names -> tool names, in the canonical order, without duplicates."""
    return _apps(apps).expand(names)


def declared_tool_names(loaded: LoadedConfig) -> list[str]:
    """The agent's declared (HTTP API) tools; naming one in ``tools:`` is allowed."""
    return [t.name for t in loaded.spec.api_tools]


def shadowed_tools(loaded: LoadedConfig, apps: AppRegistry | None = None) -> list[str]:
    """A message per declared tool named like an installed app's tool (the LLM would get
    two tools of one name)."""
    builtin = set(_apps(apps).tools)
    return [
        f"api_tools: {name!r} is the name of a built-in tool; choose another"
        for name in declared_tool_names(loaded)
        if name in builtin
    ]


def build_tools(loaded: LoadedConfig, apps: AppRegistry | None = None) -> list[Any]:
    """The app tools ``loaded.spec.tools`` enables, then the declared ``api_tools``
    (empty list: none)."""
    spec = loaded.spec
    apps = _apps(apps)
    shadowing = shadowed_tools(loaded, apps)
    if shadowing:
        where = str(loaded.path) if loaded.path else "agent definition"
        raise ConfigError("\n".join(f"{where}: {message}" for message in shadowing))
    declared = set(declared_tool_names(loaded))
    names = [n for n in spec.tools if n.strip() not in declared]
    out: list[Any] = []
    if names:
        out += apps.build_tools(names, dict(spec.tool_options), loaded.base_dir, spec.base_language)
    if spec.api_tools:
        from .declared.build import build_declared

        out += build_declared(loaded)
    return out
