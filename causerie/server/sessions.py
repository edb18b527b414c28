"""Concurrent sessions: a fixed number of slots, each connection holds one from its first
byte to its last, and every background task the server starts has a name and an owner here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from ..agent.faults import Faults
from ..agent.pipeline import Pipeline
from ..agents.runtimes import AgentRuntimes
from ..config.loader import LoadedConfig
from ..events.channel import Listener
from ..plugins.stores import PluginStores
from ..transports.admission import AgentUnavailable, Busy
from ..transports.bridge import LiveSession, SendAudio, ToolsFactory

logger = logging.getLogger(__name__)

SessionHook = Callable[[LiveSession], None]


async def keep_stt_ready(stt: Any, sessions: int, progress: Callable[[str], None] | None) -> int:
    """Load the STT's per-session state (pocketsphinx: one decoder worker process, ~0.3 s
    each) for ``sessions`` sessions now, in parallel, and keep it: loading one in the middle
    of other conversations would delay them. Returns how many were prepared; 0 for an STT
    without such a pool."""
    pool: Any = getattr(stt, "pool", None)
    if sessions <= 0 or pool is None:
        return 0
    if progress is not None:
        progress(f"preparing {sessions} session(s): loading speech decoders")
    if hasattr(pool, "warm"):
        await asyncio.to_thread(pool.warm, sessions)
        return sessions
    if not all(hasattr(pool, a) for a in ("acquire", "release", "max_idle")):
        return 0
    pool.max_idle = max(pool.max_idle, sessions)
    held = [await pool.acquire() for _ in range(sessions)]
    for decoder in held:
        pool.release(decoder)
    return len(held)


class Slot:
    """One of ``max_sessions``. Release it exactly once (``release`` is idempotent)."""

    def __init__(self, manager: SessionManager, transport: str, agent: str | None = None) -> None:
        self.manager = manager
        self.transport = transport
        self.agent = agent
        """The agent's key (``None``: the default agent)."""
        self.live: LiveSession | None = None
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.manager._slots.discard(self)
            if not self.manager._slots:
                self.manager._no_session.set()

    @asynccontextmanager
    async def session(
        self,
        *,
        out_rate: int,
        send_audio: SendAudio,
        drop_audio: Callable[[], None],
        on_event: Listener,
    ) -> AsyncIterator[LiveSession]:
        """A started :class:`LiveSession`, closed (even when cancelled) on the way out.
        ``on_event`` receives every event from before the start (``ready``) to the close."""
        m = self.manager
        loaded, pipeline = m.loaded, m.pipeline
        tools = None
        if m.agents is not None:
            # The definition as saved now; a later save leaves this conversation alone.
            try:
                loaded, pipeline = await m.agents.resolve(self.agent)
                tools = None if m.tools_factory else await m.agents.tools(loaded)  # built once
            except Exception as e:
                # A file edited by hand whose provider cannot be built: the peer is told.
                m.faults.record("agent", e)  # logged and counted (/healthz)
                message = f"this agent cannot start a conversation now: {e}"
                on_event(
                    {
                        "type": "error",
                        "ts": time.time(),
                        "code": "agent_unavailable",
                        "message": message,
                        "fatal": True,
                    }
                )
                self.release()
                raise AgentUnavailable(message) from e
        live = LiveSession(
            loaded=loaded,
            pipeline=pipeline,
            transport=self.transport,
            out_rate=out_rate,
            send_audio=send_audio,
            drop_audio=drop_audio,
            faults=m.faults,
            max_input_seconds=m.max_input_seconds,
            tools_factory=m.tools_factory,
            plugin_stores=m.plugin_stores,
            tools=tools,
        )
        self.live = live
        unsubscribe = live.events.subscribe(on_event)
        try:
            for hook in m.session_hooks:
                hook(live)
            await live.start()
            yield live
        finally:
            try:
                await live.aclose()
            finally:
                unsubscribe()
                self.live = None
                self.release()


class SessionManager:
    def __init__(
        self,
        *,
        loaded: LoadedConfig,
        pipeline: Pipeline,
        max_sessions: int,
        faults: Faults | None = None,
        max_input_seconds: float = 1.0,
        tools_factory: ToolsFactory | None = None,
        session_hooks: list[SessionHook] | None = None,
        plugin_stores: PluginStores | None = None,
        agents: AgentRuntimes | None = None,
    ) -> None:
        self.loaded = loaded
        self.agents = agents
        """Every agent served (default: only ``loaded``, on ``pipeline``)."""
        self.pipeline = pipeline
        self.max_sessions = max_sessions
        self.faults = faults or Faults()
        self.max_input_seconds = max_input_seconds
        self.tools_factory = tools_factory
        """Per-session tools (they may keep state in ``SessionData.state``)."""
        self.plugin_stores = plugin_stores
        """The plugins' stores, shared by every session (default: each session its own)."""
        self.session_hooks = session_hooks or []
        """Called with each new session before it starts (e.g. a metrics recorder subscribing
        to ``live.events``)."""
        self._slots: set[Slot] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.total_sessions = 0
        self._no_session = asyncio.Event()
        self._no_session.set()
        self.closing = asyncio.Event()
        """Set when the server stops: connections close with a reason (:meth:`drain`)."""

    @property
    def active(self) -> int:
        return len(self._slots)

    def sessions(self) -> list[LiveSession]:
        return [s.live for s in self._slots if s.live is not None]

    def knows(self, agent: str | None) -> bool:
        return agent is None or (self.agents is not None and agent in self.agents)

    def reserve(self, transport: str, agent: str | None = None) -> Slot:
        """Take a slot now or raise :class:`Busy`; existing sessions are not touched.
        ``agent``: the agent's key (check it with :meth:`knows` first)."""
        if self.closing.is_set():
            raise Busy("the server is shutting down; try again in a moment")
        if len(self._slots) >= self.max_sessions:
            n = self.max_sessions
            raise Busy(f"the server is busy: {n} of {n} sessions in use; try again later")
        slot = Slot(self, transport, agent)
        self._slots.add(slot)
        self._no_session.clear()
        self.total_sessions += 1
        return slot

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a connection's lifetime in the background, owned here (cancelled on shutdown)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - shutdown bound
        """The server is stopping (SIGTERM): tell every client why (a fatal ``error`` event,
        code ``server_shutdown``), let WebSocket peers close with 1001 and a reason, and
        wait up to ``timeout`` for the sessions to end and record their last turns."""
        for live in self.sessions():  # first: the connections close once closing is set
            live.events.emit(
                "error",
                code="server_shutdown",
                message="the server is shutting down; reconnect in a moment",
                fatal=True,
            )
        self.closing.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._no_session.wait()

    async def aclose(self) -> None:
        """Shutdown: end every connection task, then any session still open."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        lives = self.sessions()
        if lives:
            await asyncio.gather(*(live.aclose() for live in lives), return_exceptions=True)

    def snapshot(self) -> dict[str, Any]:
        by_transport: dict[str, int] = {}
        by_agent: dict[str, int] = {}
        for s in self._slots:
            by_transport[s.transport] = by_transport.get(s.transport, 0) + 1
            agent = s.agent or (self.agents.default if self.agents else self.loaded.spec.name)
            by_agent[agent] = by_agent.get(agent, 0) + 1
        return {
            "active": self.active,
            "max_sessions": self.max_sessions,
            "by_transport": by_transport,
            "by_agent": by_agent,
            "total": self.total_sessions,
            "faults": dict(self.faults.counts),
            # Leak watch (bench/soak.py): both return to their idle level between sessions.
            "asyncio_tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
        }
