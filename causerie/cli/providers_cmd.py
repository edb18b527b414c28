"""``causerie providers``: every provider per kind, and whether it is usable now."""

from __future__ import annotations

import click

from .common import CliState


@click.command("providers")
@click.option("--kind", type=click.Choice(["stt", "llm", "tts", "vad"]), help="Only this kind.")
@click.pass_obj
def providers(state: CliState, kind: str | None) -> None:
    """List providers: ready, missing extra (with the pip command) or missing key.

    Any other installed livekit-plugins-<vendor> works too, by its name in agent.yaml
    (e.g. `stt: {provider: <vendor>}`); those found are listed at the end.
    """
    from ..config.sources import Layers
    from ..providers.plugin_adapter import installed_plugins
    from ..providers.registry import Registry

    env = Layers.read(dotenv=state.env_file).env
    registry = Registry.from_entry_points()
    infos = registry.all()
    for k in ("stt", "llm", "tts", "vad"):
        if kind and k != kind:
            continue
        click.echo(f"{k.upper()}")
        for info in infos:
            if info.kind != k:
                continue
            status = info.status(env)
            if status == "ready":
                note = click.style("ready", fg="green")
            elif status == "missing_extra":
                pkg = f" ({info.package})" if info.package else ""
                cmd = f"pip install 'causerie[{info.extra or info.name}]'"
                note = click.style(f"needs: {cmd}{pkg}", fg="yellow")
            else:
                note = click.style(f"needs key: {info.key_requirement()}", fg="yellow")
            tag = " (offline)" if info.offline else ""
            click.echo(f"  {info.name:<14}{note}{tag}  {info.description}")
    known = {m.rsplit(".", 1)[-1] for info in infos for m in info.modules}
    others = [m for m in installed_plugins() if m not in known]
    if others and not kind:
        click.echo("OTHER INSTALLED LIVEKIT PLUGINS (generic adapter; kinds checked when built)")
        for module in others:
            click.echo(f"  {module:<14}livekit-plugins-{module}")


def register(cli: click.Group) -> None:
    cli.add_command(providers)
