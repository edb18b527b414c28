"""``causerie interactive``: change the existing agent.yaml by answering questions.

Every question offers the current value (Enter keeps it); only what changed is written, through
the same validated, comment-keeping edit as ``config set``. Answers may be piped.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import click

from ..config.spec import TurnDetection
from .common import CliState

_LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2})?$")


def _language(value: str) -> str:
    value = value.strip()
    if not _LANGUAGE.match(value):
        raise click.BadParameter(f"{value!r} is not a language code such as en, fr or fr-FR")
    return value


def _optional(value: str) -> str | None:
    return value.strip() or None


@click.command("interactive")
@click.pass_obj
def interactive(state: CliState) -> None:
    """Change agent.yaml by answering questions (Enter keeps the current value).

    Validated before anything is written; comments and other settings are kept.
    """
    from ..config.edit import set_values
    from ..config.loader import load_config
    from ..plugins import available_plugins, check_names
    from ..providers.registry import Registry
    from .config_cmd import warn_overridden
    from .init_cmd import choose_provider
    from .plugins_cmd import _config_path

    path = _config_path(state)
    registry = Registry.from_entry_points()
    spec = load_config(path, environ={}, dotenv=None).spec  # the file's own values
    click.echo(f"Editing {path}. Press Enter to keep the value in [brackets].")
    answers: dict[str, Any] = {
        "name": click.prompt("Agent name", default=spec.name),
        "language": click.prompt("Language", default=spec.language, value_proc=_language),
    }
    if spec.instructions_file is not None:
        answers["instructions_file"] = click.prompt(
            "Instructions file", default=str(spec.instructions_file)
        )
    else:
        answers["instructions"] = click.prompt(
            "Instructions", default=spec.instructions or "", show_default=bool(spec.instructions)
        )
    answers["greeting"] = click.prompt(
        "Greeting said at the start (empty for none)",
        default=spec.greeting or "",
        show_default=bool(spec.greeting),
    )
    labels = {"stt": "Speech-to-text", "llm": "LLM", "tts": "Text-to-speech"}
    for kind, label in labels.items():
        current = spec.provider(kind)  # type: ignore[arg-type]
        provider = choose_provider(registry, f"{label} provider", kind, current.provider)
        answers[f"{kind}.provider"] = provider
        same = provider == current.provider
        answers[f"{kind}.model"] = click.prompt(
            f"{label} model (empty for the provider's default)",
            default=(current.model or "") if same else "",
            show_default=bool(same and current.model),
            value_proc=_optional,
        )
        if kind == "tts":
            answers["tts.voice"] = click.prompt(
                "TTS voice (empty for the default)",
                default=(current.voice or "") if same else "",
                show_default=bool(same and current.voice),
                value_proc=_optional,
            )
    answers["turn.detection"] = click.prompt(
        "Turn detection", type=click.Choice(get_args(TurnDetection)), default=spec.turn.detection
    )
    answers["turn.interruptions"] = click.confirm(
        "Allow barge-in (the user may interrupt the agent)?", default=spec.turn.interruptions
    )
    known = available_plugins()
    click.echo(f"Installed plugins: {', '.join(sorted(known))}")

    def plugin_list(value: str) -> list[str]:
        names = [n.strip() for n in value.split(",") if n.strip()]
        try:
            check_names(names, known)
        except Exception as e:
            raise click.BadParameter(str(e)) from None
        return names

    answers["plugins"] = click.prompt(
        "Plugins, comma-separated, in order (empty for none)",
        default=", ".join(spec.plugins),
        show_default=bool(spec.plugins),
        value_proc=plugin_list,
    )

    updates = _changes(spec, answers)
    if not updates:
        click.echo(f"{path}: no changes")
        return
    for key, value in updates.items():
        click.echo(f"  {key}: {_show(_current(spec, key))} -> {_show(value)}")
    if not click.confirm(f"Write these changes to {path}?", default=True):
        click.echo("nothing written")
        return
    set_values(path, updates, registry=registry)
    click.echo(f"{path}: {len(updates)} change(s) written")
    warn_overridden(state, path, updates)
    _start_notes(state, registry)


def _current(spec: Any, dotted: str) -> Any:
    obj = spec
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return str(obj) if dotted == "instructions_file" else obj


def _changes(spec: Any, answers: dict[str, Any]) -> dict[str, Any]:
    """Only what differs from the file; a provider change also writes (or drops) its model."""
    out: dict[str, Any] = {}
    for key, value in answers.items():
        if key in ("instructions", "greeting") and value == "" and _current(spec, key) is None:
            continue
        kind, _, leaf = key.partition(".")
        provider_changed = f"{kind}.provider" in out
        if _current(spec, key) != value or (leaf in ("model", "voice") and provider_changed):
            out[key] = value
    return out


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return "(default)" if value is None else repr(value)


def _start_notes(state: CliState, registry: Any) -> None:
    """What ``config check`` would still report, so the user learns it now."""
    from ..errors import CauserieError
    from ..runtime.checks import start_problems

    try:
        loaded, _ = state.load()
        problems = start_problems(loaded, registry)
    except CauserieError as e:
        problems = [e]  # type: ignore[list-item]
    for problem in problems:
        click.secho(f"note: {problem}", fg="yellow", err=True)
    if problems:
        click.echo("run `causerie config check` once fixed", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(interactive)
