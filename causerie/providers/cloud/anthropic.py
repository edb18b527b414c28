"""Anthropic Claude LLM."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo
from ._common import api_key, kwargs, plugin_options

_OPTIONS = plugin_options("livekit.plugins.anthropic", "LLM")


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    import livekit.plugins.anthropic as anthropic

    return anthropic.LLM(
        **kwargs(
            spec,
            "llm",
            _OPTIONS,
            model=spec.model or "claude-3-5-haiku-latest",
            api_key=api_key(spec, ctx, "ANTHROPIC_API_KEY"),
            base_url=spec.base_url,
        )
    )


PROVIDER = ProviderInfo(
    kind="llm",
    name="anthropic",
    build=_build,
    description="Anthropic Claude models",
    modules=("livekit.plugins.anthropic",),
    extra="anthropic",
    key_env=("ANTHROPIC_API_KEY",),
    models=("claude-3-5-haiku-latest", "claude-sonnet-4-0"),
    options=_OPTIONS,
)
