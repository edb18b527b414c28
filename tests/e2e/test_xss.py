"""Browser safety (issue 14 §4) in real chromium: markup typed by the user, and repeated by the
agent, shows as text; no script runs and the page's Content-Security-Policy is never hit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ServerThread, serve_shared, write_fake_mic
from tests.e2e.test_browser import CHROMIUM, chromium_args

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]

PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    '<svg onload="window.__pwned=3"></svg>',
]

WATCH = """() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
}"""


@pytest.fixture(scope="session", name="server")
def _server() -> Iterator[ServerThread]:
    yield from serve_shared()


async def test_typed_markup_is_text_and_runs_nothing(server: ServerThread, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    wav = write_fake_mic(tmp_path / "mic.wav", [], gap=1.0, lead=0.5, tail=5.0)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(wav))
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.add_init_script(f"({WATCH})()")
            response = await page.goto(f"{server.url}/?transport=websocket&aec=0&autoconnect=1")
            assert response is not None
            assert "script-src 'self'" in response.headers["content-security-policy"]
            await page.wait_for_function(
                "() => window.causerie.conn === 'connected'", timeout=60_000
            )
            for payload in PAYLOADS:
                await page.fill("#text", payload)
                await page.click("#send")
                # The user's line and the agent's ("I heard: ...") both show the markup as text.
                await page.wait_for_function(
                    """p => [...document.querySelectorAll('#transcript li')]
                           .filter(li => li.textContent.includes(p)).length >= 2""",
                    arg=payload,
                    timeout=60_000,
                )
            injected = await page.evaluate(
                "() => document.querySelectorAll('#transcript img, #transcript script, "
                "#transcript svg').length"
            )
            assert injected == 0
            assert await page.evaluate("() => window.__pwned") is None
            assert await page.evaluate("() => window.__violations") == []
            assert errors == []
            await page.evaluate("() => window.causerie.disconnect()")
        finally:
            await browser.close()
    server.wait_idle()


async def test_the_api_docs_render_offline_under_the_policy(server: ServerThread) -> None:
    """/docs: the vendored Swagger UI lists the API's operations, from this server only."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            errors: list[str] = []
            requests: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            await page.add_init_script(f"({WATCH})()")
            response = await page.goto(f"{server.url}/docs")
            assert response is not None and response.status == 200
            assert "script-src 'self'" in response.headers["content-security-policy"]
            await page.wait_for_function(
                "() => document.querySelectorAll('.opblock').length >= 5", timeout=60_000
            )
            text = await page.text_content("#swagger-ui")
            assert text is not None and "/api/offer" in text and "/api/sessions" in text
            assert await page.evaluate("() => window.__violations") == []
            assert errors == []
            assert all(u.startswith(server.url) for u in requests), requests
        finally:
            await browser.close()
