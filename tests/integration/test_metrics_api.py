"""The metrics HTTP API over real stores (SQLite and Redis) filled by real sessions:
listing, filters, details, export, delete, summaries, series, errors, the admin token, 422s
for malformed queries, and the live feed (server-sent events through a real socket)."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.server.metrics_api import MetricsApiSettings, metrics_app
from causerie.store import SQLiteStore
from causerie.store.records import turn_percentiles
from tests.fakes import FlakyLLM

from ..fixtures_metrics import served, text_session
from ..fixtures_store import (  # noqa: F401 - the *_fixture imports register fixtures
    StoreFactory,
    make_store_fixture,
    redis_server_fixture,
)

TOKEN = "let-me-in"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def runtime(make_store: StoreFactory) -> AsyncIterator[MetricsRuntime]:
    """Three finished sessions and one in progress, recorded through collectors."""
    rt = MetricsRuntime(MetricsSpec(), store=await make_store())
    await rt.start()
    c = rt.collector
    await text_session(
        c(session_id="shop", transport="websocket", agent_name="Shop"),
        ["hello", "what is the weather", "try the broken one"],
    )
    await text_session(
        c(session_id="flaky", transport="webrtc", agent_name="Shop"),
        ["hello", "hello"],
        llm=FlakyLLM({1}),
    )
    await text_session(
        c(session_id="chat", transport="text", agent_name="Other"), ["what can you do"]
    )
    live = await text_session(
        c(session_id="live", transport="websocket", agent_name="Shop"), ["hello"], close=False
    )
    await rt.store.flush(5)
    yield rt
    await live.aclose()
    await rt.aclose()


@pytest.fixture
async def client(runtime: MetricsRuntime) -> AsyncIterator[httpx.AsyncClient]:
    app = metrics_app(
        runtime.store,
        prometheus=runtime.prometheus,
        feed=runtime.feed,
        settings=MetricsApiSettings(admin_token=TOKEN),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=AUTH
    ) as c:
        yield c


async def test_sessions_list_paginates_and_filters(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/sessions")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 4 and [s["id"] for s in body["items"]] == [
        "live",
        "chat",
        "flaky",
        "shop",
    ]
    assert "turns" not in body["items"][0] and "transcript" not in body["items"][0]
    page = (await client.get("/api/sessions", params={"limit": 2, "offset": 2})).json()
    assert [s["id"] for s in page["items"]] == ["flaky", "shop"] and page["next_offset"] is None
    first = (await client.get("/api/sessions", params={"limit": 2})).json()
    assert first["next_offset"] == 2

    async def ids(**params: Any) -> list[str]:
        return [s["id"] for s in (await client.get("/api/sessions", params=params)).json()["items"]]

    assert await ids(transport="websocket") == ["live", "shop"]
    assert await ids(outcome="active") == ["live"]
    assert await ids(agent="Other") == ["chat"]
    assert await ids(q="PARIS") == ["shop"]  # transcript search, case-insensitive
    shop = next(s for s in body["items"] if s["id"] == "shop")
    assert await ids(since=str(shop["started_at"]), until=str(shop["started_at"] + 0.0001)) == [
        "shop"
    ]
    assert shop["turn_count"] == 3 and shop["outcome"] == "completed"


async def test_session_detail_has_transcript_turns_and_errors(client: httpx.AsyncClient) -> None:
    s = (await client.get("/api/sessions/shop")).json()
    assert [t["index"] for t in s["turns"]] == [1, 2, 3]
    assert s["turns"][1]["tool_calls"][0]["name"] == "get_weather"
    assert s["turns"][0]["llm_ttft"] is not None
    roles = [e["role"] for e in s["transcript"]]
    assert roles[:2] == ["user", "assistant"] and "tool" in roles
    assert [e["component"] for e in s["errors"]] == ["tool"]
    assert (await client.get("/api/sessions/nope")).status_code == 404


async def test_export_json_and_text(client: httpx.AsyncClient) -> None:
    detail = (await client.get("/api/sessions/shop")).json()
    r = await client.get("/api/sessions/shop/export", params={"format": "json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == 'attachment; filename="causerie-session-shop.json"'
    doc = r.json()
    assert doc["format"] == "causerie.session" and doc["session"]["id"] == "shop"
    assert doc["turns"] == detail["turns"] and doc["transcript"] == detail["transcript"]
    assert doc["errors"] == detail["errors"]
    txt = await client.get("/api/sessions/shop/export", params={"format": "txt"})
    assert txt.headers["content-type"].startswith("text/plain")
    assert "Causerie session shop" in txt.text and "] user: what is the weather" in txt.text
    assert "Turns (milliseconds)" in txt.text and "get_weather" in txt.text
    assert (await client.get("/api/sessions/nope/export")).status_code == 404


async def test_delete(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/api/sessions/chat")).status_code == 204
    assert (await client.get("/api/sessions/chat")).status_code == 404
    assert (await client.delete("/api/sessions/chat")).status_code == 404
    assert (await client.get("/api/sessions")).json()["total"] == 3


async def test_summary_series_and_errors(
    client: httpx.AsyncClient, runtime: MetricsRuntime
) -> None:
    turns = await runtime.store.turns_between(0)
    s = (
        await client.get("/api/metrics/summary", params={"window": "15m", "by": "provider"})
    ).json()
    assert s["turns"] == len(turns) == 7 and s["truncated"] is False
    assert s["metrics"]["llm_ttft"] == pytest.approx(turn_percentiles(turns, "llm_ttft"))
    assert s["metrics"]["voice_to_voice"]["count"] == 0
    assert s["sessions"] == {"started": 4, "active": 1} and s["errors"] == 2
    llm = s["by_provider"]["llm"]
    assert set(llm) == {"scripted/shop+smalltalk", "scripted/smalltalk"}  # FlakyLLM's own
    assert llm["scripted/smalltalk"]["llm_duration"]["count"] == 1  # the failed call has none
    assert sum(p["llm_ttft"]["count"] for p in llm.values()) == s["metrics"]["llm_ttft"]["count"]

    series = (
        await client.get(
            "/api/metrics/series",
            params={"window": "10m", "step": "1m", "metric": "llm_ttft,llm_duration"},
        )
    ).json()
    points = series["series"]["llm_ttft"]
    assert series["step"] == 60 and sum(p["count"] for p in points) == 7
    assert all(p["p50"] <= p["p90"] <= p["p99"] for p in points)

    errors = (await client.get("/api/errors", params={"window": "1h"})).json()["items"]
    assert sorted(e["component"] for e in errors) == ["llm", "tool"]
    only = (await client.get("/api/errors", params={"session": "flaky"})).json()["items"]
    assert [e["component"] for e in only] == ["llm"]


async def test_a_parameter_given_twice_is_422_but_a_list_may_repeat(
    client: httpx.AsyncClient,
) -> None:
    """FastAPI keeps the last of a repeated scalar silently: ?agent=a&agent=b is refused."""
    r = await client.get("/api/sessions", params=[("agent", "a"), ("agent", "b")])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_query" and body["fields"] == {
        "agent": "agent: given more than once; give it once"
    }
    r = await client.get("/api/errors", params=[("limit", "5"), ("window", "1h"), ("limit", "9")])
    assert r.status_code == 422 and "limit: given more than once" in r.json()["message"]
    series = [("metric", "voice_to_voice"), ("metric", "stt_final_delay")]
    assert (await client.get("/api/metrics/series", params=series)).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/api/sessions", {"limit": "abc"}, "limit: expected a whole number"),
        ("/api/sessions", {"limit": "0"}, "limit: must be between 1 and 500"),
        ("/api/sessions", {"offset": "-1"}, "offset: must be between 0"),
        ("/api/sessions", {"outcome": "happy"}, "outcome: expected one of active, completed"),
        ("/api/sessions", {"since": "yesterday"}, "since: expected epoch seconds or an ISO 8601"),
        ("/api/sessions", {"limt": "5"}, "unknown query parameter(s) limt"),
        ("/api/metrics/summary", {"window": "5x"}, "window: expected a duration like"),
        ("/api/metrics/summary", {"window": "0s"}, "window: must be more than 0"),
        ("/api/metrics/summary", {"window": "1000d"}, "at most 90 days"),
        ("/api/metrics/summary", {"by": "colour"}, "by: expected one of provider"),
        ("/api/metrics/series", {"metric": "loudness"}, "metric: expected one of"),
        ("/api/metrics/series", {"window": "7d", "step": "1s"}, "more than 1000 points"),
        ("/api/errors", {"limit": "5000"}, "limit: must be between 1 and 1000"),
        ("/api/sessions/shop/export", {"format": "pdf"}, "format: expected one of json, txt"),
        ("/api/sessions/bad%20id", {}, "session id"),
    ],
)
async def test_malformed_queries_are_422_with_a_clear_message(
    client: httpx.AsyncClient, path: str, params: dict[str, str], expected: str
) -> None:
    r = await client.get(path, params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] in ("invalid_query", "invalid_path") and expected in body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions",
        "/api/sessions/shop",
        "/api/sessions/shop/export",
        "/api/metrics/summary",
        "/api/metrics/series",
        "/api/errors",
        "/api/events",
    ],
)
async def test_admin_token_is_required_when_set(client: httpx.AsyncClient, path: str) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        r = await client.get(path, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "CAUSERIE_ADMIN_TOKEN" in r.json()["message"]
    r = await client.delete("/api/sessions/shop", headers={"Authorization": ""})
    assert r.status_code == 401


async def test_the_dashboard_page_is_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard", headers={"Authorization": ""})  # the page is public
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )
    assert (
        '<script src="/dashboard/vendor/chart.umd.js"' in page.text and "https://" not in page.text
    )
    lib = await client.get("/dashboard/vendor/chart.umd.js")
    assert lib.status_code == 200 and lib.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/dashboard/../../store/sqlite.py")).status_code == 404


async def read_events(
    lines: AsyncIterator[str], until: Any, seconds: float = 20.0
) -> list[tuple[str, Any]]:
    """(event, data) pairs from an SSE response's lines until ``until(event, data)``."""
    events: list[tuple[str, Any]] = []

    async def read() -> None:
        kind = ""
        async for line in lines:
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                events.append((kind, data))
                if until(kind, data):
                    return

    await asyncio.wait_for(read(), seconds)
    return events


