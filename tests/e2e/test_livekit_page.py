"""The LiveKit transport (causerie/web/livekit.js) in headless Debian chromium, without a
LiveKit server: the vendored livekit-client loads from our server (no CDN), and a failed
connection is reported to the user in words they can act on."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from causerie.server.token import TokenSettings, token_router

CHROMIUM = "/usr/bin/chromium"
WEB = Path(__file__).resolve().parents[2] / "causerie" / "web"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]

# A page using the transport the way the talk page does: connect, show a ConnectError's message.
PAGE = """<!doctype html><meta charset="utf-8"><title>LiveKit transport</title>
<button id="connect">Connect</button><p id="notice" role="alert"></p>
<audio id="agent-audio"></audio>
<script type="module">
import { LiveKitTransport } from "/static/livekit.js";
window.result = null;
document.getElementById("connect").onclick = async () => {
  const t = new LiveKitTransport({
    mic: null, audioElement: document.getElementById("agent-audio"), audioContext: null,
    onEvent: () => {}, onClosed: (r) => { window.result = { closed: r }; },
  });
  try {
    await t.connect();
    window.result = { connected: true };
  } catch (e) {
    document.getElementById("notice").textContent = e.message;
    window.result = { kind: e.kind, message: e.message };
  }
};
</script>"""


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """uvicorn in a thread: the static web client, /token, and the test page."""

    def __init__(self, env: dict[str, str]) -> None:
        import uvicorn

        app = FastAPI()
        app.include_router(token_router(TokenSettings(), env=env))
        app.mount("/static", StaticFiles(directory=WEB), name="static")
        app.get("/")(lambda: HTMLResponse(PAGE))
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "test server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def livekit_down() -> Iterator[tuple[Server, str]]:
    lk_url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"LIVEKIT_URL": lk_url, "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret-" * 6}
    with Server(env) as server:
        yield server, lk_url


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


async def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = await browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: print(f"[page] {m.type}: {m.text}"))
    await page.goto(url)
    return page, requests


async def test_vendored_client_loads_and_a_dead_server_is_reported(
    browser: Any, livekit_down: tuple[Server, str]
) -> None:
    server, lk_url = livekit_down
    page, requests = await open_page(browser, server.url)
    assert await page.evaluate("typeof window.LivekitClient") == "undefined"  # loaded on demand
    await page.click("#connect")
    await page.wait_for_function("() => window.result !== null", timeout=60_000)
    # The vendored build loaded from us; the only other address is the LiveKit server's.
    assert await page.evaluate("typeof window.LivekitClient.Room") == "function"
    assert await page.evaluate("window.LivekitClient.version") == "2.23.0"
    lk_http = lk_url.replace("ws://", "http://")
    assert all(u.startswith((server.url, lk_url, lk_http)) for u in requests), requests
    assert any(u.endswith("/static/vendor/livekit-client.umd.js") for u in requests)
    result = await page.evaluate("window.result")
    assert result["kind"] == "unreachable"
    notice = await page.text_content("#notice")
    assert notice is not None
    assert (
        f"cannot connect to the LiveKit server at {lk_url}" in notice and "is it running" in notice
    )


async def test_a_server_without_livekit_settings_says_what_to_set(browser: Any) -> None:
    with Server({}) as server:
        page, _ = await open_page(browser, server.url)
        await page.click("#connect")
        await page.wait_for_function("() => window.result !== null", timeout=60_000)
        notice = await page.text_content("#notice")
    assert notice is not None and "LIVEKIT_URL" in notice and "LIVEKIT_API_SECRET" in notice


@pytest.fixture(scope="module")
def talk_server() -> Iterator[Any]:
    from tests.e2e.harness import serve_shared  # the real app, as the browser tests run it

    yield from serve_shared()


async def test_the_talk_page_offers_livekit_and_says_what_is_missing(
    browser: Any, talk_server: Any
) -> None:
    """The real talk page, LiveKit chosen, on a server without LiveKit settings."""
    server = talk_server
    page = await browser.new_page()
    await page.goto(f"{server.url}/?transport=livekit")
    assert await page.is_checked('input[name="transport"][value="livekit"]')
    await page.click("#connect")
    await page.wait_for_function(
        "() => document.querySelector('#notice') && "
        "document.querySelector('#notice').textContent.includes('LIVEKIT_URL')",
        timeout=60_000,
    )
    notice = await page.text_content("#notice")
    assert notice is not None and "LIVEKIT_API_SECRET" in notice
    assert "causerie serve" not in notice  # not the WebSocket hint: it was the LiveKit path
