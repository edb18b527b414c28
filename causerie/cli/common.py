"""What the commands share: the group's state (``CliState``) and common options.

Here rather than in ``main.py`` because ``main`` imports every command module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click


@dataclass
class CliState:
    config: Path | None
    env_file: Path
    verbose: bool

    def load(self, overrides: dict[str, Any] | None = None, check_providers: bool = True) -> Any:
        from ..config.loader import load_config
        from ..providers.registry import Registry

        registry = Registry.from_entry_points()
        loaded = load_config(
            self.config,
            dotenv=self.env_file,
            overrides=overrides,
            registry=registry if check_providers else None,
        )
        if check_providers:
            # livekit plugins register on import, on the main thread only; providers are
            # then built in a worker thread (models load), so import them here first.
            from ..agent.pipeline import import_vendor_modules

            import_vendor_modules(loaded, registry)
        return loaded, registry


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    from ..config.edit import expand

    out: dict[str, Any] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        out.update({k: v for k, v in expand(key.strip(), raw).items() if v is not None})
    return out


def wav_input_option(help: str) -> Any:
    return click.option(
        "-i",
        "--input",
        "input_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help=help,
    )


wav_output_option = click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reply.wav"),
    show_default=True,
    help="Where to write the agent's audio.",
)

set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a field for this run only, e.g. --set turn.min_endpointing_delay=0.3",
)
