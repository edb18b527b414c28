"""/metrics, parsed with prometheus_client's own parser, against sessions actually run: text
sessions on SQLite and Redis, a voice session through the audio path, several worker
processes in multiprocess mode, the tokens, and a store that does not answer the scrape."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from causerie.config.spec import MetricsSpec
from causerie.errors import CauserieError
from causerie.metrics.prometheus import TURN_HISTOGRAMS, PrometheusMetrics, render_multiprocess
from causerie.metrics.runtime import MetricsRuntime
from causerie.server.metrics_api import MetricsApiSettings, metrics_app
from causerie.store import SQLiteStore, Store
from causerie.store.records import TURN_METRICS, TurnRecord
from tests.fakes import FlakyLLM

from ..fixtures_metrics import ROOT, text_session, voice_session
from ..fixtures_store import (  # noqa: F401 - the *_fixture imports register fixtures
    StoreFactory,
    make_store_fixture,
    redis_server_fixture,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(lab)[label] for (n, lab) in samples if n == name and label in dict(lab)}


async def scrape(app: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get("/metrics", headers=headers or {})


async def stored_turns(store: Store, ids: list[str]) -> list[TurnRecord]:
    turns: list[TurnRecord] = []
    for sid in ids:
        s = await store.get_session(sid)
        assert s is not None
        turns += s.turns
    return turns


def check_histograms(samples: Samples, turns: list[TurnRecord], **labels: str) -> int:
    """Every latency histogram's count and sum equal what the store has; returns how many
    histograms had values."""
    checked = 0
    for field, name, _, _ in TURN_HISTOGRAMS:
        values = [getattr(t, field) for t in turns if getattr(t, field) is not None]
        assert value(samples, f"{name}_count", **labels) == len(values), field
        assert math.isclose(
            value(samples, f"{name}_sum", **labels), sum(values), rel_tol=1e-6, abs_tol=1e-9
        ), field
        checked += bool(values)
    return checked


async def test_text_sessions_match_the_store(make_store: StoreFactory) -> None:
    rt = MetricsRuntime(MetricsSpec(), store=await make_store())
    await rt.start()
    ids = ["shop", "flaky", "chat"]
    await text_session(
        rt.collector(session_id="shop", transport="text", agent_name="A"),
        ["hello", "what is the weather", "try the broken one"],
    )
    await text_session(
        rt.collector(session_id="flaky", transport="text", agent_name="A"),
        ["hello", "hello"],
        llm=FlakyLLM({1}),
    )
    open_one = await text_session(
        rt.collector(session_id="chat", transport="websocket", agent_name="A"),
        ["hello", "what can you do"],
        close=False,
    )
    await rt.store.flush(5)
    app = metrics_app(rt.store, prometheus=rt.prometheus, feed=rt.feed)

    live = parse((await scrape(app)).text)
    assert value(live, "causerie_active_sessions", transport="websocket") == 1
    assert value(live, "causerie_active_sessions", transport="text") == 0
    assert value(live, "causerie_store_active_sessions") == 1  # the store's view agrees
    await open_one.aclose()
    await rt.store.flush(5)

    samples = parse((await scrape(app)).text)
    turns = await stored_turns(rt.store, ids)
    assert value(samples, "causerie_sessions_started_total") == 3
    assert value(samples, "causerie_sessions_started_total", transport="text") == 2
    # Each figure by agent too (several agents per server): these three were agent "A".
    assert value(samples, "causerie_sessions_started_total", agent="A") == 3
    assert label_values(samples, "causerie_voice_to_voice_seconds_count", "agent") <= {"A"}
    assert value(samples, "causerie_sessions_ended_total", outcome="completed") == 3
    assert value(samples, "causerie_active_sessions") == 0
    assert value(samples, "causerie_store_active_sessions") == 0
    assert value(samples, "causerie_session_duration_seconds_count") == 3
    assert value(samples, "causerie_turns_total") == len(turns) == 7
    assert check_histograms(samples, turns) >= 2  # llm_ttft and llm_duration at least
    assert label_values(samples, "causerie_llm_ttft_seconds_count", "provider") == {
        "scripted/shop+smalltalk",
        "scripted/smalltalk",
    }

    errors = await rt.store.list_errors()
    assert value(samples, "causerie_errors_total") == len(errors) == 2
    assert (
        value(samples, "causerie_errors_total", component="llm", provider="scripted/smalltalk") == 1
    )
    assert value(samples, "causerie_errors_total", component="tool", transport="text") == 1
    assert value(samples, "causerie_tool_calls_total", tool="get_weather", outcome="ok") == 1
    assert value(samples, "causerie_tool_calls_total", tool="broken_tool", outcome="error") == 1
    assert value(samples, "causerie_tool_duration_seconds_count") == 2
    assert value(samples, "causerie_store_writes_total") == rt.store.written > 0
    assert value(samples, "causerie_store_dropped_total") == 0
    assert value(samples, "causerie_store_up") == 1
    assert value(samples, "causerie_store_healthy") == 1
    await rt.aclose()


@pytest.mark.slow
async def test_voice_session_matches_the_store(tmp_path: Path) -> None:
    rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore(tmp_path / "m.sqlite3"))
    await rt.start()
    made: list[Any] = []

    def collector_for(session: Any, pipeline: Any) -> Any:
        c = rt.collector(
            session_id="voice", transport="cli", agent_name="A", providers=pipeline.describe()
        )
        made.append(c)
        return c

    result = await voice_session(collector_for, ["Hello there.", "What can you do?"])
    await rt.store.flush(5)
    samples = parse((await scrape(metrics_app(rt.store, prometheus=rt.prometheus))).text)
    turns = await stored_turns(rt.store, ["voice"])
    assert len(turns) == len(result.turns) == 2
    # Voice-to-voice in /metrics is the transport's figure, turn for turn.
    assert [t.voice_to_voice for t in turns] == pytest.approx(result.latencies)
    assert check_histograms(samples, turns, transport="cli") >= 6
    assert (
        value(
            samples,
            "causerie_voice_to_voice_seconds_count",
            provider="pocketsphinx/en-us+scripted/smalltalk+espeak/espeak-ng",
        )
        == 2
    )
    assert (
        value(samples, "causerie_stt_final_delay_seconds_count", provider="pocketsphinx/en-us") == 2
    )
    assert value(samples, "causerie_tts_ttfb_seconds_count", provider="espeak/espeak-ng") == 2
    assert (
        value(samples, "causerie_sessions_ended_total", transport="cli", outcome="completed") == 1
    )
    await rt.aclose()


async def test_metrics_token(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.sqlite3")
    settings = MetricsApiSettings(metrics_token="scrape-me", admin_token="admin")
    app = metrics_app(store, prometheus=PrometheusMetrics(), settings=settings)
    assert (await scrape(app)).status_code == 401
    assert (await scrape(app, {"Authorization": "Bearer admin"})).status_code == 401
    ok = await scrape(app, {"Authorization": "Bearer scrape-me"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    assert value(parse(ok.text), "causerie_store_up") == 1
    await store.close()


async def test_a_store_that_does_not_answer_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "volume").write_text("not a folder")  # the store's folder is missing
    store = SQLiteStore(tmp_path / "volume" / "m.sqlite3")
    response = await scrape(metrics_app(store, prometheus=PrometheusMetrics()))
    assert response.status_code == 200
    samples = parse(response.text)
    assert value(samples, "causerie_store_up") == 0
    assert ("causerie_store_active_sessions", frozenset()) not in samples
    await store.close()


# -- several worker processes (prometheus multiprocess mode) -------------------------------

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from causerie.config.spec import MetricsSpec
    from causerie.metrics.runtime import MetricsRuntime
    from causerie.store import SQLiteStore
    from tests.fixtures_metrics import text_session

    async def main(name, n, hold):
        rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore({db!r}))
        await rt.start()
        for i in range(n):
            c = rt.collector(session_id=f"{{name}}-{{i}}", transport="websocket", agent_name="A")
            await text_session(c, ["hello", "what is the weather"], close=not hold)
        await rt.store.flush(5)
        if hold:  # a session in progress until this process dies
            print("ready", flush=True)
            await asyncio.sleep(3600)
        await rt.aclose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "hold"))
    """
)


