"""Each agent's definition and pipeline, for new conversations.

A definition is loaded at start and again when its file changes (a studio save, a hand
edit): a new conversation gets the latest; one already under way keeps the objects it
started with. A stage (VAD, STT, LLM, TTS) is built when the first conversation needing it
starts, and shared by every agent with the same settings for it (one model in memory)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..agent.pipeline import (
    PIPELINE_ORDER,
    Pipeline,
    build_stage,
    build_turn_detector,
    built_vad,
    import_vendor_modules,
)
from ..config.loader import LoadedConfig, load_config
from ..config.spec import ProviderKind
from .folder import AgentFolder, version_of

if TYPE_CHECKING:
    from livekit.agents.inference import TurnDetector

    from ..agent.lm_turn import LmTurnDetector
    from ..agent.voice_agent import AgentTools
    from ..providers.info import Stage
    from ..providers.registry import Registry

T = TypeVar("T")

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def stage_key(kind: ProviderKind, loaded: LoadedConfig, vad_key: str = "") -> str:
    """What one stage is built from: agents whose stage has the same key share its object
    (one speech model in memory for every agent that uses it)."""
    from ..agent.pipeline import _chain

    spec = loaded.spec
    return json.dumps(
        {
            "kind": kind,
            "chain": [p.model_dump(mode="json") for p in _chain(kind, spec)],
            "language": spec.language,
            "timeout": spec.fallback.timeout,
            "vad": vad_key if kind == "stt" else "",  # a chain may wrap the STT with the VAD
        },
        sort_keys=True,
    )


class StageFailed(Exception):
    """A stage's provider could not be built (a bad voice, a missing model...)."""

    def __init__(self, kind: str, error: Exception) -> None:
        self.kind = kind
        self.error = error
        super().__init__(f"{kind}: {error}")


@dataclass
class Definition:
    key: str
    path: Path
    loaded: LoadedConfig
    version: str
    error: str | None = None
    """Why the file as it is now does not load (``loaded`` is then the last good one)."""


