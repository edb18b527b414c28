"""``causerie providers``: every provider per kind, and whether it is usable now."""

from __future__ import annotations

import click

from .main import CliState


@click.command("providers")
@click.option("--kind", type=click.Choice(["stt", "llm", "tts", "vad"]), help="Only this kind.")
@click.pass_obj
def providers(state: CliState, kind: str | None) -> None:
    """List providers: ready, missing extra (with the pip command) or missing key."""
    import os

    from dotenv import dotenv_values

    from ..providers.registry import Registry

    env = (
        {k: v for k, v in dotenv_values(state.env_file).items() if v}
        if state.env_file.exists()
        else {}
    )
    env.update(os.environ)
    registry = Registry.from_entry_points()
    for k in ("stt", "llm", "tts", "vad"):
        if kind and k != kind:
            continue
        click.echo(f"{k.upper()}")
        for info in registry.all():
            if info.kind != k:
                continue
            status = info.status(env)
            if status == "ready":
                note = click.style("ready", fg="green")
            elif status == "missing_extra":
                note = click.style(
                    f"needs: pip install 'causerie[{info.extra or info.name}]'", fg="yellow"
                )
            else:
                note = click.style(f"needs key: {' or '.join(info.key_env)}", fg="yellow")
            tag = " (offline)" if info.offline else ""
            click.echo(f"  {info.name:<14}{note}{tag}  {info.description}")


def register(cli: click.Group) -> None:
    cli.add_command(providers)
