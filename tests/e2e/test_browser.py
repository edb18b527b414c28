"""The talk page in real Debian chromium, with espeak speech as the fake microphone."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ServerThread, serve_shared, write_fake_mic

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]


def chromium_args(wav: Path) -> list[str]:
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking",
        "--allow-loopback-in-peer-connection",
        "--no-sandbox",
    ]


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


@pytest.fixture
async def open_page(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    browsers: list[Any] = []
    pages: list[Any] = []
    async with async_playwright() as pw:

        async def open_(url: str, utterances: list[str], gap: float = 4.0) -> Any:
            wav = write_fake_mic(
                tmp_path / f"mic{len(browsers)}.wav", utterances, gap=gap, lead=1.5
            )
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(wav))
            browsers.append(browser)
            page = await browser.new_page()
            pages.append(page)
            page.on("console", lambda m: print(f"[page] {m.type}: {m.text}"))
            page.on("pageerror", lambda e: print(f"[page error] {e}"))
            await page.goto(url)
            return page

        yield open_
        for page in pages:  # hang up like a person would, so the server frees the session now
            await page.evaluate("window.causerie.disconnect()")
        for b in browsers:
            await b.close()


async def lines(page: Any, role: str) -> list[str]:
    return await page.eval_on_selector_all(
        f'#transcript li[data-role="{role}"]', "els => els.map(e => e.textContent)"
    )


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_talk_in_the_browser(server: ServerThread, open_page: Any, transport: str) -> None:
    page = await open_page(
        f"{server.url}/?transport={transport}&aec=0&autoconnect=1", ["what can you do"]
    )
    await page.wait_for_function("() => window.causerie.conn === 'connected'", timeout=60_000)
    # The user's words, as the agent understood them, appear in the page (pocketsphinx hears
    # "what can you do", now and then "what to do").
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#transcript li[data-role="user"]:not(.interim)')]
                 .some(li => li.textContent.includes('do'))""",
        timeout=60_000,
    )
    # The reply's text shows while it is spoken, and its voice reaches the page with energy.
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#transcript li[data-role="agent"]')]
                 .some(li => /^I (can|heard)/.test(li.textContent))""",
        timeout=60_000,
    )
    await page.wait_for_function(
        "() => window.causerie.stats.agentAudibleTicks > 50", timeout=60_000
    )
    stats = await page.evaluate("window.causerie.stats")
    assert stats["agentPeak"] > 0.02
    await page.wait_for_function(
        "() => window.causerie.events.some(e => e.type === 'turn_metrics')", timeout=60_000
    )
    v2v = await page.evaluate("document.getElementById('lat-v2v').textContent")
    assert v2v.endswith(" ms")
    if transport == "webrtc":
        # The answer asked the browser for the server's Opus bitrate, and chromium took it
        # (unasked, chromium targets 32 kbit/s).
        sent = await page.evaluate("window.causerie.micStats()")
        assert sent["targetBitrate"] == server.settings.opus_bitrate, sent
    await page.click("#connect")  # disconnect
    server.wait_idle()


QUIET_AFTER_CUT = """() => {
  const d = window.causerie;
  const cut = d.events.find(e => e.type === 'interrupted');
  if (!cut) return null;
  // Until the answer to the interrupting question starts (or 500 ms). The question is long
  // and still being said at the cut, so its answer is well over 500 ms away.
  const next = d.events.find(
    e => e._at > cut._at && e.type === 'agent_state' && e.state === 'speaking');
  const end = Math.min(cut._at + 500, next ? next._at : Infinity);
  if (performance.now() < end + 50) return null;  // not yet
  const window_ = d.agentLevels.filter(([t]) => t > cut._at + %d && t < end);
  const before = d.agentLevels.filter(([t]) => t > cut._at - 600 && t < cut._at);
  if (!window_.length) return {after: 0, before: 0, samples: 0};
  const peak = (levels) => Math.max(...levels.map(([, r]) => r));
  return {after: peak(window_), before: peak(before), samples: window_.length};
}"""


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_barge_in_in_the_browser(
    server: ServerThread, open_page: Any, transport: str
) -> None:
    """Speak again while the agent answers: its voice stops in the page, not just on the server."""
    page = await open_page(
        f"{server.url}/?transport={transport}&aec=0&autoconnect=1",
        # The first reply lasts ~8 s: the second question lands in the middle of it. It is
        # long, so the cut (at its start) comes well before its answer even on a slow machine.
        ["what can you do", "please tell me who you are and where you come from"],
        gap=3.0,
    )
    await page.wait_for_function(
        "() => window.causerie.events.some(e => e.type === 'interrupted')", timeout=60_000
    )
    # WebSocket: the page drops its buffer at once. WebRTC: the server flushes its track and
    # the browser's jitter buffer (~80 ms) drains.
    delay = 150 if transport == "websocket" else 250
    levels = await page.wait_for_function(QUIET_AFTER_CUT % delay, timeout=60_000)
    levels = await levels.json_value()
    assert levels["samples"] >= 3, f"the next reply began too soon to measure: {levels}"
    assert levels["before"] > 0.02, "the agent was audible just before the interruption"
    assert levels["after"] < 0.005, f"agent still audible after the interruption: {levels}"
    await page.wait_for_selector('#transcript li[data-role="agent"].cut', timeout=60_000)


async def test_busy_then_reconnect_then_dropped(server: ServerThread, open_page: Any) -> None:
    """The page says what went wrong and offers to reconnect: server full, then the
    connection dropped by the server."""
    server.wait_idle(timeout=30)
    manager = server.manager
    saved = manager.max_sessions
    manager.max_sessions = 0
    try:
        page = await open_page(f"{server.url}/?transport=websocket&aec=0&autoconnect=1", ["hello"])
        await page.wait_for_selector("#notice:not([hidden])", timeout=60_000)
        assert "busy" in (await page.inner_text("#notice-text")).lower()
        assert await page.is_visible("#reconnect")
    finally:
        manager.max_sessions = saved
    await page.click("#reconnect")
    await page.wait_for_function("() => window.causerie.conn === 'connected'", timeout=60_000)
    assert await page.is_hidden("#notice")
    (live,) = [s for s in manager.sessions() if s.transport == "websocket"]
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(live.aclose(), server.loop))
    await page.wait_for_selector("#notice:not([hidden])", timeout=60_000)
    assert "connection lost" in (await page.inner_text("#notice-text")).lower()
    assert await page.is_visible("#reconnect")
    assert await page.inner_text("#conn") == "Connection lost"
    server.wait_idle()
