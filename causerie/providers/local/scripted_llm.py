"""Registry entry for the offline ``scripted`` LLM (see :mod:`.scripted`)."""

from __future__ import annotations

from typing import Any

from ...config.spec import ProviderSpec
from ..registry import BuildContext, ProviderInfo


def _build(spec: ProviderSpec, ctx: BuildContext) -> Any:
    from .scripted.llm import ScriptedLLM, load_skill

    names = spec.options.get("skills", ["smalltalk"])
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("llm.options.skills must be a list of skill names")
    agent_name = str(spec.options.get("agent_name", "Causerie"))
    skills = [load_skill(n, agent_name) for n in names]
    return ScriptedLLM(skills=skills, language=ctx.language_for(spec))


PROVIDER = ProviderInfo(
    kind="llm",
    name="scripted",
    build=_build,
    description="Deterministic offline brain: intent rules, tool calls, EN and FR templates",
    offline=True,
    models=("smalltalk",),
)
