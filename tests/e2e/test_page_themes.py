"""The talk page and the dashboard in real Debian chromium: their language (the agent's, the
browser's, the switch), the agent's theme (computed colours, logo, visualiser), and LiveKit's
room and name reaching a token minted for the page while CAUSERIE_TOKEN_API_KEY is set.

The apps are the real ones (``create_app``, ``metrics_app``); the talk page's models are not
loaded (lifespan off): nothing here connects to the agent."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api

from causerie.config.loader import load_config
from causerie.config.spec import MetricsSpec
from causerie.metrics.runtime import MetricsRuntime
from causerie.server import create_app
from causerie.server.metrics_api import metrics_app
from causerie.store import SQLiteStore

from ..fixtures_metrics import free_port, served

CHROMIUM = "/usr/bin/chromium"
PAGE_KEY = "page-key-not-for-browsers-0042"
LK_KEY, LK_SECRET = "devkey", "secret-" * 6

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]


def talk_app(folder: Path, yaml: str, env: dict[str, str] | None = None) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.yaml").write_text(yaml, encoding="utf-8")
    loaded = load_config(
        folder / "agent.yaml",
        dotenv=None,
        environ=env or {},
        overrides={"metrics.store_url": f"sqlite:///{folder}/m.sqlite3"},
    )
    return create_app(loaded=loaded)


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


async def open_page(browser: Any, url: str, locale: str = "en-US") -> Any:
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    page.on("console", lambda m: print(f"[page] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: print(f"[page error] {e}"))
    await page.goto(url)
    await until(page, "() => Boolean(window.causerie && window.causerie.ready)")
    return page


async def until(page: Any, predicate: str, seconds: float = 10.0) -> None:
    """Poll a JS function with evaluate: the pages' Content-Security-Policy forbids the eval
    that wait_for_function uses for strings."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await page.evaluate(predicate):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.05)


def style(selector: str, prop: str) -> str:
    return f"getComputedStyle(document.querySelector({selector!r})).{prop}"


async def test_a_french_agent_shows_french_labels(browser: Any, tmp_path: Path) -> None:
    app = talk_app(tmp_path, "name: Marché\nlanguage: fr\n")
    async with served(app) as base:
        page = await open_page(browser, base + "/")  # an English browser
        assert await page.evaluate("document.documentElement.lang") == "fr"
        assert await page.title() == "Causerie : parler à l'agent"
        assert await page.inner_text("#connect") == "Se connecter"
        assert await page.inner_text("#conn") == "Déconnecté"
        assert await page.inner_text("#agent-state") == "Non connecté"
        assert await page.inner_text("#interrupt") == "Interrompre"
        assert await page.get_attribute("#text", "placeholder") == "Écrire à l'agent…"
        assert await page.inner_text("#agent-name") == "Marché"
        assert await page.input_value("#language") == "fr"
        # What the script writes itself speaks French too: the shop panel's labels.
        await page.evaluate(
            """window.causerieShop.handle({type: "cart_updated", items: [], total: 0,
                                            currency: "EUR"})"""
        )
        assert "Votre panier est vide." in await page.inner_text(".shop")


async def test_the_dashboard_follows_the_browser_language(browser: Any, tmp_path: Path) -> None:
    rt = MetricsRuntime(MetricsSpec(), store=SQLiteStore(tmp_path / "m.sqlite3"))
    await rt.start()
    try:
        async with served(metrics_app(rt.store, feed=rt.feed)) as base:
            context = await browser.new_context(locale="fr-FR")
            page = await context.new_page()
            await page.goto(base + "/dashboard")
            await until(page, "() => document.documentElement.lang === 'fr'")
            assert await page.inner_text("#errors-empty") == "Aucune erreur sur la période."
            assert await page.title() == "Causerie · tableau de bord"
            await until(
                page, "() => document.getElementById('page-info').textContent === 'aucune session'"
            )
            # The switch: back to English, including what the script wrote.
            await page.select_option("#language", "en")
            await until(page, "() => document.documentElement.lang === 'en'")
            assert await page.inner_text("#errors-empty") == "No error in the window."
            await until(
                page, "() => document.getElementById('page-info').textContent === 'no session'"
            )
    finally:
        await rt.aclose()


async def test_the_language_switch(browser: Any, tmp_path: Path) -> None:
    async with served(talk_app(tmp_path, "name: Shop\n")) as base:
        page = await open_page(browser, base + "/")
        assert await page.inner_text("#connect") == "Connect"
        assert await page.evaluate("document.documentElement.lang") == "en"
        await page.select_option("#language", "fr")
        await until(page, "() => document.documentElement.lang === 'fr'")
        assert await page.inner_text("#connect") == "Se connecter"
        assert await page.inner_text("#conn") == "Déconnecté"
        assert await page.inner_text(".hint") == (
            "Cliquez sur Se connecter, autorisez le micro et dites bonjour. "
            "Vous pouvez aussi écrire."
        )
        # The choice is kept; ?lang= wins over it.
        await page.reload()
        await until(page, "() => window.causerie.ready === true")
        assert await page.inner_text("#connect") == "Se connecter"
        await page.goto(base + "/?lang=en")
        await until(page, "() => window.causerie.ready === true")
        assert await page.inner_text("#connect") == "Connect"


