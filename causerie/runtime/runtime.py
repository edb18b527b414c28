"""The process-level half of the composition root: what every conversation of a process
shares, built once from the loaded definition.

    runtime = await Runtime.build(loaded, registry, progress=print)   # models load off the loop
    conversation = Conversation(runtime, transport="websocket")        # one per session
    ...
    await runtime.aclose()

A transport never builds a session itself: it creates a :class:`~.conversation.Conversation`
from a runtime and gives it audio in, audio out and an event sink.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..agent.faults import Faults
from ..agent.pipeline import (
    PIPELINE_ORDER,
    Pipeline,
    Progress,
    build_pipeline,
    build_stage,
    built_vad,
    import_vendor_modules,
)
from ..appkit.registry import AppRegistry
from ..config.loader import LoadedConfig
from ..config.spec import ProviderKind
from ..plugins.stores import PluginStores
from ..userdata import SessionData

if TYPE_CHECKING:
    from livekit.agents.voice import io

    from ..agent.voice_agent import AgentTools
    from ..metrics.runtime import MetricsRuntime
    from ..providers.info import Stage
    from ..providers.registry import Registry

logger = logging.getLogger(__name__)

ToolsFactory = Callable[[SessionData], "AgentTools"]
ClientAction = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]
"""``(session, event) -> {"ok": bool, ...}``: a click in the client (add to cart...)."""
SessionHook = Callable[[Any], None]
"""Called with each conversation (or the transport object wrapping it) before its session
starts, in the task that starts it: a metrics recorder attaches here."""
IOFactory = Callable[[SessionData], "tuple[io.AudioInput | None, io.AudioOutput | None]"]


class InstalledApps:
    """Clicks go to the installed app that takes them (``causerie.apps`` entry points,
    read once per runtime, on its first click: a runtime made per session costs nothing
    until then; docs/APPS.md)."""

    def __init__(self) -> None:
        self._apps: AppRegistry | None = None

    async def __call__(self, session: Any, event: dict[str, Any]) -> dict[str, Any]:
        if self._apps is None:
            self._apps = AppRegistry.from_entry_points()
        return await self._apps.client_action(session, event)


@dataclass
class Runtime:
    """Providers, tools, plugins' stores and hooks shared by a process's conversations.
    Build with :meth:`build` (off the event loop); the constructor takes parts already built
    (a pipeline shared by a server's agents, a test's fakes)."""

    loaded: LoadedConfig
    pipeline: Pipeline
    faults: Faults = field(default_factory=Faults)
    """The process's fault counters and observers; each conversation reports to them."""
    tools: AgentTools | None = None
    """The agent's function tools, built once (catalogue and knowledge base indexed);
    None: built per conversation from ``loaded`` (or ``tools_factory``)."""
    tools_factory: ToolsFactory | None = None
    """Per-session tools, instead of ``tools`` (they may keep state in ``SessionData``)."""
    plugin_stores: PluginStores | None = None
    """The plugins' stores, shared by every conversation (None: each its own)."""
    session_hooks: list[SessionHook] = field(default_factory=list)
    metrics: MetricsRuntime | None = None
    """The record sink (store, Prometheus, live feed): every conversation is recorded."""
    client_action: ClientAction = field(default_factory=InstalledApps)
    io_factory: IOFactory | None = None
    """Custom audio I/O instead of a LiveKit room's tracks (tests); None in production."""
    owns_pipeline: bool = False

    @classmethod
    async def build(
        cls,
        loaded: LoadedConfig,
        registry: Registry,
        *,
        progress: Progress | None = None,
        stages: Sequence[ProviderKind] = PIPELINE_ORDER,
        pipeline: Pipeline | None = None,
        **parts: Any,
    ) -> Runtime:
        """Build the providers (``stages`` of them: ``("llm",)`` for a text conversation)
        and the tools in worker threads, so the loop keeps serving while models load."""
        if pipeline is None:
            # livekit plugins register on the main thread only; models load off it.
            import_vendor_modules(loaded, registry)
            pipeline = await asyncio.to_thread(_build_pipeline, loaded, registry, progress, stages)
            parts.setdefault("owns_pipeline", True)
        try:
            tools = await asyncio.to_thread(build_tools_for, loaded)
        except BaseException:
            if parts.get("owns_pipeline"):
                await pipeline.aclose()
            raise
        return cls(loaded, pipeline, tools=tools, **parts)

    @classmethod
    def build_blocking(
        cls, loaded: LoadedConfig, registry: Registry, progress: Progress | None = None
    ) -> Runtime:
        """:meth:`build` for a thread that may block (a LiveKit job process's prewarm)."""
        import_vendor_modules(loaded, registry)
        pipeline = build_pipeline(loaded, registry, progress)
        return cls(loaded, pipeline, tools=build_tools_for(loaded), owns_pipeline=True)

    async def derive(self, loaded: LoadedConfig, pipeline: Pipeline) -> Runtime:
        """This runtime for another definition (an agent of ``agents/``) on its pipeline:
        same faults, hooks, stores and client actions; its own tools (built off the loop)."""
        if loaded is self.loaded and pipeline is self.pipeline:
            return self
        tools = None if self.tools_factory else await asyncio.to_thread(build_tools_for, loaded)
        return dataclasses.replace(
            self, loaded=loaded, pipeline=pipeline, tools=tools, owns_pipeline=False
        )

    def tools_for(self, data: SessionData) -> AgentTools | None:
        """One conversation's tools; None lets the agent build what ``loaded`` enables."""
        if self.tools_factory is not None:
            return self.tools_factory(data)
        return None if self.tools is None else list(self.tools)

    async def aclose(self) -> None:
        if self.owns_pipeline:
            await self.pipeline.aclose()


def build_tools_for(loaded: LoadedConfig) -> AgentTools:
    """The tools ``loaded`` enables (blocking: the catalogue and knowledge base load and
    are indexed); a bad catalogue or tool name raises ConfigError here."""
    from ..tools import build_tools

    return list(build_tools(loaded))


def _build_pipeline(
    loaded: LoadedConfig,
    registry: Registry,
    progress: Progress | None,
    stages: Sequence[ProviderKind],
) -> Pipeline:
    if tuple(stages) == PIPELINE_ORDER:
        return build_pipeline(loaded, registry, progress)
    built: dict[str, Stage] = {}
    for kind in stages:
        built[kind] = build_stage(kind, loaded, registry, progress, vad=built_vad(built))
    return Pipeline.from_stages(built)
