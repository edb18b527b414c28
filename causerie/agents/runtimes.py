"""Each agent's definition and pipeline, for new conversations.

A definition is loaded at start and again after each save (:meth:`AgentRuntimes.reload`):
a new conversation gets the latest; one already under way keeps the objects it started
with. Pipelines are built when an agent's first conversation starts and shared by every
agent with the same provider settings (same settings -> one model in memory)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..agent.pipeline import Pipeline, build_pipeline, import_vendor_modules
from ..config.loader import LoadedConfig, load_config
from ..config.spec import PROVIDER_KINDS
from .folder import AgentFolder, version_of

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def pipeline_key(loaded: LoadedConfig) -> str:
    """What a pipeline is built from: two agents with the same key share one."""
    spec = loaded.spec
    stages = {k: [p.model_dump(mode="json") for p in spec.chain(k)] for k in PROVIDER_KINDS}
    scripted = any(p.provider == "scripted" for p in spec.chain("llm"))
    return json.dumps(
        {
            "stages": stages,
            "language": spec.language,
            "detection": spec.turn.detection,
            "fallback": spec.fallback.model_dump(mode="json"),
            # The offline LLM speaks the agent's name.
            "name": spec.name if scripted else None,
        },
        sort_keys=True,
    )


@dataclass
class Definition:
    key: str
    path: Path
    loaded: LoadedConfig
    version: str


class AgentRuntimes:
    """Definitions by key and the pipelines they share; closed with :meth:`aclose`."""

    def __init__(
        self,
        folder: AgentFolder,
        *,
        registry: Any,
        env: dict[str, str] | None = None,
        preloaded: dict[str, LoadedConfig] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.folder = folder
        self.registry = registry
        self.env = env
        """The environment the definitions are loaded with (None: the process's + .env)."""
        self.progress = progress
        self._defs: dict[str, Definition] = {}
        self._pipelines: dict[str, asyncio.Future[Pipeline]] = {}
        self._owned: set[str] = set()
        for key, path in folder.definitions().items():
            loaded = (preloaded or {}).get(key) or self._load(path)
            self._defs[key] = Definition(key, path, loaded, version_of(path.read_bytes()))
        if not self._defs:
            for key, loaded in (preloaded or {}).items():  # a definition with no file
                self._defs[key] = Definition(key, Path(f"{key}.yaml"), loaded, version_of(""))

    def _load(self, path: Path) -> LoadedConfig:
        if self.env is None:
            return load_config(path, registry=self.registry)
        return load_config(path, environ=self.env, dotenv=None, registry=self.registry)

    @property
    def default(self) -> str:
        return next(iter(self._defs))

    def keys(self) -> list[str]:
        return list(self._defs)

    def __contains__(self, key: object) -> bool:
        return key in self._defs

    def get(self, key: str | None) -> Definition:
        """``None``: the default agent. KeyError for an unknown one."""
        return self._defs[key or self.default]

    def share(self, loaded: LoadedConfig, pipeline: Pipeline) -> None:
        """A pipeline built elsewhere (the server's default, a test's): reused, not closed."""
        fut: asyncio.Future[Pipeline] = asyncio.get_running_loop().create_future()
        fut.set_result(pipeline)
        self._pipelines.setdefault(pipeline_key(loaded), fut)

    def reload(self, key: str) -> Definition:
        """Read ``key``'s file again (after a save): new conversations use it."""
        old = self._defs.get(key)
        path = old.path if old is not None else self.folder.path(key)
        loaded = self._load(path)
        d = Definition(key, path, loaded, version_of(path.read_bytes()))
        self._defs[key] = d
        return d

    def forget(self, key: str) -> None:
        self._defs.pop(key, None)

    def refresh(self) -> None:
        """Pick up agents added to the folder (``causerie agents new`` while serving)."""
        for key, path in self.folder.definitions().items():
            if key not in self._defs:
                try:
                    self._add(key, path)
                except Exception as e:  # a broken new file must not stop the others
                    logger.warning("agent %s (%s) not loaded: %s", key, path, e)

    def _add(self, key: str, path: Path) -> None:
        self._defs[key] = Definition(key, path, self._load(path), version_of(path.read_bytes()))

    async def resolve(self, key: str | None) -> tuple[LoadedConfig, Pipeline]:
        """The definition and the pipeline a new conversation with ``key`` uses."""
        d = self.get(key)
        loaded = d.loaded
        pkey = pipeline_key(loaded)
        fut = self._pipelines.get(pkey)
        if fut is None or (fut.done() and (fut.cancelled() or fut.exception() is not None)):
            fut = asyncio.get_running_loop().create_future()
            self._pipelines[pkey] = fut
            self._owned.add(pkey)
            try:
                # livekit plugins register on the main thread only; models load off it.
                import_vendor_modules(loaded, self.registry)
                pipeline = await asyncio.to_thread(
                    build_pipeline, loaded, self.registry, self.progress
                )
            except BaseException as e:
                # Failed or cancelled: the next conversation tries again.
                if isinstance(e, Exception):
                    fut.set_exception(e)
                    fut.exception()  # retrieved: no "never retrieved" warning
                else:
                    fut.cancel()
                self._owned.discard(pkey)
                raise
            fut.set_result(pipeline)
        return loaded, await asyncio.shield(fut)

    async def aclose(self) -> None:
        for pkey in list(self._owned):
            fut = self._pipelines.get(pkey)
            if fut is not None and fut.done() and not fut.cancelled() and not fut.exception():
                await fut.result().aclose()
        self._owned.clear()
