"""The top-level group: ``--help`` lists the original design's command names in their own
section, each with the command it stands for."""

from __future__ import annotations

from typing import Any

import click

ALIAS_SECTION = "Aliases (original design)"


class AliasCommand(click.Command):
    """A second name for a command; ``alias_of`` is the command line it stands for."""

    def __init__(self, *args: Any, alias_of: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alias_of = alias_of


def alias(name: str, target: click.Command, alias_of: str) -> AliasCommand:
    """``name`` runs ``target``'s callback with its parameters; help says what it stands for."""
    return AliasCommand(
        name,
        callback=target.callback,
        params=list(target.params),
        help=f"Same as `causerie {alias_of}`.\n\n{target.help or ''}",
        short_help=f"= causerie {alias_of}",
        context_settings=dict(target.context_settings),
        alias_of=alias_of,
    )


class CauserieGroup(click.Group):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []
        aliases: list[tuple[str, str]] = []
        names = [n for n in self.list_commands(ctx) if n in self.commands]
        width = formatter.width - 6 - max((len(n) for n in names), default=0)
        for name in names:
            cmd = self.commands[name]
            if cmd.hidden:
                continue
            row = (name, cmd.get_short_help_str(width))
            (aliases if isinstance(cmd, AliasCommand) else rows).append(row)
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        if aliases:
            with formatter.section(ALIAS_SECTION):
                formatter.write_dl(aliases)
