"""``causerie plugins list|add|remove``: see and change the plugins agent.yaml enables."""

from __future__ import annotations

from pathlib import Path

import click

from .main import CliState


def _config_path(state: CliState) -> Path:
    from ..config.loader import find_config

    path = find_config(state.config, {})
    if path is None:
        raise click.ClickException(
            "no agent.yaml here; create one with `causerie init` or pass --config"
        )
    return path


def _enabled(path: Path) -> list[str]:
    from ..config.loader import _plain, read_yaml

    plugins = _plain(read_yaml(path)).get("plugins") or []
    return [str(p) for p in plugins] if isinstance(plugins, list) else []


@click.group("plugins")
def plugins_group() -> None:
    """List, enable and disable plugins (hooks around the LLM and the session)."""


@plugins_group.command("list")
@click.pass_obj
def list_cmd(state: CliState) -> None:
    """Every installed plugin, and which ones the agent enables (in order)."""
    from ..config.loader import find_config
    from ..plugins import available_plugins

    path = find_config(state.config, {})
    enabled = _enabled(path) if path else []
    known = available_plugins()
    click.echo(f"# agent file: {path or '(none)'}")
    for name, info in sorted(known.items()):
        mark = "on " if name in enabled else "   "
        origin = "built-in" if info.builtin else info.target
        click.echo(f"{mark} {name:<22} {origin:<10} {info.description()}")
    missing = [n for n in enabled if n not in known]
    for name in missing:
        click.echo(f"on  {name:<22} MISSING    not installed: the agent will not start", err=True)
    click.echo(f"enabled: {', '.join(enabled) or '(none)'}")


@plugins_group.command("add")
@click.argument("name")
@click.pass_obj
def add(state: CliState, name: str) -> None:
    """Enable plugin NAME (appended: hooks run in the listed order)."""
    from ..config.edit import set_values
    from ..plugins import check_names

    path = _config_path(state)
    check_names([name])
    enabled = _enabled(path)
    if name in enabled:
        click.echo(f"{path}: {name} is already enabled")
        return
    set_values(path, {"plugins": [*enabled, name]})
    click.echo(f"{path}: enabled {name} (plugins: {', '.join([*enabled, name])})")


@plugins_group.command("remove")
@click.argument("name")
@click.pass_obj
def remove(state: CliState, name: str) -> None:
    """Disable plugin NAME (its plugin_options stay, for when you add it back)."""
    from ..config.edit import set_values

    path = _config_path(state)
    enabled = _enabled(path)
    if name not in enabled:
        raise click.ClickException(
            f"{name!r} is not enabled in {path}; enabled: {', '.join(enabled) or '(none)'}"
        )
    rest = [p for p in enabled if p != name]
    set_values(path, {"plugins": rest})
    click.echo(f"{path}: disabled {name} (plugins: {', '.join(rest) or 'none'})")


def register(cli: click.Group) -> None:
    cli.add_command(plugins_group)
