"""``causerie metrics`` and ``causerie sessions ...``: what the store has, in a terminal.

The store is the one ``metrics.store_url`` names (agent.yaml, ``CAUSERIE_STORE_URL``,
``REDIS_URL``), or ``--store URL``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .common import CliState

T = TypeVar("T")

store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Store to read [default: metrics.store_url of the agent definition].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _url(state: CliState, given: str | None) -> str:
    if given:
        return given
    loaded, _ = state.load(check_providers=False)
    return str(loaded.spec.metrics.store_url)


def _with_store(url: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    from ..store import open_store

    async def run() -> T:
        async with open_store(url) as store:
            return await fn(store)

    return asyncio.run(run())


def _bad(param: str, fn: Callable[[], T]) -> T:
    from ..metrics.query import QueryError

    try:
        return fn()
    except QueryError as e:
        raise click.BadParameter(str(e), param_hint=param) from None


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _since(raw: str) -> float:
    """'2h' (that long ago), epoch seconds or an ISO 8601 time."""
    from ..metrics.query import QueryError, parse_duration, parse_time

    try:
        return time.time() - parse_duration("--since", raw)
    except QueryError:
        return parse_time("--since", raw)


# -- causerie metrics ---------------------------------------------------------------------


@click.command("metrics")
@click.option(
    "-w", "--window", default="1h", show_default=True, help="How far back: 90s, 15m, 1h, 7d..."
)
@click.option("--by-provider", is_flag=True, help="Also break the figures down by provider.")
@store_option
@json_option
@click.pass_obj
def metrics(
    state: CliState, window: str, by_provider: bool, store_url: str | None, as_json: bool
) -> None:
    """p50 / p90 / p99 of every per-turn latency over a time window."""
    from ..metrics import query

    seconds = _bad("--window", lambda: query.parse_duration("--window", window))

    async def read(store: Any) -> dict[str, Any]:
        w = await query.load_window(store, seconds)
        out: dict[str, Any] = {
            "window": seconds,
            "turns": len(w.turns),
            "truncated": w.truncated,
            "metrics": query.summarize(w.turns),
            "sessions": (await store.list_sessions(since=w.since, limit=1)).total,
            "active": await store.count_active(),
            "errors": len(await store.list_errors(since=w.since, limit=1000)),
        }
        if by_provider:
            known = await query.sessions_by_id(store, {t.session_id for t in w.turns}, w.since)
            out["by_provider"] = query.by_provider(w.turns, known)
            out["failovers"] = query.failovers(w.turns)
        return out

    res = _with_store(_url(state, store_url), read)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    click.echo(
        f"last {window}: {res['sessions']} session(s), {res['turns']} turn(s)"
        f"{' (truncated)' if res['truncated'] else ''}, {res['active']} active, "
        f"{res['errors']} error(s)"
    )
    rows = [["metric", "count", "p50 ms", "p90 ms", "p99 ms"]]
    for name, p in res["metrics"].items():
        rows.append([name, str(p["count"]), _ms(p["p50"]), _ms(p["p90"]), _ms(p["p99"])])
    _table(rows)
    for stage, counts in (res.get("failovers") or {}).items():
        served = ", ".join(f"{p} {n} turn(s)" for p, n in counts.items())
        click.echo(f"failovers: {stage} served by a fallback: {served}")
    for stage, providers in (res.get("by_provider") or {}).items():
        for provider, stats in providers.items():
            click.echo(f"\n{stage}: {provider}")
            _table(
                [["metric", "count", "p50 ms", "p90 ms", "p99 ms"]]
                + [
                    [m, str(p["count"]), _ms(p["p50"]), _ms(p["p90"]), _ms(p["p99"])]
                    for m, p in stats.items()
                ]
            )


# -- causerie sessions --------------------------------------------------------------------


@click.group("sessions")
def sessions() -> None:
    """Recorded sessions: list, show, export, delete."""


@sessions.command("list")
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--transport", help="websocket, webrtc, livekit, cli, text.")
@click.option("--outcome", type=click.Choice(["active", "completed", "user_left", "error"]))
@click.option("--since", help="2h (ago), epoch seconds or an ISO 8601 time.")
@click.option("-s", "--search", help="Text that the transcript contains.")
@store_option
@json_option
@click.pass_obj
def list_sessions(
    state: CliState,
    limit: int,
    offset: int,
    transport: str | None,
    outcome: str | None,
    since: str | None,
    search: str | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Sessions, newest first."""
    since_ts = _bad("--since", lambda: _since(since)) if since else None

    async def read(store: Any) -> Any:
        return await store.list_sessions(
            limit=limit,
            offset=offset,
            transport=transport,
            outcome=outcome,
            since=since_ts,
            text=search,
        )

    page = _with_store(_url(state, store_url), read)
    if as_json:
        items = [
            {k: v for k, v in s.to_dict().items() if k not in ("turns", "transcript")}
            for s in page.items
        ]
        click.echo(
            json.dumps(
                {"items": items, "total": page.total, "next_offset": page.next_offset}, indent=2
            )
        )
        return
    if not page.items:
        click.echo(
            "no session recorded"
            + (" matches" if page.total == 0 and (transport or outcome or since or search) else "")
        )
        return
    rows = [["id", "started", "transport", "agent", "turns", "duration", "outcome"]]
    for s in page.items:
        dur = "-" if s.duration is None else f"{s.duration:.1f}s"
        rows.append(
            [
                s.id,
                _when(s.started_at),
                s.transport,
                s.agent_name,
                str(s.turn_count),
                dur,
                s.outcome,
            ]
        )
    _table(rows)
    more = f"; next: --offset {page.next_offset}" if page.next_offset is not None else ""
    click.echo(f"{offset + 1}-{offset + len(page.items)} of {page.total}{more}", err=True)


