"""``tools/*.yaml`` next to agent.yaml: one declared tool per file (or a list under
``api_tools:``), merged into the agent's ``api_tools``. Errors name the file and the tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...errors import ConfigError
from .spec import ApiToolSpec

TOOLS_DIR = "tools"


def tool_files(base_dir: Path) -> list[Path]:
    folder = base_dir / TOOLS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def read_tool_files(base_dir: Path) -> list[dict[str, Any]]:
    """The raw declarations of every file, each validated on its own first so that an
    error says which file and which tool."""
    from ...config.loader import _plain, read_yaml

    out: list[dict[str, Any]] = []
    for path in tool_files(base_dir):
        data = _plain(read_yaml(path))
        items = data.get("api_tools") if set(data) == {"api_tools"} else [data]
        if not isinstance(items, list):
            raise ConfigError(f"{path}: api_tools must be a list of tools")
        for i, raw in enumerate(items):
            where = f"{path}: tool {raw.get('name', i)!r}" if isinstance(raw, dict) else str(path)
            try:
                ApiToolSpec.model_validate(raw)
            except ValidationError as e:
                raise ConfigError(format_tool_errors(e, where)) from None
            out.append(raw)
    return out


def format_tool_errors(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{where}: {loc + ': ' if loc else ''}{msg}")
    return "\n".join(lines)
