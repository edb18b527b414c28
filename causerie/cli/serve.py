"""``causerie serve``: the web client and the embedded WebRTC / WebSocket server."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import click

from .agents_cmd import agent_folder, agents_option
from .common import CliState, parse_sets, set_option


@click.command("serve")
@click.option(
    "--host", default=None, help="Interface to listen on [env CAUSERIE_HOST; default 127.0.0.1]."
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port [env CAUSERIE_PORT; default 8080; 0: any free one].",
)
@click.option(
    "--max-sessions",
    type=click.IntRange(1, 512),
    default=None,
    help="Concurrent conversations before 'busy' [env CAUSERIE_MAX_SESSIONS; default 8].",
)
@set_option
@agents_option
@click.pass_obj
def serve(
    state: CliState,
    host: str | None,
    port: int | None,
    max_sessions: int | None,
    sets: tuple[str, ...],
    agents_dir: Path | None,
) -> None:
    """Talk to the agent in a browser: serves http://localhost:8080 (WebRTC or WebSocket).

    Every definition in agents/*.yaml is served too (/?agent=KEY); the agent file, or the
    first of the folder, is the default. --set applies to the default agent."""
    import uvicorn

    from ..config.sources import Layers
    from ..errors import ConfigError
    from ..server import ServerSettings, create_app
    from ..server.metrics_api import MetricsApiSettings
    from ..server.security import exposure_warning, uvicorn_limits
    from ..server.shutdown import GracefulServer

    # Options > environment > .env > defaults, like every setting (docs/CONFIG.md).
    given: dict[str, Any] = {"host": host, "port": port, "max_sessions": max_sessions}
    layers = Layers.read(dotenv=state.env_file)
    try:
        settings = layers.build(ServerSettings, given)
        api_settings = layers.build(MetricsApiSettings)  # the admin and metrics tokens
    except ConfigError as e:
        raise click.UsageError(f"server settings: {e}") from None
    folder = agent_folder(state, agents_dir)
    if folder.main is None and (first := folder.default()) is not None:
        state = dataclasses.replace(state, config=folder.path(first))
        folder = dataclasses.replace(folder, main=state.config)
    loaded, registry = state.load(parse_sets(sets))
    # Bind before loading models: a port in use fails now, not after the models load.
    sock = _bind(settings.host, settings.port, settings.send_buffer_bytes)
    bound_port = sock.getsockname()[1]
    shown = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host

    def progress(msg: str) -> None:
        click.echo(msg, err=True)

    def on_ready() -> None:
        keys = list(folder.definitions())
        if len(keys) > 1:
            click.echo(f"agents: {', '.join(keys)} (/?agent=NAME; studio: /studio)", err=True)
        click.echo(
            f"Causerie is ready: open http://{shown}:{bound_port} "
            f"(max {settings.max_sessions} sessions; Ctrl+C to stop)",
            err=True,
        )

    app = create_app(
        settings,
        loaded=loaded,
        registry=registry,
        progress=progress,
        on_ready=on_ready,
        api_settings=api_settings,
        agents=folder,
    )
    warning = exposure_warning(settings.host, app)
    if warning is not None:
        click.secho(warning, err=True, fg="yellow")
    config = uvicorn.Config(
        app,
        log_level="debug" if state.verbose else "warning",
        lifespan="on",
        **uvicorn_limits(settings.max_header_bytes, settings.max_ws_message_bytes),
    )
    GracefulServer(config, app).run(sockets=[sock])


def _bind(host: str, port: int, send_buffer: int | None = None) -> Any:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:  # accepted sockets inherit it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {e.strerror}; choose another --port"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def register(cli: click.Group) -> None:
    cli.add_command(serve)
