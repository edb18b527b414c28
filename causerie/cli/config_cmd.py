"""``causerie config show|set|check``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import CliState


def _masked(loaded: Any) -> str:
    from ..config.loader import _yaml

    data = loaded.spec.model_dump(mode="json", exclude_none=True)
    for kind in ("stt", "llm", "tts", "vad"):
        stage = data.get(kind)
        if not isinstance(stage, dict):
            continue
        chain = [stage, *stage.pop("fallbacks", [])]
        for pspec in chain:
            pspec.pop("fallbacks", None)
            if pspec.get("api_key"):
                pspec["api_key"] = "********"
        # A fallback chain is shown as agent.yaml writes it: a list, tried in order.
        data[kind] = chain if len(chain) > 1 else stage
    import io

    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


@click.group("config")
def config_group() -> None:
    """Show, change and check the agent definition."""


@config_group.command("show")
@click.option("--sources", is_flag=True, help="Also say where each overridden value came from.")
@click.pass_obj
def show(state: CliState, sources: bool) -> None:
    """Print the effective agent definition (secrets masked)."""
    loaded, _ = state.load(check_providers=False)
    click.echo(f"# agent file: {loaded.path or '(none: built-in defaults)'}")
    click.echo(_masked(loaded), nl=False)
    if sources and loaded.sources:
        click.echo("# overrides:")
        for key, src in sorted(loaded.sources.items()):
            click.echo(f"#   {key} <- {src}")


@config_group.command("set", context_settings={"ignore_unknown_options": True})  # VALUE may be -4
@click.argument("key")
@click.argument("value")
@click.pass_obj
def set_cmd(state: CliState, key: str, value: str) -> None:
    """Set KEY to VALUE in agent.yaml, validating first.

    \b
    Examples:
      causerie config set llm.provider openai
      causerie config set llm openai/gpt-4o-mini
      causerie config set turn.min_endpointing_delay 0.3
      causerie config set plugins sentiment_analysis,profanity_filter
    """
    from ..config.edit import expand, set_values
    from ..providers.registry import Registry

    path = state.config or Path("agent.yaml")
    updates = expand(key, value)
    set_values(path, updates, registry=Registry.from_entry_points())
    click.echo(f"{path}: {key} = {value}")
    warn_overridden(state, path, updates)


def warn_overridden(state: CliState, path: Path, updates: dict[str, Any]) -> None:
    """After an edit: say when the environment or .env hides what was just written."""
    from ..config.edit import overridden

    for message in overridden(path, updates, dotenv=state.env_file):
        click.secho(f"warning: {message}", fg="yellow", err=True)


def register(cli: click.Group) -> None:
    from .check_cmd import check

    config_group.add_command(check)
    cli.add_command(config_group)
