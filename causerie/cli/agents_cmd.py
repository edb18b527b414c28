"""``causerie agents list|new|copy|remove``: the definitions ``causerie serve`` serves
(``agents/*.yaml`` beside the agent file, and the agent file itself)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from .common import CliState

agents_option = click.option(
    "--agents",
    "agents_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="CAUSERIE_AGENTS",
    help="Folder of agent definitions [env CAUSERIE_AGENTS; default: agents/ beside the "
    "agent file, else in the working directory].",
)


def agent_folder(state: CliState, agents_dir: Path | None) -> Any:
    from ..agents.folder import AgentFolder
    from ..config.loader import find_config

    main = find_config(state.config, {})
    return AgentFolder.around(main, agents_dir)


@click.group("agents")
def agents() -> None:
    """The agents served by `causerie serve` (agents/*.yaml and the agent file)."""


@agents.command("list")
@agents_option
@click.pass_obj
def list_agents(state: CliState, agents_dir: Path | None) -> None:
    """Each agent: its key (/?agent=KEY), name, language and file; * marks the default."""
    from ..config.loader import read_yaml
    from ..errors import ConfigError

    folder = agent_folder(state, agents_dir)
    defs = folder.definitions()
    if not defs:
        raise click.ClickException(
            f"no agent: create one with `causerie agents new NAME` (in {folder.folder})"
        )
    for i, (key, path) in enumerate(defs.items()):
        try:
            data = read_yaml(path)
            about = f"{data.get('name', 'Causerie')} ({data.get('language', 'en')})"
        except ConfigError as e:
            about = f"unreadable: {e}"
        click.echo(f"{'*' if i == 0 else ' '} {key:<16} {about:<36} {path}")


@agents.command("new")
@click.argument("key")
@click.option("--name", default=None, help="Display name [default: KEY].")
@click.option("--language", type=click.Choice(["en", "fr"]), default="en", show_default=True)
@agents_option
@click.pass_obj
def new_agent(
    state: CliState, key: str, name: str | None, language: str, agents_dir: Path | None
) -> None:
    """Create agents/KEY.yaml: an offline agent (pocketsphinx, scripted, espeak) to edit."""
    from ..config.edit import _atomic_write, validate_text
    from ..providers.registry import Registry
    from .init_cmd import TEMPLATE, _q

    folder = agent_folder(state, agents_dir)
    path = folder.new_path(key)
    text = TEMPLATE.format(
        name=_q(name or key),
        language=language,
        instructions=_q(
            "You are a friendly voice assistant. Answer in one or two short sentences."
        ),
        greeting="",
        stt="pocketsphinx",
        llm="scripted",
        llm_model="",
        tts="espeak",
        tts_voice="",
        detection="vad",
        interruptions="true",
    )
    registry = Registry.from_entry_points()
    spec = validate_text(text, str(path), registry, base_dir=path.parent)
    _atomic_write(path, text)
    click.echo(f"wrote {path}; edit it in the studio (/studio) or talk to it at /?agent={key}")
    from ..config.loader import LoadedConfig
    from ..runtime.checks import start_problems

    # e.g. French with the bundled English speech model: say so now, not at the first call.
    for problem in start_problems(LoadedConfig(spec=spec, path=path), registry):
        click.secho(f"before it can talk: {problem}", err=True, fg="yellow")


@agents.command("copy")
@click.argument("source")
@click.argument("key")
@click.option("--name", default=None, help="Display name of the copy [default: KEY].")
@agents_option
@click.pass_obj
def copy_agent(
    state: CliState, source: str, key: str, name: str | None, agents_dir: Path | None
) -> None:
    """Copy agent SOURCE to agents/KEY.yaml, comments kept, with its own name."""
    from ..config.edit import _atomic_write, set_values

    folder = agent_folder(state, agents_dir)
    src = folder.path(source)
    path = folder.new_path(key)
    from ..config.loader import read_yaml

    updates: dict[str, Any] = {"name": name or key}  # its own label in metrics
    file = read_yaml(src).get("instructions_file")
    if isinstance(file, str) and not Path(file).is_absolute():
        # Relative to the agent file: the copy lives elsewhere (agents/).
        moved = os.path.relpath(src.resolve().parent / file, path.resolve().parent)
        updates["instructions_file"] = Path(moved).as_posix()
    _atomic_write(path, src.read_text(encoding="utf-8"))
    try:
        set_values(path, updates)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    click.echo(f"wrote {path} (a copy of {src})")


@agents.command("remove")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@agents_option
@click.pass_obj
def remove_agent(state: CliState, key: str, yes: bool, agents_dir: Path | None) -> None:
    """Delete agents/KEY.yaml (the main agent file is never removed)."""
    folder = agent_folder(state, agents_dir)
    path = folder.path(key)
    if folder.main is not None and path == folder.main:
        raise click.ClickException(f"{path} is the main agent file; it is not removed")
    if not yes:
        click.confirm(f"delete {path}?", abort=True)
    path.unlink()
    click.echo(f"removed {path}")


def register(cli: click.Group) -> None:
    cli.add_command(agents)
