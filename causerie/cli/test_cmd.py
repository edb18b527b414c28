"""``causerie test [PATHS]``: run scenario files against the agent; non-zero exit on failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from .common import CliState


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-k",
    "--filter",
    "name_filter",
    metavar="TEXT",
    help="Only scenarios whose name or file contains TEXT.",
)
@click.option(
    "-v", "--verbose", "show_all", is_flag=True, help="Show every turn, not only failing ones."
)
@click.pass_obj
def test(state: CliState, paths: tuple[Path, ...], name_filter: str | None, show_all: bool) -> None:
    """Run scenario files (default: scenarios/) and report pass/fail per scenario.

    A scenario's own `config:` wins; otherwise the agent of --config (or agent.yaml) is used.
    """
    from ..providers.registry import Registry
    from ..scenarios.report import format_result, summary
    from ..scenarios.runner import run_paths

    targets = list(paths) or [Path("scenarios")]
    registry = Registry.from_entry_points()
    results = asyncio.run(
        run_paths(
            targets,
            default_config=state.config,
            registry=registry,
            name_filter=name_filter,
            on_result=lambda r: click.echo(format_result(r, verbose=show_all)),
        )
    )
    if not results:
        raise click.ClickException(f"no scenario found in {', '.join(map(str, targets))}")
    click.echo(summary(results))
    if not all(r.passed for r in results):
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(test)
