"""``causerie gateway``: the agent's STT, TTS and LLM as an OpenAI-compatible HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import CliState, parse_sets, set_option


@click.command("gateway")
@click.option(
    "--host", default=None, help="Interface [env CAUSERIE_GATEWAY_HOST; default 127.0.0.1]."
)
@click.option(
    "--port", type=int, default=None, help="Port [env CAUSERIE_GATEWAY_PORT; default 8000]."
)
@click.option(
    "--api-keys-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="File of accepted API keys, one a line [env CAUSERIE_GATEWAY_API_KEYS_FILE]; "
    "CAUSERIE_GATEWAY_API_KEYS may list more, comma-separated.",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve a non-loopback interface without API keys (trusted networks only).",
)
@set_option
@click.pass_obj
def gateway(
    state: CliState,
    host: str | None,
    port: int | None,
    api_keys_file: Path | None,
    insecure_no_auth: bool,
    sets: tuple[str, ...],
) -> None:
    """Serve the agent's engines as OpenAI-compatible endpoints (docs/GATEWAY.md):
    /v1/audio/transcriptions, /v1/audio/speech, /v1/chat/completions, /v1/models."""
    import uvicorn

    from ..config.sources import Layers
    from ..errors import ConfigError
    from ..gateway import GatewaySettings, create_gateway_app
    from .serve import _bind

    # Options > environment > .env > defaults, like every setting (docs/CONFIG.md).
    given: dict[str, Any] = {"host": host, "port": port, "api_keys_file": api_keys_file}
    try:
        settings = Layers.read(dotenv=state.env_file).build(GatewaySettings, given)
        keys = settings.keys()
    except ConfigError as e:
        raise click.UsageError(f"gateway settings: {e}") from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if not keys and not settings.loopback and not insecure_no_auth:
        raise click.UsageError(
            f"refusing to serve {settings.host} without API keys: set CAUSERIE_GATEWAY_API_KEYS "
            "or --api-keys-file (or pass --insecure-no-auth)"
        )
    loaded, registry = state.load(parse_sets(sets))
    sock = _bind(settings.host, settings.port)
    bound = sock.getsockname()[1]

    def progress(msg: str) -> None:
        click.echo(msg, err=True)

    def on_ready() -> None:
        auth = f"{len(keys)} API key(s)" if keys else "no API key (open)"
        click.echo(
            f"Causerie gateway is ready: http://{settings.host}:{bound}/v1 "
            f"({auth}; Ctrl+C to stop)",
            err=True,
        )

    app = create_gateway_app(
        settings, loaded=loaded, registry=registry, progress=progress, on_ready=on_ready
    )
    config = uvicorn.Config(app, log_level="debug" if state.verbose else "warning")
    uvicorn.Server(config).run(sockets=[sock])


def register(cli: click.Group) -> None:
    cli.add_command(gateway)
