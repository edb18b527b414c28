"""Writing a declaration: a new ``tools/NAME.yaml``, or into an agent file's ``api_tools``
list with comments and every other setting kept (ruamel round trip), validated as a whole
and written atomically, so a refused write changes nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ...errors import ConfigError


def write_tool(path: Path, decl: dict[str, Any], *, source: str, force: bool = False) -> Path:
    from ...config.edit import _atomic_write, validate_text
    from ...config.loader import _yaml, read_yaml

    name = decl["name"]
    doc = read_yaml(path) if path.exists() else None
    if doc is None or "request" in doc:  # a file of its own (new, or one tool)
        if doc is not None and not force:
            raise ConfigError(f"{path}: exists (tool {doc.get('name')!r}); add --force to replace")
        new = CommentedMap(decl)
        new.yaml_set_start_comment(f"Imported from {source} by `causerie tools import`.")
        _atomic_write(path, _dump(_yaml(), new))
        return path
    tools = doc.get("api_tools")
    if tools is None:
        tools = doc["api_tools"] = CommentedSeq()
    if not isinstance(tools, list):
        raise ConfigError(f"{path}: api_tools must be a list")
    same = [i for i, t in enumerate(tools) if isinstance(t, dict) and t.get("name") == name]
    if same and not force:
        raise ConfigError(f"{path}: api_tools already has {name!r}; add --force to replace")
    if same:
        tools[same[0]] = decl
    else:
        tools.append(decl)
    text = _dump(_yaml(), doc)
    validate_text(text, str(path), base_dir=path.parent)
    _atomic_write(path, text)
    return path


def _dump(yaml: Any, doc: Any) -> str:
    yaml.width = 4096  # a template on one line, as written
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()
