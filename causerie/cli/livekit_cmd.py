"""LiveKit mode: ``causerie worker``, ``causerie join``, ``causerie call``.

All three read ``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET`` (environment or
.env); a missing one is named and the command exits 2 before anything starts.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import click

from .agents_cmd import agents_option
from .common import CliState, parse_sets, set_option, wav_input_option, wav_output_option

agent_name_option = click.option(
    "--agent-name",
    default=None,
    metavar="NAME",
    help="Worker name for explicit dispatch [env LIVEKIT_AGENT_NAME; default causerie].",
)


def _livekit(env: dict[str, str], agent_name: str | None = None) -> tuple[Any, Any]:
    from ..transports.livekit.settings import LiveKitSettings

    settings = LiveKitSettings.from_env(env, agent_name=agent_name)
    return settings, settings.require()


def _environment(env_file: Path) -> dict[str, str]:
    """.env under the process environment (``call`` reads no agent.yaml: the agent is elsewhere)."""
    from ..config.sources import Layers

    return Layers.read(dotenv=env_file).env


def _job_config(
    state: CliState,
    loaded: Any,
    sets: tuple[str, ...],
    agents_dir: Path | None = None,
    agent_name: str = "",
) -> Any:
    """What job processes load: the agent file, or the agent named like the worker
    (``--agent-name shop`` -> agents/shop.yaml), and the folder a dispatch may pick from."""
    from ..agents.folder import AgentFolder
    from ..transports.livekit.worker import JobConfig

    env_file = state.env_file.resolve() if state.env_file.is_file() else None
    folder = AgentFolder.around(loaded.path, agents_dir)
    path = folder.definitions().get(agent_name) or loaded.path
    return JobConfig(
        config_path=str(path.resolve()) if path else None,
        env_file=str(env_file) if env_file else None,
        overrides=parse_sets(sets),
        agents_dir=str(folder.folder.resolve()) if folder.folder else None,
        agent_name=agent_name,
    )


@click.command("worker")
@agent_name_option
@click.option(
    "--dispatch",
    type=click.Choice(["explicit", "automatic"]),
    default=None,
    help="explicit: rooms that ask for --agent-name; automatic: every new room "
    "[env CAUSERIE_WORKER_DISPATCH; default explicit].",
)
@click.option(
    "--load-threshold",
    type=float,
    default=None,
    help="CPU load (0-1) above which no job is taken [env CAUSERIE_WORKER_LOAD_THRESHOLD; 0.7].",
)
@click.option(
    "--max-jobs",
    type=int,
    default=None,
    help="At most N conversations (replaces the CPU threshold) [env CAUSERIE_WORKER_MAX_JOBS].",
)
@click.option(
    "--drain-timeout",
    type=int,
    default=None,
    help="Seconds SIGTERM waits for conversations [env CAUSERIE_WORKER_DRAIN_TIMEOUT; 600].",
)
@click.option(
    "--health-port",
    type=int,
    default=None,
    help="Health endpoint port, GET / [env CAUSERIE_WORKER_HEALTH_PORT; default 8081; 0: any].",
)
@click.option(
    "--idle-processes",
    type=int,
    default=None,
    help="Job processes kept warm, models loaded [env CAUSERIE_WORKER_IDLE_PROCESSES; 1].",
)
@set_option
@agents_option
@click.pass_obj
def worker(
    state: CliState,
    agent_name: str | None,
    dispatch: str | None,
    load_threshold: float | None,
    max_jobs: int | None,
    drain_timeout: int | None,
    health_port: int | None,
    idle_processes: int | None,
    sets: tuple[str, ...],
    agents_dir: Path | None,
) -> None:
    """Serve the agent to a LiveKit server: one job per room, models loaded once per process.

    The agents of agents/*.yaml are served too: a dispatch or room whose metadata is
    {"agent": "KEY"} talks to that one; a worker named like an agent (--agent-name KEY)
    defaults to it."""
    from ..transports.livekit.settings import WorkerSettings
    from ..transports.livekit.worker import build_server, run_worker

    loaded, _ = state.load(parse_sets(sets))
    lk, creds = _livekit(loaded.env, agent_name)
    settings = WorkerSettings.from_env(
        loaded.env,
        dispatch=dispatch,
        load_threshold=load_threshold,
        max_jobs=max_jobs,
        drain_timeout=drain_timeout,
        health_port=health_port,
        idle_processes=idle_processes,
    )
    if not state.verbose:
        logging.getLogger().setLevel(logging.INFO)
    server = build_server(
        creds,
        settings,
        _job_config(state, loaded, sets, agents_dir, lk.agent_name),
        agent_name=lk.agent_name,
    )
    how = (
        f"explicit dispatch as {lk.agent_name!r}"
        if settings.dispatch == "explicit"
        else "automatic dispatch"
    )
    click.echo(
        f"worker: {loaded.spec.name} on {creds.url} ({how}); health on "
        f"{settings.health_host}:{settings.health_port}; Ctrl+C or SIGTERM drains",
        err=True,
    )
    asyncio.run(run_worker(server, creds))


@click.command("join")
@click.option("--room", required=True, help="Name of an existing room.")
@agent_name_option
@click.option(
    "--direct",
    is_flag=True,
    help="Join from this process (no worker needed) and talk until the room empties.",
)
@click.option(
    "--participant", default=None, metavar="IDENTITY", help="Talk to this participant only."
)
@set_option
@click.pass_obj
def join(
    state: CliState,
    room: str,
    agent_name: str | None,
    direct: bool,
    participant: str | None,
    sets: tuple[str, ...],
) -> None:
    """Bring the agent into an existing room: dispatch a running worker, or --direct."""
    from ..transports.livekit.bridge import dispatch

    _check_names(room, participant)
    loaded, registry = state.load(parse_sets(sets))
    lk, creds = _livekit(loaded.env, agent_name)
    if not direct:
        if not lk.agent_name:
            raise click.UsageError(
                "dispatch needs a worker name: set LIVEKIT_AGENT_NAME or --agent-name"
            )
        d = asyncio.run(dispatch(creds, room, lk.agent_name, participant_identity=participant))
        click.echo(
            f"dispatched worker {d.agent_name!r} to room {d.room!r} (dispatch {d.dispatch_id})",
            err=True,
        )
        return
    reason = asyncio.run(_join_direct(creds, room, loaded, registry, participant))
    click.echo(f"left room {room!r}: {reason.replace('_', ' ')}", err=True)


async def _join_direct(
    creds: Any, room: str, loaded: Any, registry: Any, participant: str | None
) -> str:
    from ..runtime import Runtime
    from ..transports.livekit.bridge import join_direct, require_room

    await require_room(creds, room)  # before loading models: a wrong room fails at once
    runtime = await Runtime.build(loaded, registry, progress=lambda m: click.echo(m, err=True))
    try:
        return await join_direct(
            creds, room, runtime, participant_identity=participant, check_room=False
        )
    finally:
        await runtime.aclose()


@click.command("call")
@click.option("--room", default=None, help="Room to create [default: causerie-call-<random>].")
@wav_input_option("WAV played as the microphone, in real time.")
@wav_output_option
@click.option("--identity", default=None, help="Caller identity [default: caller-<random>].")
@agent_name_option
@click.option(
    "--agent-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for the agent to be ready.",
)
@click.option(
    "--tail-timeout",
    type=float,
    default=20.0,
    show_default=True,
    help="Seconds to wait for the last reply after the input ends.",
)
@click.option("--keep-room", is_flag=True, help="Do not delete the room afterwards.")
@click.pass_obj
def call(
    state: CliState,
    room: str | None,
    input_path: Path,
    output_path: Path,
    identity: str | None,
    agent_name: str | None,
    agent_timeout: float,
    tail_timeout: float,
    keep_room: bool,
) -> None:
    """Call the agent through LiveKit with a WAV: prints transcripts, records the reply."""
    from ..audio.wav import read_wav, write_wav
    from ..transports.livekit.caller import IN_RATE, CallPlan
    from ..transports.livekit.caller import call as run_call

    _check_names(room, identity)
    lk, creds = _livekit(_environment(state.env_file), agent_name)
    pcm = read_wav(input_path, IN_RATE)
    plan = CallPlan.new(room, identity, lk.agent_name)
    click.echo(
        f"calling room {plan.room!r} as {plan.identity!r} ({pcm.duration:.1f} s of input)", err=True
    )
    result = asyncio.run(
        run_call(
            creds,
            plan,
            pcm,
            agent_timeout=agent_timeout,
            tail_timeout=tail_timeout,
            keep_room=keep_room,
            printer=click.echo,
        )
    )
    assert result.output is not None
    write_wav(output_path, result.output)
    click.echo(f"agent audio written to {output_path} ({result.output.duration:.1f} s)", err=True)


def _check_names(room: str | None, identity: str | None) -> None:
    from ..transports.livekit.tokens import check_identity, check_room

    if room is not None and (rule := check_room(room)):
        raise click.BadParameter(rule, param_hint="--room")
    if identity is not None and (rule := check_identity(identity)):
        raise click.BadParameter(rule, param_hint="--identity/--participant")


def register(cli: click.Group) -> None:
    for command in (worker, join, call):
        cli.add_command(command)