class AgentRuntimes:
    """Definitions by key and the pipelines they share; closed with :meth:`aclose`."""

    def __init__(
        self,
        folder: AgentFolder,
        *,
        registry: Registry,
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
        self._stages: dict[str, asyncio.Future[Any]] = {}
        self._owned: set[str] = set()
        self._tools: dict[int, tuple[LoadedConfig, asyncio.Future[AgentTools]]] = {}
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
        """A pipeline built elsewhere (the server's default, a worker's prewarm): its stages
        are reused by the agents that match them, and not closed here."""
        loop = asyncio.get_running_loop()
        for key, obj in self._stage_keys(loaded, pipeline).items():
            fut: asyncio.Future[Any] = loop.create_future()
            fut.set_result(obj)
            self._stages.setdefault(key, fut)

    def _stage_keys(
        self, loaded: LoadedConfig, pipeline: Pipeline
    ) -> dict[str, Stage | TurnDetector | LmTurnDetector | None]:
        vad = stage_key("vad", loaded)
        out: dict[str, Stage | TurnDetector | LmTurnDetector | None] = {vad: pipeline.vad}
        out[stage_key("stt", loaded, vad)] = pipeline.stt
        out[stage_key("llm", loaded)] = pipeline.llm
        out[stage_key("tts", loaded)] = pipeline.tts
        if pipeline.turn_detector is not None:
            out[turn_key(loaded)] = pipeline.turn_detector
        return out

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
        """Pick up agents added to the folder (``causerie agents new`` while serving) and
        drop those removed (the default agent stays)."""
        defs = self.folder.definitions()
        for key, d in list(self._defs.items()):
            if key not in defs and key != self.default and not d.path.exists():
                self._defs.pop(key)
        for key, path in defs.items():
            if key not in self._defs:
                try:
                    self._add(key, path)
                except Exception as e:  # a broken new file must not stop the others
                    logger.warning("agent %s (%s) not loaded: %s", key, path, e)

    def _add(self, key: str, path: Path) -> None:
        self._defs[key] = Definition(key, path, self._load(path), version_of(path.read_bytes()))

    def current(self, key: str | None) -> Definition:
        """``key``'s definition as its file is now: read again when the file changed (a hand
        edit, ``config set``, another server's studio); a file that no longer loads leaves
        the last good definition in use, with a warning."""
        d = self.get(key)
        try:
            version = version_of(d.path.read_bytes())
        except OSError:
            return d  # removed or unreadable: the last good definition goes on
        if version == d.version:
            return d
        try:
            return self.reload(d.key)
        except Exception as e:
            logger.warning("agent %s: %s changed but does not load (%s)", d.key, d.path, e)
            d.version = version  # warn once per change
            d.error = str(e)
            return d

    async def resolve(self, key: str | None) -> tuple[LoadedConfig, Pipeline]:
        """The definition and the pipeline a new conversation with ``key`` uses: the file
        as it is now; each stage built once for all the agents that share it."""
        loaded = self.current(key).loaded
        return loaded, await self.pipeline(loaded)

    async def pipeline(self, loaded: LoadedConfig) -> Pipeline:
        """``loaded``'s pipeline from the shared stages, building those not built yet (a
        save calls it first, so a stage that cannot be built is refused at the field, and
        the next conversation finds its models loaded). :class:`StageFailed` names the
        stage that failed."""
        # livekit plugins register on the main thread only; models load off it.
        import_vendor_modules(loaded, self.registry)
        built: dict[str, Stage] = {}
        vad_key = stage_key("vad", loaded)
        for kind in PIPELINE_ORDER:
            skey = stage_key(kind, loaded, vad_key)
            build = functools.partial(
                build_stage, kind, loaded, self.registry, self.progress, vad=built_vad(built)
            )
            try:
                built[kind] = await self._stage(skey, build)
            except Exception as e:
                raise StageFailed(kind, e) from e
        turn = None
        if loaded.spec.turn.detection != "vad":
            build_turn = functools.partial(build_turn_detector, loaded.spec.turn)
            turn = await self._stage(turn_key(loaded), build_turn)
        spec = loaded.spec
        chains: dict[str, list[str]] = {
            k: [p.label for p in spec.chain(k)] for k in PIPELINE_ORDER if len(spec.chain(k)) > 1
        }
        return Pipeline.from_stages(built, turn_detector=turn, chains=chains)

    async def tools(self, loaded: LoadedConfig) -> AgentTools:
        """``loaded``'s function tools, built once per definition in a thread (the catalogue
        and knowledge base are read and indexed there, never on the loop at a session's
        start) and shared by its conversations (their state is in ``SessionData``)."""
        from ..runtime import build_tools_for

        entry = self._tools.get(id(loaded))
        if entry is None or entry[0] is not loaded or _failed(entry[1]):
            current = {id(d.loaded) for d in self._defs.values()}
            for k in [k for k in self._tools if k not in current]:  # replaced definitions
                del self._tools[k]
            fut = asyncio.ensure_future(asyncio.to_thread(build_tools_for, loaded))
            entry = (loaded, fut)
            self._tools[id(loaded)] = entry
        return list(await asyncio.shield(entry[1]))

    async def _stage(self, key: str, build: Callable[[], T]) -> T:
        fut = self._stages.get(key)
        if fut is None or (fut.done() and (fut.cancelled() or fut.exception() is not None)):
            fut = asyncio.get_running_loop().create_future()
            self._stages[key] = fut
            self._owned.add(key)
            try:
                obj = await asyncio.to_thread(build)
            except BaseException as e:
                # Failed or cancelled: the next conversation tries again.
                if isinstance(e, Exception):
                    fut.set_exception(e)
                    fut.exception()  # retrieved: no "never retrieved" warning
                else:
                    fut.cancel()
                self._owned.discard(key)
                raise
            fut.set_result(obj)
        return await asyncio.shield(fut)

    async def aclose(self) -> None:
        """Close the stages built here (not the shared ones)."""
        for key in list(self._owned):
            fut = self._stages.get(key)
            if fut is None or not fut.done() or fut.cancelled() or fut.exception():
                continue
            close = getattr(fut.result(), "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    logger.exception("closing stage %s", key)
        self._owned.clear()


def turn_key(loaded: LoadedConfig) -> str:
    """The turn detector's key among the shared stages (its settings: one per value)."""
    turn = loaded.spec.turn
    return f"turn:{turn.detection}" + (f":{turn.lm_threshold}" if turn.detection == "lm" else "")


def _failed(fut: asyncio.Future[Any]) -> bool:
    return fut.done() and (fut.cancelled() or fut.exception() is not None)
