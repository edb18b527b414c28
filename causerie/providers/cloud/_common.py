"""Helpers shared by the cloud vendor modules."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..registry import BuildContext


def api_key(spec: ProviderSpec, ctx: BuildContext, *env_vars: str) -> str | None:
    if spec.api_key is not None:
        return spec.api_key.get_secret_value()
    for var in env_vars:
        if ctx.env.get(var):
            return ctx.env[var]
    return None


def kwargs(spec: ProviderSpec, **fixed: Any) -> dict[str, Any]:
    """Fixed arguments plus the user's ``options``, dropping unset values."""
    out = {k: v for k, v in fixed.items() if v is not None}
    out.update(spec.options)
    return out