async def test_the_market_theme_colours_apply(browser: Any, tmp_path: Path) -> None:
    async with served(talk_app(tmp_path, "ui:\n  theme: market\n")) as base:
        page = await open_page(browser, base + "/")
        assert await page.evaluate(style("body", "backgroundColor")) == "rgb(248, 241, 228)"
        assert await page.evaluate(style("#connect", "backgroundColor")) == "rgb(180, 83, 42)"
        assert await page.evaluate(style(".bar", "borderBottomColor")) == "rgb(180, 83, 42)"
        assert await page.evaluate("document.documentElement.dataset.theme") == "market"
        # Its logo is shown, and its visualiser replaced the orb.
        await until(
            page,
            "() => document.getElementById('logo').complete && "
            "document.getElementById('logo').naturalWidth > 0",
        )
        assert await page.is_visible("#logo") and await page.is_hidden("#logo-dot")
        assert await page.locator(".market-bars span").count() == 7
        assert await page.is_hidden("#orb")
        # The default theme, previewed on the same server, has the default colours.
        page = await open_page(browser, base + "/?theme=default")
        assert await page.evaluate(style("body", "backgroundColor")) == "rgb(245, 246, 250)"
        assert await page.evaluate(style("#connect", "backgroundColor")) == "rgb(79, 91, 213)"
        assert await page.locator(".market-bars").count() == 0


async def test_a_theme_folder_next_to_agent_yaml_brands_the_page(
    browser: Any, tmp_path: Path
) -> None:
    theme = tmp_path / "themes" / "acme"
    theme.mkdir(parents=True)
    (theme / "theme.css").write_text(":root { --bg: #102030; --accent: #c0ffee; }\n")
    async with served(talk_app(tmp_path, "ui:\n  theme: acme\n")) as base:
        page = await open_page(browser, base + "/")
        assert await page.evaluate(style("body", "backgroundColor")) == "rgb(16, 32, 48)"
        assert await page.evaluate(style("#connect", "backgroundColor")) == "rgb(192, 255, 238)"
        assert await page.is_visible("#logo-dot")  # no logo in that theme: the default dot


async def test_livekit_room_and_name_reach_a_token_minted_for_the_page(
    browser: Any, tmp_path: Path
) -> None:
    """CAUSERIE_TOKEN_API_KEY is set; the page gets its token anyway, for the room and name
    typed in, then reports that the (absent) LiveKit server cannot be reached."""
    env = {
        "LIVEKIT_URL": f"ws://127.0.0.1:{free_port()}",  # nothing listens there
        "LIVEKIT_API_KEY": LK_KEY,
        "LIVEKIT_API_SECRET": LK_SECRET,
        "CAUSERIE_TOKEN_API_KEY": PAGE_KEY,
    }
    tokens: list[dict[str, Any]] = []
    seen: list[str] = []
    async with served(talk_app(tmp_path, "language: fr\n", env)) as base:
        page = await open_page(browser, base + "/?transport=livekit")
        assert await page.is_visible("#livekit-options")
        assert (await page.input_value("#lk-room")).startswith("causerie-web-")  # random
        await page.fill("#lk-room", "salon-7")
        await page.fill("#lk-name", "Marie Curie")

        async def on_response(r: Any) -> None:
            if r.url.endswith("/api/page-token"):
                tokens.append({"status": r.status, "body": await r.json()})

        pending: list[asyncio.Task[None]] = []
        page.on("response", lambda r: pending.append(asyncio.create_task(on_response(r))))
        page.on("response", lambda r: seen.append(r.url))
        await page.click("#connect")
        await until(
            page,
            "() => document.getElementById('notice-text').textContent.startsWith("
            "'LiveKit est injoignable')",
            30,
        )
        await asyncio.gather(*pending)
        texts = [await (await page.request.get(u)).text() for u in seen if u.startswith(base)]
    (minted,) = tokens
    assert minted["status"] == 200, minted
    claims = api.TokenVerifier(LK_KEY, LK_SECRET).verify(minted["body"]["token"])
    assert claims.video is not None and claims.video.room == "salon-7"
    assert claims.name == "Marie Curie" and claims.identity.startswith("web-")
    assert texts and not [t for t in texts if PAGE_KEY in t]


async def test_a_key_missing_from_a_translation_falls_back_to_english(
    browser: Any, tmp_path: Path
) -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from causerie.server.ui import I18N_DIR, i18n_router

    strings = tmp_path / "i18n"
    strings.mkdir()
    (strings / "i18n.js").write_bytes((I18N_DIR / "i18n.js").read_bytes())
    (strings / "en.json").write_text('{"a": "Hello", "b": "Only in English <b>{x}</b>"}')
    (strings / "fr.json").write_text('{"a": "Bonjour"}')
    app = FastAPI()
    app.include_router(i18n_router("fr", strings))
    page_html = """<!doctype html><meta charset="utf-8"><script src="/i18n/i18n.js"></script>
    <p id="a" data-i18n="a">?</p><p id="b"></p><p id="c" data-i18n="zz.unknown">?</p>
    <script>CauserieI18n.init().then(() => {
      document.getElementById("b").textContent = CauserieI18n.t("b", {x: "<i>1</i>"});
      window.done = true;
    });</script>"""
    app.get("/")(lambda: HTMLResponse(page_html))
    async with served(app) as base:
        page = await (await browser.new_context(locale="en-US")).new_page()
        await page.goto(base + "/")
        await until(page, "() => window.done === true")
        assert await page.inner_text("#a") == "Bonjour"  # the agent's language: fr
        assert await page.inner_text("#b") == "Only in English <b><i>1</i></b>"  # as text
        assert await page.locator("#b b, #b i").count() == 0
        assert await page.inner_text("#c") == "zz.unknown"  # not even in English: the key
