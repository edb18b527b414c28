"""The dashboard's provider breakdown shows failovers: a session whose LLM chain's first
provider failed is recorded, and the chart in chromium names the fallback that served and
how many turns it took over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from causerie.agent.fallback import LLMChain
from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.server.metrics_api import MetricsApiSettings, metrics_app
from causerie.store import SQLiteStore
from tests.fakes import FlakyLLM

from ..fixtures_metrics import served, shop_llm, text_session
from .test_dashboard import CHROMIUM, TOKEN, until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]

PROVIDER_LABELS = """() => Chart.getChart(document.getElementById("provider-chart")).data.labels"""
LABELS_READY = PROVIDER_LABELS.replace("labels", "labels.length > 0")


async def test_provider_breakdown_counts_failovers(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore(tmp_path / "m.sqlite3"))
    await rt.start()
    chain = LLMChain([FlakyLLM({1}), shop_llm()], timeout=2.0)
    fallback = chain.chain_labels[1]
    try:
        await text_session(
            rt.collector(session_id="chain", transport="text", agent_name="Shop"),
            ["hello"],
            llm=chain,
        )
        await rt.store.flush(5)
        app = metrics_app(
            rt.store,
            prometheus=rt.prometheus,
            feed=rt.feed,
            settings=MetricsApiSettings(admin_token=TOKEN),
        )
        async with served(app) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
            )
            try:
                page = await browser.new_page()
                await page.goto(f"{base}/dashboard")
                await page.wait_for_selector("#login:not([hidden])")
                await page.fill("#token", TOKEN)
                await page.click("#login button[type=submit]")
                await until(page, LABELS_READY)
                labels: list[str] = await page.evaluate(PROVIDER_LABELS)
            finally:
                await browser.close()
    finally:
        await chain.aclose()
        await rt.aclose()
    llm_labels = [x for x in labels if f"· {fallback}" in x]
    assert llm_labels and all(x.endswith("· failovers: 1") for x in llm_labels), labels
