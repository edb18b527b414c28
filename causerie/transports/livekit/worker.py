"""``causerie worker``: a livekit-agents ``AgentServer`` running the agent of ``agent.yaml``.

Run programmatically (``AgentServer.run``), not through livekit's own CLI, so our argv,
options and errors stay ours. Models load in :func:`prewarm`, once per job process, before
any job is assigned; a job only builds its session (milliseconds). SIGTERM or SIGINT drains:
no new jobs, running conversations may finish (``drain_timeout``), then the worker closes;
a second signal stops waiting. The health endpoint is the ``AgentServer``'s own
(``GET /`` -> ``OK``, ``GET /worker`` -> JSON) on ``health_host:health_port``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...compat.livekit import connect_attempts
from .recording import recording
from .room_session import AgentRuntime, RoomSession
from .settings import Credentials, LiveKitUnreachable, WorkerSettings
from .tokens import check_identity

if TYPE_CHECKING:
    from livekit.agents import AgentServer, JobContext, JobProcess

logger = logging.getLogger(__name__)

RUNTIME_KEY = "causerie.runtime"
JOB_KEY = "causerie.job"
AGENTS_KEY = "causerie.agents"


@dataclass(frozen=True)
class JobConfig:
    """How a job process finds the agent definition. Picklable: job processes are started by
    a forkserver, and get this, not the parent's objects."""

    config_path: str | None = None
    env_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    join_timeout: float = 120.0
    """Seconds a job waits for a user to be in the room before it gives up."""
    agents_dir: str | None = None
    """The folder of agent definitions (``agents/``): a job may ask for one of them."""
    agent_name: str = ""
    """The worker's dispatch name; when it is an agent's key, that agent is the default."""


def load_runtime(job: JobConfig) -> AgentRuntime:
    """Load the agent definition and build every provider and tool (blocking: models load,
    the catalogue is indexed)."""
    from ...config.loader import load_config
    from ...providers.registry import Registry

    registry = Registry.from_entry_points()
    loaded = load_config(
        Path(job.config_path) if job.config_path else None,
        dotenv=Path(job.env_file) if job.env_file else None,
        overrides=job.overrides or None,
        registry=registry,
    )
    return AgentRuntime.build_blocking(loaded, registry)


def prewarm(job: JobConfig, proc: JobProcess) -> None:
    """The ``AgentServer``'s setup function: runs once in each job process, before its job."""
    t0 = time.perf_counter()
    runtime = load_runtime(job)
    proc.userdata[RUNTIME_KEY] = runtime
    proc.userdata[JOB_KEY] = job
    logger.info(
        "job process ready in %.1f s: %s", time.perf_counter() - t0, runtime.pipeline.describe()
    )


async def entrypoint(ctx: JobContext) -> None:
    """One job = one conversation in ``ctx.room``, with the process's prewarmed providers."""
    from livekit.agents import AutoSubscribe

    runtime: AgentRuntime = ctx.proc.userdata[RUNTIME_KEY]
    job: JobConfig = ctx.proc.userdata.get(JOB_KEY) or JobConfig()
    wanted = requested_agent(ctx.job.metadata, getattr(ctx.job.room, "metadata", ""))
    try:
        runtime = await runtime_for(ctx.proc.userdata, runtime, job, wanted)
    except KeyError:
        logger.error(
            "job %s asked for agent %r, which this worker does not serve", ctx.job.id, wanted
        )
        ctx.shutdown(f"unknown agent {wanted!r}")
        return
    await ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY)
    async with recording(runtime.loaded) as record:
        conversation = RoomSession.create(
            ctx.room,
            runtime,
            participant_identity=participant_from_metadata(ctx.job.metadata),
            hooks=[record] if record else [],
        )
        reason = await conversation.run(join_timeout=job.join_timeout)
    ctx.shutdown(reason)


def requested_agent(*metadata: str) -> str | None:
    """The agent key a dispatch (job metadata) or the room (room metadata) asks for, as
    ``{"agent": "shop"}``; the first one given wins."""
    for text in metadata:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            continue
        agent = data.get("agent") if isinstance(data, dict) else None
        if isinstance(agent, str) and agent:
            return agent
    return None


async def runtime_for(
    userdata: dict[str, Any], prewarmed: AgentRuntime, job: JobConfig, wanted: str | None
) -> AgentRuntime:
    """The runtime of this job's agent: the same definitions as ``causerie serve`` (the
    agent file and ``agents/*.yaml``), each as its file is now; the prewarmed pipeline is
    reused by every agent with the same providers. KeyError for an unknown agent."""
    from ...agents.folder import AgentFolder
    from ...agents.runtimes import AgentRuntimes

    runtimes: AgentRuntimes | None = userdata.get(AGENTS_KEY)
    if runtimes is None:
        main = prewarmed.loaded.path
        folder = AgentFolder.around(main, Path(job.agents_dir) if job.agents_dir else None)
        key = main.stem if main is not None else "agent"
        runtimes = AgentRuntimes(
            folder,
            registry=_registry(),
            env=prewarmed.loaded.env,
            preloaded={key: prewarmed.loaded},
        )
        runtimes.share(prewarmed.loaded, prewarmed.pipeline)
        userdata[AGENTS_KEY] = runtimes
    runtimes.refresh()
    chosen = wanted or (job.agent_name if job.agent_name in runtimes else None)
    if chosen is not None and chosen not in runtimes:
        raise KeyError(chosen)
    loaded, pipeline = await runtimes.resolve(chosen)
    return await prewarmed.derive(loaded, pipeline)


