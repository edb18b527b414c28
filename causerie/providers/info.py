"""What a provider is: :class:`ProviderInfo` (its builder, extra, keys, options model) and the
:class:`BuildContext` a builder gets.

Apart from :mod:`.registry` so that resolvers (:mod:`.plugin_adapter`) and provider modules
depend on these types without depending on the registry that uses them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel

from ..config.options import OptionsError, parse_options
from ..config.spec import ProviderKind, ProviderSpec
from ..errors import MissingExtraError, MissingKeyError, ProviderError

if TYPE_CHECKING:  # livekit loads with the first provider, not with the CLI
    from livekit.agents import llm as lk_llm
    from livekit.agents import stt as lk_stt
    from livekit.agents import tts as lk_tts
    from livekit.agents import vad as lk_vad

Stage: TypeAlias = "lk_stt.STT | lk_llm.LLM | lk_tts.TTS | lk_vad.VAD"
"""What a builder hands the pipeline: livekit's base class for its kind."""


@dataclass(frozen=True)
class BuildContext:
    """What a builder may use besides its own spec."""

    language: str = "en"
    """The agent's language (e.g. 'en', 'fr-FR'); a stage's own ``language`` wins."""
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    base_dir: Path | None = None
    """Folder of agent.yaml, for relative paths in options."""
    vad: lk_vad.VAD | None = None
    """The pipeline's VAD (built first), for an STT that ends utterances on its own VAD."""

    def language_for(self, spec: ProviderSpec) -> str:
        return spec.language or self.language


Builder = Callable[[ProviderSpec, BuildContext], Stage]
OptionsModel = type[BaseModel] | Callable[[], type[BaseModel]]
"""An options model, or (for a vendor SDK's constructor) a function that derives it on use."""

Status = Literal["ready", "missing_extra", "missing_key"]


@dataclass(frozen=True)
class ProviderInfo:
    kind: ProviderKind
    name: str
    build: Builder
    description: str = ""
    modules: tuple[str, ...] = ()
    """Importable modules the builder needs; a missing one means a missing extra."""
    extra: str | None = None
    """The causerie extra that installs ``modules``."""
    key_env: tuple[str, ...] = ()
    """Environment variables that may hold the API key (any one is enough)."""
    key_groups: tuple[tuple[str, ...], ...] = ()
    """Where one variable is not enough (Azure: key and region): alternatives, any group
    whose variables are all set is enough. Replaces ``key_env`` when given."""
    key_options: tuple[str, ...] = ()
    """``options`` keys that authenticate instead (e.g. a credentials file)."""
    package: str | None = None
    """The PyPI package behind ``modules``, for listings (``livekit-plugins-x``)."""
    offline: bool = False
    models: tuple[str, ...] = ()
    """Well-known model names, for help texts; others may still work."""
    voices: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    """Base language codes ('en', 'fr') the bundled model handles; empty: any language."""
    own_model_options: tuple[str, ...] = ()
    """``options`` keys that replace the bundled model (then ``languages`` does not apply)."""
    model_hint: str = ""
    """An example ``model`` value for fix-it messages (e.g. a local model folder)."""
    options: OptionsModel | None = None
    """What ``options`` may hold (:mod:`causerie.config.options`); None: unchecked."""

    @property
    def qualified(self) -> str:
        return f"{self.kind}.{self.name}"

    def missing_module(self) -> str | None:
        for mod in self.modules:
            try:
                if importlib.util.find_spec(mod) is None:
                    return mod
            except (ImportError, ValueError):
                return mod
        return None

    def has_key(self, spec: ProviderSpec | None, env: Mapping[str, str]) -> bool:
        if not self.key_env:
            return True
        if spec is not None and spec.api_key is not None and spec.api_key.get_secret_value():
            return True
        if spec is not None and any(k in spec.options for k in self.key_options):
            return True
        if self.key_groups:
            return any(all(env.get(var) for var in group) for group in self.key_groups)
        return any(env.get(var) for var in self.key_env)

    def key_requirement(self) -> str:
        """'A or B', or 'A and B, or C' for key groups."""
        text = (
            ", or ".join(" and ".join(g) for g in self.key_groups)
            if self.key_groups
            else " or ".join(self.key_env)
        )
        return text

    def status(self, env: Mapping[str, str], spec: ProviderSpec | None = None) -> Status:
        if self.missing_module() is not None:
            return "missing_extra"
        # A local OpenAI-compatible server needs no real key.
        if spec is not None and spec.base_url and self.name == "ollama":
            return "ready"
        if not self.has_key(spec, env):
            return "missing_key"
        return "ready"

    def supports_language(self, language: str, spec: ProviderSpec | None = None) -> bool:
        """Whether the provider can handle ``language`` ('fr-FR' counts as 'fr') as configured."""
        if not self.languages:
            return True
        if spec is not None and any(k in spec.options for k in self.own_model_options):
            return True  # the user's own model: its language is theirs to know
        return language.split("-")[0].lower() in self.languages

    def options_model(self) -> type[BaseModel] | None:
        """The declared model; None when there is none, or its vendor SDK is not installed
        (then the missing extra is the error to report)."""
        if self.options is None or isinstance(self.options, type):
            return self.options
        if self.missing_module() is not None:
            return None
        try:
            return self.options()
        except (ImportError, RuntimeError):
            # A half-installed extra, or a livekit plugin first imported off the main thread
            # (livekit refuses): building it says so.
            return None

    def parse_options(self, spec: ProviderSpec, where: str | None = None) -> Any:
        """``spec.options`` validated by :meth:`options_model` (a dict when none is declared);
        a bad option raises :class:`ProviderError` naming the field and the allowed ones."""
        try:
            return self._options(spec, where)
        except OptionsError as e:
            raise ProviderError(str(e)) from None

    def option_problems(
        self, spec: ProviderSpec, stage: str | None = None
    ) -> list[tuple[str, str]]:
        """``(field, message)`` per bad option, for ``config check`` (``stage``: 'llm[1]')."""
        if not spec.options:
            return []  # nothing to check: no vendor SDK imported for it
        try:
            self._options(spec, f"{stage or self.kind}.options")
        except OptionsError as e:
            return e.problems
        return []

    def _options(self, spec: ProviderSpec, where: str | None) -> Any:
        model = self.options_model()
        if model is None:
            return dict(spec.options)
        return parse_options(model, spec.options, where or f"{self.kind}.options")

    def check(self, spec: ProviderSpec | None, env: Mapping[str, str]) -> None:
        """Raise the error a user can act on, or return if the provider can be built."""
        missing = self.missing_module()
        if missing is not None:
            raise MissingExtraError(self.kind, self.name, self.extra, missing, self.package)
        if self.status(env, spec) == "missing_key":
            raise MissingKeyError(
                self.kind, self.name, self.key_env, self.key_requirement(), self.key_options
            )
