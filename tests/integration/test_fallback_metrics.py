"""Failovers in the recorded metrics: the turn says who served it, the summary API (the
dashboard's provider breakdown) and Prometheus count the turns a fallback served."""

from __future__ import annotations

import httpx

from causerie.agent.fallback import LLMChain
from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.server.metrics_api import MetricsApiSettings, metrics_app
from causerie.store.records import TurnRecord
from tests.fakes import FlakyLLM

from ..fixtures_metrics import shop_llm, text_session
from ..fixtures_store import (  # noqa: F401 - the *_fixture imports register fixtures
    StoreFactory,
    make_store_fixture,
    redis_server_fixture,
)


async def test_failovers_are_recorded_summarised_and_exported(make_store: StoreFactory) -> None:
    rt = MetricsRuntime(MetricsSpec(), store=await make_store())
    await rt.start()
    try:
        # The first LLM fails its first two calls; livekit then probes it back in the
        # background, so later turns may be its again: only the first two are asserted.
        first, second = FlakyLLM({1, 2}), shop_llm()
        chain = LLMChain([first, second], timeout=2.0)
        primary, fallback = chain.chain_labels
        await text_session(
            rt.collector(session_id="chain", transport="text", agent_name="Shop"),
            ["hello", "what is the weather"],
            llm=chain,
        )
        await rt.store.flush(5)
        session = await rt.store.get_session("chain")
        assert session is not None and session.providers["llm"] == primary
        turns: list[TurnRecord] = session.turns
        assert [t.failovers for t in turns[:1]] == [["llm"]]
        assert turns[0].providers["llm"] == fallback and turns[0].agent_text
        failed = sum(1 for t in turns if t.failovers)

        app = metrics_app(
            rt.store, prometheus=rt.prometheus, feed=rt.feed, settings=MetricsApiSettings()
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            body = (await client.get("/api/metrics/summary?window=1h&by=provider")).json()
            metrics = (await client.get("/metrics")).text
        assert body["failovers"] == {"llm": {fallback: failed}}
        assert fallback in body["by_provider"]["llm"]  # the breakdown names who served
        line = next(x for x in metrics.splitlines() if x.startswith("causerie_failovers_total"))
        assert 'stage="llm"' in line and line.endswith(f" {float(failed)}")
    finally:
        await chain.aclose()
        await rt.aclose()
