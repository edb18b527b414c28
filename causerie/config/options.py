"""Typed ``options``: every provider, tool group and plugin declares one pydantic model.

A model forbids unknown keys, so ``causerie config check`` and the builders reject a misspelt
or mistyped option the same way, naming the field and the allowed options::

    stt.options.sampel_rate: unknown option; allowed: model, sample_rate, ...

Where no model is declared (a third party's provider or plugin), ``options`` stay a plain
dict, passed through unchecked.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from types import UnionType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

M = TypeVar("M", bound=BaseModel)


class Options(BaseModel):
    """Base of every options model: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionsError(ValueError):
    """``options`` do not fit their model; ``problems``: ``(field, message)`` per bad field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{field}: {msg}" for field, msg in problems))


def option_messages(
    model: type[BaseModel], err: ValidationError, where: str
) -> list[tuple[str, str]]:
    """``(where.field, message)`` for each error, with the allowed options for an unknown one."""
    out = []
    unions: set[str] = set()
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        top = str(e["loc"][0]) if e["loc"] else ""
        info = model.model_fields.get(top)
        hint = info.annotation if info else None
        union = typing.get_origin(hint) in (typing.Union, UnionType)
        field = f"{where}.{loc}" if loc else where
        if e["type"] == "extra_forbidden":
            names = _listed(allowed(model))
            msg = f"unknown option {e['loc'][-1]!r}; allowed: {names}"
        elif union and len(e["loc"]) > 1:  # one line per field, not per member of the union
            if top in unions:
                continue
            unions.add(top)
            field = f"{where}.{top}"
            msg = f"{e['input']!r} is not a valid {type_name(hint)} ({e['msg']})"
        elif e["type"].endswith(("_type", "_parsing")) and len(e["loc"]) == 1:
            msg = (
                f"{e['input']!r} is not a valid {type_name(hint) if hint else 'value'} ({e['msg']})"
            )
        else:
            msg = e["msg"].removeprefix("Value error, ")
        out.append((field, msg))
    return out


def _listed(names: list[str], most: int = 40) -> str:
    more = f", ... ({len(names) - most} more)" if len(names) > most else ""
    return ", ".join(names[:most]) + more if names else "(none)"


def allowed(model: type[BaseModel]) -> list[str]:
    """The option names, as written in agent.yaml (aliases included)."""
    return [f.alias or name for name, f in model.model_fields.items()]


def parse_options(model: type[M], options: Mapping[str, Any] | BaseModel | None, where: str) -> M:
    """``options`` validated by ``model``; :class:`OptionsError` names every bad field."""
    if isinstance(options, model):
        return options
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as e:
        raise OptionsError(option_messages(model, e, where)) from None


def given(options: BaseModel) -> dict[str, Any]:
    """The options the user wrote, validated, as keyword arguments (models left as they are)."""
    return {k: getattr(options, k) for k in options.model_fields_set}


def type_name(hint: Any) -> str:
    """'float' for livekit's ``NotGivenOr[float]``: the user only ever means the value."""
    if typing.get_origin(hint) is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) else ()
    if not args:
        return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
    names = [type_name(a) for a in args if "NotGiven" not in getattr(a, "__name__", str(a))]
    return " or ".join(names)


def signature_options(
    target: Callable[..., Any], name: str, exclude: tuple[str, ...] = ()
) -> type[Options]:
    """An options model from a constructor's keyword arguments and their annotations: how a
    vendor's livekit plugin declares its options. A type pydantic cannot check is left to the
    constructor."""
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)  # type: ignore[misc]
    except Exception:  # unresolvable forward references: the types go unchecked
        hints = {}
    fields: dict[str, Any] = {}
    for pname, p in sig.parameters.items():
        if pname.startswith("_") or pname in exclude:
            continue
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        fields[pname] = (_checkable(hints.get(pname, Any)), None)
    # ``**kwargs`` (deprecated names, in the plugins seen) is not offered: a typo would pass.
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)
    return create_model(name, __config__=config, **fields)


def _checkable(hint: Any) -> Any:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # a type pydantic cannot describe: the constructor will judge it
        return Any
    return hint
