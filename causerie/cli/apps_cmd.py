"""``causerie apps``: the installed apps (``causerie.apps`` entry points), their tool groups,
brain skills and options."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("apps")
@click.option("--options", "show_options", is_flag=True, help="Also list each app's tool_options.")
def apps_cmd(show_options: bool) -> None:
    """The installed apps: name, tool groups (for `tools:`), scripted-brain skills (for
    `llm.options.skills`). See docs/APPS.md."""
    from ..appkit.registry import AppRegistry
    from ..errors import ConfigError

    try:
        registry = AppRegistry.from_entry_points()
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    if not registry.apps:
        click.echo("no apps installed (entry point group causerie.apps)")
    for app in registry.apps:
        click.echo(f"{app.name}: {app.description}")
        for group, tools in app.groups.items():
            click.echo(f"  tools  {group}: {', '.join(tools)}")
        if app.skills:
            click.echo(f"  skills {', '.join(app.skills)}")
        if show_options:
            for name, field in app.options_model().model_fields.items():
                default = field.get_default(call_default_factory=True)
                shown = str(default) if isinstance(default, Path) else repr(default)
                about = f"  ({field.description})" if field.description else ""
                click.echo(f"  option {name} = {shown}{about}")


def register(cli: click.Group) -> None:
    cli.add_command(apps_cmd)
