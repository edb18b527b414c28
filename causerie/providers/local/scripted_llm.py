"""Registry entry for the offline ``scripted`` LLM (see :mod:`.scripted`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ...config.options import Options
from ...config.spec import ProviderSpec
from ..info import BuildContext, ProviderInfo


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

    opts: ScriptedOptions = PROVIDER.parse_options(spec)
    skills = [load_skill(n, opts.agent_name) for n in opts.skills]
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