def session_of(kind: str, data: dict[str, Any]) -> str | None:
    if kind == "turn":
        return str(data["turn"]["session_id"])
    if kind == "session_start":
        return str(data["session"]["id"])
    return data.get("session_id")


async def test_live_feed_pushes_starts_turns_and_ends(runtime: MetricsRuntime) -> None:
    app = metrics_app(
        runtime.store, feed=runtime.feed, settings=MetricsApiSettings(admin_token=TOKEN)
    )
    async with (
        served(app) as base,
        httpx.AsyncClient(base_url=base, headers=AUTH, timeout=20) as http,
    ):
        async with http.stream("GET", "/api/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith(
                "text/event-stream"
            )
            lines = r.aiter_lines()
            first = await read_events(lines, lambda kind, _: kind == "snapshot")
            snapshot = first[-1][1]
            assert [s["id"] for s in snapshot["active"]] == ["live"] and snapshot[
                "active_count"
            ] == 1

            async def converse() -> None:
                c = runtime.collector(session_id="new", transport="webrtc", agent_name="Shop")
                await text_session(c, ["hello", "what is the weather"])

            talk = asyncio.create_task(converse(), name="test.converse")
            events = await read_events(
                lines, lambda kind, d: kind == "session_end" and d["session_id"] == "new"
            )
            await talk
    kinds = [k for k, d in events if session_of(k, d) == "new"]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    turns = [d["turn"] for k, d in events if k == "turn"]
    assert [t["index"] for t in turns] == [1, 2] and turns[1]["tool_calls"][0][
        "name"
    ] == "get_weather"
    assert any(k == "agent_state" and d["state"] == "thinking" for k, d in events)
    assert runtime.feed.subscribers == 0  # the subscription ended with the connection


