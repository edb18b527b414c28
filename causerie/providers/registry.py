"""Name -> builder registry for STT, LLM, TTS and VAD providers.

Every provider, built-in or third-party, is a :class:`ProviderInfo` published under the
``causerie.providers`` entry-point group as ``"<kind>.<name>"``. Modules that hold a
``ProviderInfo`` must import their vendor SDK inside ``build`` only, so listing providers
stays cheap and works without the optional extras installed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol

from ..config.spec import PROVIDER_KINDS, ProviderKind, ProviderSpec
from ..errors import MissingExtraError, ProviderError, UnknownProviderError
from .info import BuildContext, ProviderInfo, Stage
from .plugin_adapter import PluginAdapter

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "causerie.providers"


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

    def build(self, kind: ProviderKind, spec: ProviderSpec, ctx: BuildContext) -> Stage:
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
