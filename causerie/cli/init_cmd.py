"""``causerie init``: an interactive wizard that writes a valid, commented agent.yaml.

It reads answers with ``click.prompt``, so it also works with piped input (tests, scripts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import click

from ..config.spec import TurnDetection
from .common import CliState

TEMPLATE = """\
# Causerie agent definition. `causerie config check` validates it;
# `causerie config set KEY VALUE` edits it; environment variables override it (see README).
name: {name}
language: {language}
instructions: {instructions}
{greeting}
stt:
  provider: {stt}
llm:
  provider: {llm}
{llm_model}tts:
  provider: {tts}
{tts_voice}vad:
  provider: silero
  options:
    min_silence_duration: 0.2

turn:
  detection: {detection}          # vad (fastest) | turn_model (bundled v1-mini)
  min_endpointing_delay: 0.2
  max_endpointing_delay: 3.0
  interruptions: {interruptions}        # barge-in
  max_tool_steps: 3
  max_response_time: 15.0

plugins: []
tools: []
"""


def _q(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is valid YAML


def choose_provider(registry: Any, label: str, kind: str, default: str) -> str:
    """Prompt for one of the registered providers of ``kind`` (shared with ``interactive``)."""
    names = registry.names(kind)
    return str(
        click.prompt(
            label, type=click.Choice(names), default=default if default in names else names[0]
        )
    )


@click.command("init")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write [default: the --config path or ./agent.yaml].",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def init(state: CliState, output: Path | None, force: bool) -> None:
    """Create agent.yaml by answering a few questions."""
    from ..config.edit import _atomic_write, validate_text
    from ..providers.registry import Registry

    path = output or state.config or Path("agent.yaml")
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    registry = Registry.from_entry_points()

    def choose(label: str, kind: str, default: str) -> str:
        return choose_provider(registry, label, kind, default)

    name = click.prompt("Agent name", default="Causerie")
    language = click.prompt("Language", type=click.Choice(["en", "fr"]), default="en")
    instructions = click.prompt(
        "Instructions",
        default="You are a friendly voice assistant. Answer in one or two short sentences.",
    )
    greeting = click.prompt(
        "Greeting said at the start (empty for none)", default="", show_default=False
    )
    stt = choose("Speech-to-text provider", "stt", "pocketsphinx")
    llm = choose("LLM provider", "llm", "scripted")
    llm_model = (
        ""
        if llm == "scripted"
        else click.prompt(
            "LLM model (empty for the provider's default)", default="", show_default=False
        )
    )
    tts = choose("Text-to-speech provider", "tts", "espeak")
    voice = click.prompt("TTS voice (empty for the default)", default="", show_default=False)
    detection = click.prompt(
        "Turn detection", type=click.Choice(get_args(TurnDetection)), default="vad"
    )
    barge_in = click.confirm("Allow barge-in (the user may interrupt the agent)?", default=True)

    text = TEMPLATE.format(
        name=_q(name),
        language=language,
        instructions=_q(instructions),
        greeting=f"greeting: {_q(greeting)}\n" if greeting else "",
        stt=stt,
        llm=llm,
        llm_model=f"  model: {_q(llm_model)}\n" if llm_model else "",
        tts=tts,
        tts_voice=f"  voice: {_q(voice)}\n" if voice else "",
        detection=detection,
        interruptions="true" if barge_in else "false",
    )
    validate_text(text, str(path), registry, base_dir=path.parent)
    _atomic_write(path, text)
    click.echo(f"wrote {path}; try: causerie config check && causerie talk --input question.wav")


def register(cli: click.Group) -> None:
    cli.add_command(init)
