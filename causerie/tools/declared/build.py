"""The agent's declared tools as livekit function tools, refused before any session starts
when an environment variable they need is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...config.api_tools import missing_env
from ...errors import ConfigError

if TYPE_CHECKING:
    from ...config.loader import LoadedConfig


def missing_vars(loaded: LoadedConfig) -> list[tuple[str, str]]:
    """(tool name, variable) for every ``${VAR}`` a declared tool uses that is unset."""
    return [(t.name, v) for t in loaded.spec.api_tools for v in missing_env(t, loaded.env)]


def build_declared(loaded: LoadedConfig) -> list[Any]:
    from .tool import build_api_tool

    missing = missing_vars(loaded)
    if missing:
        where = str(loaded.path) if loaded.path else "agent definition"
        raise ConfigError(
            "\n".join(
                f"{where}: api_tools[{tool}].request: environment variable {var} is not set "
                "(set it in the environment or in .env)"
                for tool, var in missing
            )
        )
    resources: dict[str, Any] = {}  # one dict for all: the scripted brain sees every tool
    return [build_api_tool(t, loaded.env, resources=resources) for t in loaded.spec.api_tools]
