"""Registry entry for the offline ``scripted`` LLM (see :mod:`.scripted`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ...config.options import Options
from ...config.spec import ProviderSpec
from ..registry import BuildContext, ProviderInfo


class ScriptedOptions(Options):
    """``llm.options`` of the scripted brain."""

    skills: list[str] = Field(default_factory=lambda: ["smalltalk"])
    agent_name: str = "Causerie"

    @field_validator("skills", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return (
            [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value
        )


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
    options=ScriptedOptions,
)