async def _get(store: Any, session_id: str) -> tuple[Any, list[Any]]:
    s = await store.get_session(session_id)
    errors = await store.list_errors(session_id=session_id, limit=1000) if s is not None else []
    return s, errors


@sessions.command("show")
@click.argument("session_id")
@store_option
@json_option
@click.pass_obj
def show(state: CliState, session_id: str, store_url: str | None, as_json: bool) -> None:
    """One session: transcript and per-turn metrics."""
    from ..metrics.export import export_session

    s, errors = _with_store(_url(state, store_url), lambda st: _get(st, session_id))
    if s is None:
        raise click.ClickException(f"no session {session_id!r} (see `causerie sessions list`)")
    for piece in export_session(s, errors, "json" if as_json else "txt"):
        click.echo(piece, nl=False)


@sessions.command("export")
@click.argument("session_id")
@click.option(
    "-f", "--format", "fmt", type=click.Choice(["json", "txt"]), default="json", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write [default: stdout].",
)
@store_option
@click.pass_obj
def export(
    state: CliState, session_id: str, fmt: str, output: Path | None, store_url: str | None
) -> None:
    """Write a session as JSON (lossless) or text."""
    from ..metrics.export import export_session

    s, errors = _with_store(_url(state, store_url), lambda st: _get(st, session_id))
    if s is None:
        raise click.ClickException(f"no session {session_id!r} (see `causerie sessions list`)")
    pieces = export_session(s, errors, fmt)  # type: ignore[arg-type]
    if output is None:
        for piece in pieces:
            sys.stdout.write(piece)
        return
    with output.open("w", encoding="utf-8") as f:
        for piece in pieces:
            f.write(piece)
    click.echo(f"session {session_id} written to {output}", err=True)


@sessions.command("delete")
@click.argument("session_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
@store_option
@click.pass_obj
def delete(state: CliState, session_id: str, yes: bool, store_url: str | None) -> None:
    """Delete a session with its turns, transcript and errors."""
    if not yes:
        click.confirm(f"delete session {session_id}?", abort=True)
    if not _with_store(_url(state, store_url), lambda st: st.delete_session(session_id)):
        raise click.ClickException(f"no session {session_id!r}")
    click.echo(f"session {session_id} deleted", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(metrics)
    cli.add_command(sessions)
