"""``causerie tools import``: write a declared tool from an OpenAPI 3 document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import CliState


@click.group("tools")
def tools_group() -> None:
    """Declared (HTTP API) tools: see docs/TOOLS.md, "Declared tools"."""


@tools_group.command("import")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--operation", "operation_id", required=True, help="The operationId to import.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A new tools/NAME.yaml [default: tools/ next to the agent file], or an agent file "
    "whose api_tools list gets the tool (comments kept).",
)
@click.option("--name", help="The tool's name [default: the operationId in snake_case].")
@click.option(
    "--base-url-env",
    metavar="VAR",
    help="Take the server URL from ${VAR} at call time instead of the document's servers.",
)
@click.option("--force", is_flag=True, help="Replace a tool of the same name.")
@click.pass_obj
def import_cmd(
    state: CliState,
    document: Path,
    operation_id: str,
    output: Path | None,
    name: str | None,
    base_url_env: str | None,
    force: bool,
) -> None:
    """Write a declared tool for one operation of an OpenAPI 3 DOCUMENT.

    \b
    Example:
      causerie tools import openapi.yaml --operation getOrderStatus
      causerie tools import openapi.yaml --operation getOrderStatus -o agent.yaml
    """
    from ..tools.declared.openapi import import_operation, load_document
    from ..tools.declared.write import write_tool

    decl = import_operation(
        load_document(document), operation_id, name=name, base_url_env=base_url_env
    )
    if output is None:
        base = (state.config or Path("agent.yaml")).parent
        output = base / "tools" / f"{decl['name']}.yaml"
    source = f"{document.name}, operation {operation_id}"
    where = write_tool(output, decl, source=source, force=force)
    click.echo(
        f"{where}: tool {decl['name']} ({decl['request']['method']} {decl['request']['url']})"
    )
    secrets = sorted(_env_vars(decl))
    if secrets:
        click.echo(f"set {', '.join(secrets)} in .env, then run `causerie config check`")


def _env_vars(decl: dict[str, Any]) -> set[str]:
    from ..config.templating import env_in

    return env_in(decl["request"])


def register(cli: click.Group) -> None:
    cli.add_command(tools_group)