def test_several_worker_processes_add_up(tmp_path: Path) -> None:
    mp = tmp_path / "prom"
    mp.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT), db=str(tmp_path / "shared.sqlite3")))
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp)}

    def run(name: str, n: int, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(script), name, str(n), mode],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    holder = run("holder", 1, "hold")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready", (
            holder.stderr.read() if holder.stderr else ""
        )
        workers = [run(f"w{i}", 2, "run") for i in range(2)]
        for w in workers:
            _, err = w.communicate(timeout=120)
            assert w.returncode == 0, err[-2000:]

        samples = parse(render_multiprocess(str(mp)).decode())
        assert value(samples, "causerie_sessions_started_total", transport="websocket") == 5
        assert value(samples, "causerie_sessions_ended_total", outcome="completed") == 4
        assert value(samples, "causerie_turns_total") == 10
        assert value(samples, "causerie_tool_calls_total", tool="get_weather") == 5
        assert value(samples, "causerie_llm_ttft_seconds_count") == 10
        assert value(samples, "causerie_active_sessions") == 1  # the holder's, still alive
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a worker crashing with a session open
        holder.wait(timeout=10)

    samples = parse(render_multiprocess(str(mp)).decode())
    assert value(samples, "causerie_active_sessions") == 0  # dead processes do not count
    assert value(samples, "causerie_sessions_started_total") == 5  # what they did still does


def test_multiprocess_dir_must_be_set_before_start(tmp_path: Path) -> None:
    with pytest.raises(CauserieError, match="before the process starts"):
        PrometheusMetrics(multiprocess_dir=str(tmp_path))


def test_every_latency_metric_has_a_histogram() -> None:
    fields = {f for f, *_ in TURN_HISTOGRAMS}
    assert fields == {m for m in TURN_METRICS if not m.endswith("_tokens")}
