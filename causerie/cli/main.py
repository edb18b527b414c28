"""Entry point: ``causerie [--config agent.yaml] COMMAND``.

User errors (bad config, bad WAV, unknown provider) print one line on stderr and exit 2;
no traceback unless ``--verbose``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ..errors import CauserieError
from .common import CliState
from .help_group import CauserieGroup


@click.group(cls=CauserieGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CAUSERIE_CONFIG",
    help="Agent definition [default: ./agent.yaml, else built-in defaults].",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="Environment file read under the process environment.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging and tracebacks.")
@click.version_option(package_name="causerie")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, env_file: Path, verbose: bool) -> None:
    """Causerie: real-time voice agents defined by config, offline first."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = CliState(config=config, env_file=env_file, verbose=verbose)


def _register() -> None:
    from . import (
        agents_cmd,
        aliases,
        apps_cmd,
        chat,
        config_cmd,
        gateway_cmd,
        init_cmd,
        interactive_cmd,
        livekit_cmd,
        metrics_cmd,
        plugins_cmd,
        providers_cmd,
        serve,
        talk,
        test_cmd,
        tools_cmd,
    )

    for mod in (
        talk,
        chat,
        config_cmd,
        providers_cmd,
        init_cmd,
        interactive_cmd,
        livekit_cmd,
        plugins_cmd,
        apps_cmd,
        test_cmd,
        tools_cmd,
        serve,
        gateway_cmd,
        metrics_cmd,
        agents_cmd,
        aliases,  # last: they point at the commands above
    ):
        mod.register(cli)


_register()


def hoist_config(args: list[str]) -> list[str]:
    """``causerie chat --config shop.yaml`` means ``causerie --config shop.yaml chat``: the
    agent file is a group option, but people type it after the command too."""
    cmd = next((i for i, a in enumerate(args) if a in cli.commands), None)
    if cmd is None:
        return args
    head, tail, moved = args[:cmd], [], []
    rest = iter(args[cmd:])
    for a in rest:
        if a in ("-c", "--config"):
            moved += [a, next(rest, "")]
        elif a.startswith("--config="):
            moved.append(a)
        else:
            tail.append(a)
    return head + moved + tail


def main(argv: list[str] | None = None) -> None:
    try:
        args = hoist_config(list(sys.argv[1:] if argv is None else argv))
        cli.main(args=args, prog_name="causerie", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except CauserieError as e:
        if "-v" in sys.argv or "--verbose" in sys.argv:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
