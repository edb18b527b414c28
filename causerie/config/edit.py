"""``config set``: change one field of agent.yaml, keeping comments and every other setting.

The new document is validated as a whole before anything is written, and written atomically
(temp file + rename), so a failed ``set`` leaves the file exactly as it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from ..errors import ConfigError
from .loader import _plain, _yaml, check_providers, format_validation_error, read_yaml
from .spec import PROVIDER_KINDS, AgentSpec

# Shorthands: `config set llm openai/gpt-4o-mini`, `config set plugins a,b`.
_LIST_KEYS = {"plugins", "tools"}


def parse_value(key: str, raw: str) -> Any:
    """A YAML scalar ('0.3' -> 0.3, 'true' -> True, 'null' -> None); lists for list keys."""
    if key in _LIST_KEYS:
        raw = raw.strip()
        if raw.startswith("["):
            return _plain(_yaml().load(raw))
        return [s.strip() for s in raw.split(",") if s.strip()]
    value = _yaml().load(raw) if raw.strip() else ""
    if isinstance(value, (dict, list)):
        return _plain(value)
    return value


def expand(key: str, raw: str) -> dict[str, Any]:
    """``llm openai/gpt-4o-mini`` -> {llm.provider: openai, llm.model: gpt-4o-mini}."""
    if key in PROVIDER_KINDS:
        provider, _, model = raw.partition("/")
        if not provider:
            raise ConfigError(f"{key}: expected PROVIDER or PROVIDER/MODEL, got {raw!r}")
        out: dict[str, Any] = {f"{key}.provider": provider.strip()}
        out[f"{key}.model"] = model.strip() or None
        return out
    return {key: parse_value(key, raw)}


def _assign(doc: CommentedMap, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = doc
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = CommentedMap()
            cur[p] = nxt
        elif not isinstance(nxt, dict):
            raise ConfigError(f"{dotted}: {p} is not a section (it holds a {type(nxt).__name__})")
        cur = nxt
    leaf = parts[-1]
    if value is None:
        cur.pop(leaf, None)
    else:
        cur[leaf] = value


def set_values(path: Path, updates: Mapping[str, Any], registry: Any = None) -> str:
    """Apply ``updates`` (dotted key -> value) to ``path``; returns the new text."""
    doc = read_yaml(path) if path.exists() else CommentedMap()
    text = update_document(doc, updates)
    validate_text(text, str(path), registry, base_dir=path.parent)
    _atomic_write(path, text)
    return text


def update_document(doc: Any, updates: Mapping[str, Any]) -> str:
    """Apply ``updates`` to a round-trip document (comments kept); returns its new text.
    Not validated: the caller validates before writing."""
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap(doc)
    for key, value in updates.items():
        kind, _, leaf = key.partition(".")
        root, section = doc, doc.get(kind)
        if kind in PROVIDER_KINDS and isinstance(section, list) and section:
            # A fallback chain: a set changes its first provider and keeps the rest.
            root, section, key = section[0], section[0], leaf
        if leaf == "provider" and kind in PROVIDER_KINDS:
            if (
                isinstance(section, dict)
                and str(section.get("provider", "")).lower() != str(value).lower()
            ):
                # The old vendor's model/voice would be wrong for the new one.
                for stale in ("model", "voice", "options"):
                    section.pop(stale, None)
        _assign(root, key, value)
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


def validate_text(
    text: str, where: str, registry: Any = None, base_dir: Path | None = None
) -> AgentSpec:
    from .loader import LoadedConfig

    data = _plain(_yaml().load(text) or {})
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, {}, where)) from None
    if registry is not None:
        check_providers(LoadedConfig(spec=spec, path=Path(where)), registry)
    return spec


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def overridden(
    path: Path,
    updates: Mapping[str, Any],
    dotenv: str | Path | None = ".env",
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Warnings for values just written to ``path`` that the environment or ``.env`` overrides
    (precedence: environment > .env > agent.yaml): which variable wins and how to change it."""
    from .loader import ENV_OVERRIDES, load_config

    try:
        loaded = load_config(path, environ=environ, dotenv=dotenv)
    except ConfigError as e:
        return [f"with the environment and {dotenv}, the definition is invalid: {e}"]
    effective = loaded.spec.model_dump(mode="python")
    out = []
    for key, value in updates.items():
        kind = key.partition(".")[0]
        shadow = [s for s in (key, f"{kind}.provider") if s in loaded.sources]
        used = _at(effective, key)
        if value is None or not shadow or _same(used, value):
            continue
        var = [v for v, d in ENV_OVERRIDES.items() if d == shadow[0] and loaded.env.get(v)][-1]
        if var in loaded.layers.environ:
            where, fix = "the environment", f"unset {var} (`unset {var}`)"
            if var in loaded.layers.dotenv:
                fix += f" and delete the {var}= line in {dotenv}"
        else:
            where, fix = str(dotenv), f"delete or edit the {var}= line in {dotenv}"
        out.append(
            f"{key} = {value!r} is written to {path}, but {var} in {where} wins "
            f"(environment > .env > agent.yaml), so the agent "
            + (f"uses {used!r}; " if used is not None else "ignores it; ")
            + f"to use {path}'s value, {fix}"
        )
    return out


def _at(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return bool(a == b)
