"""The original design's command names (``manage_agents.py show``, ``list-providers``,
``change-llm openai gpt-4o``), as aliases of today's commands. ``--help`` lists them apart."""

from __future__ import annotations

from pathlib import Path

import click

from .common import CliState
from .help_group import AliasCommand, alias


def _change_llm(state: CliState, provider: str, model: str | None) -> None:
    from ..config.edit import expand, set_values
    from ..providers.registry import Registry
    from .config_cmd import warn_overridden

    value = f"{provider}/{model}" if model else provider
    path = state.config or Path("agent.yaml")
    updates = expand("llm", value)
    set_values(path, updates, registry=Registry.from_entry_points())
    click.echo(f"{path}: llm = {value}")
    warn_overridden(state, path, updates)


change_llm = AliasCommand(
    "change-llm",
    callback=click.pass_obj(_change_llm),
    params=[
        click.Argument(["provider"]),
        click.Argument(["model"], required=False),
    ],
    help="Switch the LLM: PROVIDER and optional MODEL, written to agent.yaml (validated, "
    "comments kept). Same as `causerie config set llm PROVIDER/MODEL`.\n\n"
    "\b\nExample:\n  causerie change-llm openai gpt-4o",
    short_help="= causerie config set llm PROVIDER/MODEL",
    alias_of="config set llm PROVIDER/MODEL",
)


def register(cli: click.Group) -> None:
    from .config_cmd import config_group
    from .providers_cmd import providers

    show = config_group.commands["show"]
    cli.add_command(alias("show", show, "config show"))
    cli.add_command(alias("config-show", show, "config show"))
    cli.add_command(alias("list-providers", providers, "providers"))
    cli.add_command(change_llm)
