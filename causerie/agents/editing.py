"""Edits of a definition from the studio: the round-trip editor of ``config set`` (comments
and settings the page does not know are kept), validation by the same typed spec as the CLI
with each error keyed by its field, and what a change needs before it can run."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.error import YAMLError

from ..config.edit import update_document
from ..config.loader import _plain, _yaml, field_messages
from ..config.spec import PROVIDER_KINDS, AgentSpec
from ..errors import ConfigError

FieldErrors = dict[str, str]


def parse_document(text: str) -> Any:
    """The round-trip document; ``FieldErrors`` under ``yaml`` when it is not YAML."""
    try:
        doc = _yaml().load(text)
    except YAMLError as e:
        raise InvalidDefinition({"yaml": f"not valid YAML: {str(e).splitlines()[0]}"}) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidDefinition(
            {"yaml": f"the top level must be a mapping of fields, got {type(doc).__name__}"}
        )
    return doc


class InvalidDefinition(ConfigError):
    """The edit is refused; ``fields`` maps each bad field (dotted) to why."""

    def __init__(self, fields: FieldErrors) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


def apply_changes(text: str, changes: Mapping[str, Any]) -> str:
    """``text`` with ``changes`` (dotted field -> value; None removes it) applied. A stage's
    provider is set before its model or voice (a new provider drops the old voice)."""
    doc = parse_document(text)
    ordered = sorted(changes.items(), key=lambda kv: not kv[0].endswith(".provider"))
    return update_document(doc, dict(ordered))


def validate(
    text: str, registry: Any, base_dir: Path, env: Mapping[str, str] | None = None
) -> AgentSpec:
    """The spec, or :class:`InvalidDefinition` naming every bad field (the spec's errors and
    unknown providers together, so the page shows them all at once)."""
    data = _plain(parse_document(text))
    errors: FieldErrors = _provider_errors(data, registry)
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as e:
        raise InvalidDefinition({**_field_errors(e, data), **errors}) from None
    from ..config.loader import LoadedConfig
    from ..runtime.checks import start_problems

    # What `config check` reports: unknown tools or plugins, a language the STT cannot hear.
    loaded = LoadedConfig(spec=spec, path=base_dir / "agent.yaml", env=dict(env or {}))
    for problem in start_problems(loaded, registry) if not errors else []:
        fix = f" (fix: {problem.fix})" if problem.fix else ""
        # tools[2] -> tools: the page shows the list's errors under the list.
        field = problem.field.split("[")[0] if problem.field.endswith("]") else problem.field
        errors.setdefault(field, problem.message + fix)
    if spec.instructions_file is not None:
        f = spec.instructions_file
        if not (f if f.is_absolute() else base_dir / f).is_file():
            errors["instructions_file"] = f"{f} does not exist"
    if errors:
        raise InvalidDefinition(errors)
    return spec


def _provider_errors(data: Any, registry: Any) -> FieldErrors:
    """Unknown provider names, read from the document itself (valid or not)."""
    errors: FieldErrors = {}
    if not isinstance(data, dict):
        return errors
    for kind in PROVIDER_KINDS:
        stage = data.get(kind)
        chain = stage if isinstance(stage, list) else [stage] if stage is not None else []
        for i, p in enumerate(chain):
            name = p.get("provider") if isinstance(p, dict) else p
            if not isinstance(name, str) or not name:
                continue
            name = name.strip().lower()
            if name in registry.names(kind) or _resolvable(registry, kind, name):
                continue
            field = f"{kind}[{i}].provider" if len(chain) > 1 else f"{kind}.provider"
            errors[field] = f"unknown provider {name!r}; allowed: {', '.join(registry.names(kind))}"
    return errors


def _resolvable(registry: Any, kind: str, name: str) -> bool:
    from ..config.loader import _resolvable as resolvable

    return resolvable(registry, kind, name)


def _field_errors(err: ValidationError, data: Any) -> FieldErrors:
    out: FieldErrors = {}
    for loc, msg in field_messages(err, data):
        out.setdefault(loc or "yaml", msg)
    return out


def needs_restart(spec: AgentSpec, registry: Any, env: Mapping[str, str]) -> list[str]:
    """Why the saved definition cannot run in this process: a provider whose extra is not
    installed (a restart after ``pip install``), or whose key is not set."""
    out = []
    for kind in PROVIDER_KINDS:
        for p in spec.chain(kind):
            try:
                info = registry.get(kind, p.provider)
            except Exception:
                continue
            status = info.status(env, p)
            if status == "missing_extra":
                extra = info.extra or info.name
                out.append(
                    f"{kind}: {p.provider} needs `pip install 'causerie[{extra}]'`"
                    " and a restart of the server"
                )
            elif status == "missing_key":
                out.append(
                    f"{kind}: {p.provider} needs the variable {info.key_requirement()} "
                    "(in .env or the environment) and a restart of the server"
                )
    return out


def diff(before: str, after: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (before)",
            tofile=f"{name} (after)",
        )
    )
