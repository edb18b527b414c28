"""``causerie plugins list|add|remove``: see and change the plugins agent.yaml enables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import CliState


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


@click.group("plugins", invoke_without_command=True)
@click.pass_context
def plugins_group(ctx: click.Context) -> None:
    """List, enable and disable plugins (hooks around the LLM and the session).

    Without a subcommand, lists them (as the original `manage_agents.py plugins` did).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


def _name_argument(fn: Any) -> Any:
    """NAME as an argument, or ``--name NAME`` as the original design wrote it."""
    fn = click.argument("name", required=False)(fn)
    return click.option("--name", "name_opt", metavar="NAME", help="Same as NAME.")(fn)


def _one_name(name: str | None, name_opt: str | None) -> str:
    if name and name_opt and name != name_opt:
        raise click.UsageError(f"two names given: {name!r} and --name {name_opt!r}")
    if not (name or name_opt):
        raise click.UsageError("give the plugin's NAME (or --name NAME)")
    return str(name or name_opt)


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
@_name_argument
@click.pass_obj
def add(state: CliState, name: str | None, name_opt: str | None) -> None:
    """Enable plugin NAME (appended: hooks run in the listed order)."""
    from ..config.edit import set_values
    from ..plugins import check_names
    from .config_cmd import warn_overridden

    name = _one_name(name, name_opt)

    path = _config_path(state)
    check_names([name])
    enabled = _enabled(path)
    if name in enabled:
        click.echo(f"{path}: {name} is already enabled")
        return
    set_values(path, {"plugins": [*enabled, name]})
    click.echo(f"{path}: enabled {name} (plugins: {', '.join([*enabled, name])})")
    warn_overridden(state, path, {"plugins": [*enabled, name]})


@plugins_group.command("remove")
@_name_argument
@click.pass_obj
def remove(state: CliState, name: str | None, name_opt: str | None) -> None:
    """Disable plugin NAME (its plugin_options stay, for when you add it back)."""
    from ..config.edit import set_values
    from .config_cmd import warn_overridden

    name = _one_name(name, name_opt)

    path = _config_path(state)
    enabled = _enabled(path)
    if name not in enabled:
        raise click.ClickException(
            f"{name!r} is not enabled in {path}; enabled: {', '.join(enabled) or '(none)'}"
        )
    rest = [p for p in enabled if p != name]
    set_values(path, {"plugins": rest})
    click.echo(f"{path}: disabled {name} (plugins: {', '.join(rest) or 'none'})")
    warn_overridden(state, path, {"plugins": rest})


def register(cli: click.Group) -> None:
    cli.add_command(plugins_group)
