"""A declared tool's card on the real talk page in Debian chromium: shown in the tool panel,
newest first, with API values inserted as text (never HTML), labels in the page's language.
(That the agent emits the event is tested in tests/integration/test_declared_agent.py; the
transports forward session events unchanged.)"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from causerie.config.loader import load_config
from causerie.server import create_app

from ..fixtures_metrics import served

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]

CARD = {
    "type": "tool_card",
    "tool": "order_status",
    "card": {
        "title": "Order A1001",
        "text": "<img src=x onerror=window.pwned=1>shipped",
        "fields": [{"label": "Carrier", "value": "La Poste"}],
    },
}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield b
        finally:
            await b.close()


async def test_tool_card_is_shown_as_text(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("name: Margot\nlanguage: fr\n", encoding="utf-8")
    loaded = load_config(
        tmp_path / "agent.yaml",
        dotenv=None,
        environ={},
        overrides={"metrics.store_url": f"sqlite:///{tmp_path}/m.sqlite3"},
    )
    async with served(create_app(loaded=loaded)) as base:
        page = await (await browser.new_context(locale="en-US")).new_page()
        await page.goto(base + "/")
        await page.wait_for_function("() => window.causerie && window.causerie.ready === true")
        await page.evaluate(
            "(ev) => window.dispatchEvent(new CustomEvent('causerie:event', {detail: ev}))", CARD
        )
        later = {**CARD, "card": {"title": "Order A1002", "fields": []}}
        await page.evaluate("(ev) => window.causerieCards.handle(ev)", later)
        panel = page.locator(".tool-cards")
        assert await panel.locator("h2").inner_text() == "Résultats des outils"
        titles = await panel.locator(".tool-card strong").all_inner_texts()
        assert titles == ["Order A1002", "Order A1001"]
        first = panel.locator(".tool-card").nth(1)
        assert await first.locator("p").inner_text() == CARD["card"]["text"]  # text, not markup
        assert await first.locator("img").count() == 0
        assert await page.evaluate("window.pwned === undefined")
        assert await first.locator("dt").inner_text() == "Carrier"
        assert await first.locator("dd").inner_text() == "La Poste"