@pytest.mark.slow
async def test_the_server_records_its_sessions(tmp_path: Path) -> None:
    """``causerie serve``'s app: a WebSocket session with a spoken and a typed turn is
    recorded with the transport's voice-to-voice, and served by /api and /metrics."""
    from causerie.config import load_config
    from causerie.providers.registry import Registry
    from causerie.server import ServerSettings, create_app
    from tests.e2e.harness import WsClient, speech_frames

    registry = Registry.from_entry_points()
    loaded = load_config(None, dotenv=None, environ={}, registry=registry)
    rt = MetricsRuntime(loaded.spec.metrics, store=SQLiteStore(tmp_path / "server.sqlite3"))
    app = create_app(ServerSettings(), loaded=loaded, registry=registry, metrics=rt)
    async with (
        served(app, lifespan=True) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        assert gc.get_freeze_count() > 0  # startup's objects are out of the collector's way
        async with WsClient(base.replace("http://", "ws://") + "/api/ws") as c:
            sid = (await c.wait_for(lambda e: e["type"] == "ready"))["session_id"]
            await c.stream(speech_frames("what can you do"))
            measured = await c.wait_for(lambda e: e["type"] == "turn_metrics", within=20)
            await c.ws.send('{"type": "text", "text": "who are you"}')
            await c.wait_for(lambda e: e["type"] == "turn_metrics" and e["turn"] == 2, within=20)
        for _ in range(100):  # the session ends once the server sees the peer gone
            await rt.store.flush(5)
            s = (await http.get(f"/api/sessions/{sid}")).json()
            if s.get("outcome") == "completed":
                break
            await asyncio.sleep(0.1)
        assert s["outcome"] == "completed" and s["transport"] == "websocket"
        assert s["providers"]["stt"] == "pocketsphinx/en-us"
        spoken, typed = s["turns"]
        assert spoken["voice_to_voice"] == pytest.approx(measured["voice_to_voice"])
        assert spoken["stt_final_delay"] is not None and spoken["tts_ttfb"] is not None
        assert typed["user_text"] == "who are you" and typed["voice_to_voice"] is None
        metrics = (await http.get("/metrics")).text
        started = 'causerie_sessions_started_total{agent="Causerie",transport="websocket"} 1.0'
        assert started in metrics
        assert "causerie_voice_to_voice_seconds_count" in metrics
        dashboard = await http.get("/dashboard")
        assert dashboard.status_code == 200
    assert gc.get_freeze_count() == 0


@pytest.mark.slow
def test_causerie_talk_records_and_the_cli_reads_it(tmp_path: Path) -> None:
    """``causerie talk`` records its session; ``causerie metrics`` and ``causerie sessions``
    read it back from the same store (real processes, real speech)."""
    import os
    import subprocess
    import sys

    from tests.speech import write_speech_wav

    CLI = [sys.executable, "-c", "from causerie.cli.main import main; main()"]
    wav = write_speech_wav(tmp_path / "q.wav", ["Hello there.", "What can you do?"], gap=2.0)
    url = f"sqlite:///{tmp_path / 'talk.sqlite3'}"
    env = {**os.environ, "CAUSERIE_STORE_URL": url}

    def causerie(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*CLI, *args]
        done = subprocess.run(
            cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    talked = causerie("talk", "-i", str(wav), "-o", str(tmp_path / "r.wav"), "--fast")
    assert f"recorded in {url}" in talked.stderr
    listed = json.loads(causerie("sessions", "list", "--json").stdout)
    assert listed["total"] == 1
    (session,) = listed["items"]
    assert (session["transport"], session["outcome"], session["turn_count"]) == (
        "cli",
        "completed",
        2,
    )
    shown = json.loads(causerie("sessions", "show", session["id"], "--json").stdout)
    assert [t["voice_to_voice"] is not None for t in shown["turns"]] == [True, True]
    text = causerie("sessions", "export", session["id"], "--format", "txt").stdout
    assert "Transcript" in text and "] user: " in text
    summary = json.loads(causerie("metrics", "--window", "1h", "--json").stdout)
    assert summary["metrics"]["voice_to_voice"]["count"] == 2 and summary["sessions"] == 1
    table = causerie("metrics", "--by-provider").stdout
    assert "voice_to_voice" in table and "pocketsphinx/en-us" in table
    bad = subprocess.run([*CLI, "metrics", "--window", "soon"],
                         env=env, cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--window: expected a duration" in bad.stderr
    causerie("sessions", "delete", session["id"], "--yes")
    assert json.loads(causerie("sessions", "list", "--json").stdout)["total"] == 0
