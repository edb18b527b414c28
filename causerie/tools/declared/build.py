"""The agent's declared tools as livekit function tools, refused before any session starts
when an environment variable they need is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import ConfigError
from .spec import missing_env

if TYPE_CHECKING:
    from ...config.loader import LoadedConfig


def env_problems(loaded: LoadedConfig) -> list[tuple[str, str]]:
    """(field, message) for every ``${VAR}`` a declared tool uses that is unset."""
    out = []
    for tool in loaded.spec.api_tools:
        for var in missing_env(tool, loaded.env):
            out.append(
                (
                    f"api_tools[{tool.name}].request",
                    f"environment variable {var} is not set (the tool uses ${{{var}}}); "
                    "set it in the environment or in .env",
                )
            )
    return out


def build_declared(loaded: LoadedConfig) -> list[Any]:
    from .tool import build_api_tool

    problems = env_problems(loaded)
    if problems:
        where = str(loaded.path) if loaded.path else "agent definition"
        raise ConfigError("\n".join(f"{where}: {f}: {m}" for f, m in problems))
    resources: dict[str, Any] = {}  # one dict for all: the scripted brain sees every tool
    return [build_api_tool(t, loaded.env, resources=resources) for t in loaded.spec.api_tools]