def _registry() -> Any:
    from ...providers.registry import Registry

    return Registry.from_entry_points()


def participant_from_metadata(metadata: str) -> str | None:
    """The identity a dispatch asked the agent to talk to (``causerie call`` sets it), if valid."""
    try:
        data = json.loads(metadata) if metadata else {}
    except ValueError:
        return None
    identity = data.get("participant_identity") if isinstance(data, dict) else None
    return identity if isinstance(identity, str) and check_identity(identity) is None else None


class JobCountLoad:
    """Load as the share of ``max_jobs`` in use: predictable capacity where CPU use is not
    (a conversation's CPU comes in bursts, on each turn)."""

    def __init__(self, max_jobs: int) -> None:
        self.max_jobs = max_jobs

    def __call__(self, server: AgentServer) -> float:
        return min(1.0, len(server.active_jobs) / self.max_jobs)


def build_server(
    creds: Credentials,
    settings: WorkerSettings,
    job: JobConfig,
    *,
    agent_name: str,
    setup: Callable[[JobProcess], Any] | None = None,
) -> AgentServer:
    """The configured ``AgentServer``; ``setup`` replaces :func:`prewarm` (tests)."""
    from livekit.agents import AgentServer
    from livekit.agents.job import JobExecutorType

    explicit = settings.dispatch == "explicit"
    if not explicit:
        # rtc_session falls back to this variable when agent_name is empty: automatic
        # dispatch must not be turned into explicit dispatch behind the user's back.
        os.environ.pop("LIVEKIT_AGENT_NAME", None)
    server = AgentServer(
        job_executor_type=JobExecutorType.THREAD
        if settings.executor == "thread"
        else JobExecutorType.PROCESS,
        # with max_jobs the load is the share of jobs in use: available while below 1
        load_threshold=1.0 if settings.max_jobs else settings.load_threshold,
        load_fnc=JobCountLoad(settings.max_jobs) if settings.max_jobs else None,
        drain_timeout=settings.drain_timeout,
        num_idle_processes=settings.idle_processes,
        initialize_process_timeout=settings.prewarm_timeout,
        max_retry=settings.max_retry,
        ws_url=creds.url,
        api_key=creds.api_key,
        api_secret=creds.secret,
        host=settings.health_host,
        port=settings.health_port,
        setup_fnc=setup or functools.partial(prewarm, job),
        preload_modules=["causerie.transports.livekit.room_session"],
    )
    server.rtc_session(entrypoint, agent_name=agent_name if explicit else "")
    return server


async def run_worker(
    server: AgentServer,
    creds: Credentials,
    *,
    stop: asyncio.Event | None = None,
    on_started: Callable[[AgentServer], None] | None = None,
) -> None:
    """Run until SIGTERM / SIGINT (or ``stop``), then drain and close. A server that cannot
    reach LiveKit raises :class:`LiveKitUnreachable`."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    force = asyncio.Event()

    def on_signal() -> None:
        (force if stop.is_set() else stop).set()

    handled = _add_signal_handlers(loop, on_signal)
    if on_started is not None:
        server.on("worker_started", lambda: on_started(server))
    run_task = asyncio.create_task(server.run(devmode=False), name="livekit.AgentServer.run")
    stop_task = asyncio.create_task(stop.wait(), name="worker.stop")
    try:
        await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if run_task.done():
            _raise_run_error(run_task, creds)
            return
        logger.info(
            "draining: no new jobs; waiting for %d conversation(s)", len(server.active_jobs)
        )
        await _drain(server, force)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        stop_task.cancel()
        await server.aclose()
        if not run_task.done():
            run_task.cancel()
        # Its outcome was handled above; gather() still re-raises a cancel aimed at us.
        await asyncio.gather(run_task, stop_task, return_exceptions=True)


async def _drain(server: AgentServer, force: asyncio.Event) -> None:
    drain = asyncio.create_task(server.drain(), name="livekit.AgentServer.drain")
    forced = asyncio.create_task(force.wait(), name="worker.force")
    try:
        await asyncio.wait({drain, forced}, return_when=asyncio.FIRST_COMPLETED)
        if drain.done():
            try:
                drain.result()
            except TimeoutError:
                logger.warning("drain timed out: closing the remaining conversations")
        else:
            logger.warning("second signal: closing the remaining conversations now")
    finally:
        for t in (drain, forced):
            t.cancel()
        await asyncio.gather(drain, forced, return_exceptions=True)


def _raise_run_error(run_task: asyncio.Task[None], creds: Credentials) -> None:
    error = run_task.exception()
    if error is None:
        return
    # Each attempt's error was logged as a warning on the way.
    retries = connect_attempts(error)
    if retries is not None:
        tries = retries + 1
        raise LiveKitUnreachable(creds.url, f"no connection after {tries} attempt(s)") from None
    raise error


def _add_signal_handlers(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> list[int]:
    handled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, callback)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests), or Windows
            pass
    return handled
