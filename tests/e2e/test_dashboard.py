"""The dashboard in headless Debian chromium, over sessions actually run: a voice session
(espeak speech -> pocketsphinx -> scripted LLM -> espeak, through ``talk``) and text
sessions with tools and an error. The charts must hold the recorded data and draw it, the
live feed must show a session starting and ending, and nothing may load from elsewhere."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.server.metrics_api import MetricsApiSettings, metrics_app
from causerie.store import SQLiteStore

from ..fixtures_metrics import served, text_session, voice_session

CHROMIUM = "/usr/bin/chromium"
TOKEN = "dashboard-secret"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]

CHART_POINTS = """() => {
  const out = {};
  for (const id of ["latency-chart", "provider-chart", "waterfall-chart"]) {
    const chart = Chart.getChart(document.getElementById(id));
    out[id] = {labels: chart.data.labels.length,
               points: chart.data.datasets.map(d => d.data.filter(v => v !== null).length),
               data: chart.data.datasets.map(d => d.data)};
  }
  return out;
}"""

INKED_PIXELS = """(id) => {
  const c = document.getElementById(id);
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
  return n;
}"""


async def until(page: Any, predicate: str, seconds: float = 10.0) -> None:
    """Poll ``predicate`` (a JS function) with page.evaluate: wait_for_function evaluates
    strings with eval, which the dashboard's Content-Security-Policy rightly forbids."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await page.evaluate(predicate):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.1)


async def test_dashboard_shows_real_sessions(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore(tmp_path / "m.sqlite3"))
    await rt.start()

    def collector_for(session: Any, pipeline: Any) -> Any:
        return rt.collector(
            session_id="voice",
            transport="cli",
            agent_name="Causerie",
            providers=pipeline.describe(),
        )

    talked = await voice_session(collector_for, ["Hello there.", "What can you do?"])
    await text_session(
        rt.collector(session_id="shop", transport="websocket", agent_name="Shop"),
        ["hello", "what is the weather", "try the broken one"],
    )
    await rt.store.flush(5)
    voice = await rt.store.get_session("voice")
    assert voice is not None and len(voice.turns) == 2

    app = metrics_app(
        rt.store,
        prometheus=rt.prometheus,
        feed=rt.feed,
        settings=MetricsApiSettings(admin_token=TOKEN),
    )
    problems: list[str] = []
    requested: list[str] = []
    async with served(app) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = await browser.new_page()
            # 401s are the login flow (the page asks for the token after its first calls).
            page.on(
                "console",
                lambda m: (
                    problems.append(m.text)
                    if m.type == "error" and "401 (Unauthorized)" not in m.text
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requested.append(r.url))

            await page.goto(f"{base}/dashboard")
            await page.wait_for_selector("#login:not([hidden])")  # the API answered 401
            await page.fill("#token", TOKEN)
            await page.click("#login button[type=submit]")
            await until(page, "() => document.querySelectorAll('#sessions tbody tr').length === 2")
            await until(page, "() => document.getElementById('live').classList.contains('on')")
            # Filter by agent: the choices are the agents seen in the store's sessions.
            await page.select_option("#f-agent", "Shop")
            await page.click("#filters button[type=submit]")
            await until(page, "() => document.querySelectorAll('#sessions tbody tr').length === 1")
            assert await page.get_attribute("#sessions tbody tr", "data-id") == "shop"
            await page.select_option("#f-agent", "")
            await page.click("#filters button[type=submit]")
            await until(page, "() => document.querySelectorAll('#sessions tbody tr').length === 2")

            await page.click("#sessions tbody tr[data-id='voice']")
            await until(page, "() => document.getElementById('d-id').textContent === 'voice'")
            await until(
                page,
                "() => Chart.getChart(document.getElementById('waterfall-chart'))"
                ".data.labels.length === 2",
            )
            charts = await page.evaluate(CHART_POINTS)

            # Latency over time: voice-to-voice p50/p90/p99 from the voice session's turns.
            assert charts["latency-chart"]["points"] == [1, 1, 1]
            p50 = charts["latency-chart"]["data"][0][0]["y"]
            v2v = sorted(
                t.voice_to_voice * 1000 for t in voice.turns if t.voice_to_voice is not None
            )
            assert v2v[0] <= p50 <= v2v[-1]
            # Provider breakdown: one bar per stage and provider that has data.
            assert charts["provider-chart"]["labels"] >= 5
            # Waterfall: every stage of both voice turns, ending at the measured voice-to-voice.
            assert charts["waterfall-chart"]["points"] == [2, 2, 2, 2, 2]
            audio_out = [bar[1] for bar in charts["waterfall-chart"]["data"][4]]
            assert audio_out == pytest.approx([t * 1000 for t in talked.latencies])
            for chart_id in ("latency-chart", "provider-chart", "waterfall-chart"):
                assert await page.evaluate(INKED_PIXELS, chart_id) > 500, f"{chart_id} drew nothing"

            transcript = await page.inner_text("#transcript")
            assert voice.transcript[0].text in transcript
            assert "ms" in await page.inner_text("#card-v2v")
            await until(page, "() => document.querySelectorAll('#errors tbody tr').length === 1")
            assert "catalogue is down" in await page.inner_text("#errors")

            # Live: a session starts while the page is open, then ends.
            c = rt.collector(session_id="newcomer", transport="webrtc", agent_name="Causerie")
            live = await text_session(c, ["hello"], close=False)
            await page.wait_for_selector("#active tbody tr[data-id='newcomer']", timeout=60_000)
            await live.aclose()
            await until(
                page, "() => !document.querySelector(\"#active tbody tr[data-id='newcomer']\")"
            )
            await until(page, "() => document.querySelectorAll('#sessions tbody tr').length === 3")
        finally:
            await browser.close()
    await rt.aclose()
    assert not problems, problems
    assert requested and all(u.startswith(base) for u in requested), [
        u for u in requested if not u.startswith(base)
    ]
