"""Name -> builder registry for STT, LLM, TTS and VAD providers.

Every provider, built-in or third-party, is a :class:`ProviderInfo` published under the
``causerie.providers`` entry-point group as ``"<kind>.<name>"``. Modules that hold a
``ProviderInfo`` must import their vendor SDK inside ``build`` only, so listing providers
stays cheap and works without the optional extras installed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from ..config.options import OptionsError, parse_options
from ..config.spec import PROVIDER_KINDS, ProviderKind, ProviderSpec
from ..errors import MissingExtraError, MissingKeyError, ProviderError, UnknownProviderError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "causerie.providers"


@dataclass(frozen=True)
class BuildContext:
    """What a builder may use besides its own spec."""

    language: str = "en"
    """The agent's language (e.g. 'en', 'fr-FR'); a stage's own ``language`` wins."""
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    base_dir: Path | None = None
    """Folder of agent.yaml, for relative paths in options."""
    vad: Any = None
    """The pipeline's VAD (built first), for an STT that ends utterances on its own VAD."""

    def language_for(self, spec: ProviderSpec) -> str:
        return spec.language or self.language


Builder = Callable[[ProviderSpec, BuildContext], Any]
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


class Resolver(Protocol):
    """Providers without a registered module (:class:`.plugin_adapter.PluginAdapter`)."""

    def names(self, kind: str) -> list[str]: ...

    def infos(self) -> list[ProviderInfo]: ...

    def resolve(self, kind: str, name: str) -> ProviderInfo | None: ...


class Registry:
    """Holds ProviderInfo by (kind, name). Built from entry points, or by hand in tests.

    Entry points are named ``<kind>.<name>``, so names are known without importing
    anything; a provider's module is imported the first time it is looked up. Registered
    providers win; a name they lack goes to the ``resolver`` (any livekit plugin).
    """

    def __init__(
        self, providers: Iterable[ProviderInfo] = (), *, resolver: Resolver | None = None
    ) -> None:
        self._providers: dict[tuple[str, str], ProviderInfo] = {}
        self._lazy: dict[tuple[str, str], EntryPoint] = {}
        self._resolver = resolver
        for info in providers:
            self.register(info)

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP, *, plugins: bool = True) -> Registry:
        """``plugins``: also offer every livekit plugin through the generic adapter."""
        resolver = None
        if plugins:
            from .plugin_adapter import PluginAdapter

            resolver = PluginAdapter()
        reg = cls(resolver=resolver)
        for ep in entry_points(group=group):
            kind, dot, name = ep.name.partition(".")
            if not dot or kind not in PROVIDER_KINDS or not name:
                logger.warning(
                    "ignoring provider entry point %r: name must be '<kind>.<name>'", ep.name
                )
                continue
            reg._lazy[(kind, name.lower())] = ep
        return reg

    def register(self, info: ProviderInfo) -> None:
        if info.kind not in PROVIDER_KINDS:
            raise ValueError(f"bad provider kind {info.kind!r}")
        self._providers[(info.kind, info.name)] = info

    def _load(self, key: tuple[str, str]) -> ProviderInfo | None:
        ep = self._lazy.pop(key, None)
        if ep is None:
            return self._providers.get(key)
        try:
            info = ep.load()
        except Exception as e:
            # One broken third-party package must not hide every other provider.
            logger.warning("skipping provider %s (%s): %s", ep.name, ep.value, e)
            logger.debug("provider load failure", exc_info=True)
            return None
        if not isinstance(info, ProviderInfo) or (info.kind, info.name) != key:
            logger.error("entry point %s does not point at a ProviderInfo for %s", ep.name, ep.name)
            return None
        self.register(info)
        return info

    def names(self, kind: str) -> list[str]:
        names = {name for k, name in [*self._providers, *self._lazy] if k == kind}
        if self._resolver is not None:
            names.update(self._resolver.names(kind))
        return sorted(names)

    def all(self) -> list[ProviderInfo]:
        for key in list(self._lazy):
            self._load(key)
        infos = dict(self._providers)
        for info in self._resolver.infos() if self._resolver else ():
            infos.setdefault((info.kind, info.name), info)
        return [infos[k] for k in sorted(infos)]

    def get(self, kind: str, name: str) -> ProviderInfo:
        info = self._load((kind, name.lower()))
        if info is None and self._resolver is not None:
            info = self._resolver.resolve(kind, name.lower())
        if info is None:
            raise UnknownProviderError(kind, name, self.names(kind))
        return info

    def build(self, kind: ProviderKind, spec: ProviderSpec, ctx: BuildContext) -> Any:
        info = self.get(kind, spec.provider)
        info.check(spec, ctx.env)
        info.parse_options(spec)  # every provider's options are checked, whatever its builder does
        try:
            return info.build(spec, ctx)
        except ProviderError:
            raise
        except ImportError as e:  # an extra half-installed
            raise MissingExtraError(
                kind, spec.provider, info.extra, e.name or str(e), info.package
            ) from e
        except (ValueError, TypeError, FileNotFoundError) as e:
            raise ProviderError(f"{kind} provider {spec.provider!r}: {e}") from e
