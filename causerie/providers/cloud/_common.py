"""Helpers shared by the cloud vendor modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel

from ...config.options import given, parse_options, signature_options
from ...config.spec import ProviderSpec
from ...errors import ProviderError
from ..info import BuildContext


def api_key(spec: ProviderSpec, ctx: BuildContext, *env_vars: str) -> str | None:
    if spec.api_key is not None:
        return spec.api_key.get_secret_value()
    for var in env_vars:
        if ctx.env.get(var):
            return ctx.env[var]
    return None


def plugin_options(module: str, cls: str) -> Callable[[], type[BaseModel]]:
    """The options model of ``module.cls``: its constructor's keyword arguments, typed as
    the plugin annotates them. Derived on use, so listing providers imports no SDK."""

    def model() -> type[BaseModel]:
        return _derived(module, cls)

    return model


@cache
def _derived(module: str, cls: str) -> type[BaseModel]:
    target = getattr(importlib.import_module(module), cls)
    return signature_options(target, f"{module}.{cls}")


def kwargs(
    spec: ProviderSpec, kind: str, options: Callable[[], type[BaseModel]], **fixed: Any
) -> dict[str, Any]:
    """Fixed arguments plus the user's validated ``options``, dropping unset values."""
    out = {k: v for k, v in fixed.items() if v is not None}
    try:
        out.update(given(parse_options(options(), spec.options, f"{kind}.options")))
    except ValueError as e:
        raise ProviderError(str(e)) from None
    return out
