"""``causerie config check [--strict]``: what would fail at start, found now."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from .common import CliState


@click.command("check")
@click.option(
    "--strict",
    is_flag=True,
    help="Also build every provider (models load) and run one text turn, spoken by the TTS. "
    "For CI pipelines: exit 1 on any failure.",
)
@click.pass_obj
def check(state: CliState, strict: bool) -> None:
    """Validate the definition and say whether the agent would start.

    \b
    Checks: fields and values, provider names, installed extras and API keys,
    enabled plugins, tool names, and the language each provider can handle.
    Exit 0 when all is well, 1 when the agent would fail, 2 when the file is invalid.
    """
    from ..runtime.checks import start_problems

    loaded, registry = state.load()
    problems = 0
    for kind in ("stt", "llm", "tts", "vad"):
        for i, pspec in enumerate(loaded.spec.chain(kind)):  # fallbacks too
            problems += _provider_line(kind, i, pspec, loaded, registry)
    for problem in start_problems(loaded, registry):
        problems += 1
        src = loaded.sources.get(problem.field.split("[")[0])
        click.echo(f"FAIL {problem}" + (f"\n  [from {src}]" if src else ""), err=True)
    if problems:
        raise SystemExit(1)
    if strict:
        _strict(state, loaded, registry)
    click.echo(f"{loaded.path or 'defaults'}: valid" + (" (strict)" if strict else ""))


def _provider_line(kind: str, i: int, pspec: Any, loaded: Any, registry: Any) -> int:
    """Print whether one provider can be built now; 1 if it cannot."""
    info = registry.get(kind, pspec.provider)
    stage = f"{kind}[{i}]" if i else kind
    line = f"{stage}: {pspec.provider}{'/' + pspec.model if pspec.model else ''}"
    if info.status(loaded.env, pspec) == "ready":
        click.echo(f"ok   {line}")
        return 0
    try:
        info.check(pspec, loaded.env)
    except Exception as e:  # the same message build() would give
        click.echo(f"FAIL {line}: {e}", err=True)
    return 1


def _strict(state: CliState, loaded, registry) -> None:
    from ..errors import CauserieError
    from ..runtime.smoke import smoke_test

    def progress(msg: str) -> None:
        click.echo(f"...  {msg}", err=True)

    try:
        result = asyncio.run(smoke_test(loaded, registry, progress))
    except CauserieError as e:
        if state.verbose:
            raise
        click.echo(f"FAIL strict: {e}", err=True)
        raise SystemExit(1) from None
    loads = ", ".join(f"{k} {v:.1f} s" for k, v in result.load_seconds.items())
    click.echo(f"ok   providers built ({loads})")
    click.echo(f"ok   text turn: {result.said!r} -> {result.reply!r}")
    click.echo(f"ok   tts: {result.audio_seconds:.1f} s of audio")
