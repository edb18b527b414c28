"""The studio in headless Debian chromium against a real server with two agents: an edit
saved from the page reaches the file (comments kept) and the next conversation (heard and
shown on the talk page); an invalid edit shows its errors at the fields and leaves the file
as it was."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.e2e.test_dashboard import until

CHROMIUM = "/usr/bin/chromium"
TOKEN = "studio-e2e-token"
ROOT = Path(__file__).resolve().parents[2]
HELP = """\
# The help desk. Comments like this one must survive the studio.
name: Help Desk
language: en
instructions: |
  # Role
  You answer **opening hours** questions.
  - be brief
greeting: "Hello from the help desk."   # said first
stt:
  provider: pocketsphinx
llm:
  provider: scripted
tts:
  provider: espeak
  voice: en-us
  options:
    rate: 175   # words per minute
vad:
  provider: silero
  options:
    min_silence_duration: 0.2
turn:
  detection: vad
  min_endpointing_delay: 0.2   # short: answers fast
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]


class StudioServer:
    def __init__(self, tmp: Path) -> None:
        import uvicorn

        from causerie.agents.folder import AgentFolder
        from causerie.config.loader import load_config
        from causerie.providers.registry import Registry
        from causerie.server import ServerSettings, create_app
        from causerie.server.metrics_api import MetricsApiSettings
        from causerie.server.security import uvicorn_limits

        main = tmp / "agent.yaml"
        main.write_text((ROOT / "agent.yaml").read_text().replace("instructions_file:", "#"))
        (tmp / "agents").mkdir()
        self.help = tmp / "agents" / "help.yaml"
        self.help.write_text(HELP)
        registry = Registry.from_entry_points()
        loaded = load_config(
            main,
            environ={},
            dotenv=None,
            registry=registry,
            overrides={"metrics.store_url": f"sqlite:///{tmp / 'store.sqlite3'}"},
        )
        settings = ServerSettings(host="127.0.0.1", port=0, max_sessions=2, warm_sessions=0)
        self.app = create_app(
            settings,
            loaded=loaded,
            registry=registry,
            api_settings=MetricsApiSettings(admin_token=SecretStr(TOKEN)),
            agents=AgentFolder.around(main),
        )
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        limits = uvicorn_limits(settings.max_header_bytes, settings.max_ws_message_bytes)
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", lifespan="on", **limits)
        )
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> StudioServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[StudioServer]:
    with StudioServer(tmp_path) as s:
        yield s


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    from tests.e2e.harness import write_fake_mic

    wav = write_fake_mic(tmp_path / "mic.wav", ["hello"], gap=4.0, lead=6.0)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield b
        await b.close()


async def open_studio(browser: Any, url: str) -> tuple[Any, Any]:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda e: print(f"[page error] {e}"))
    await page.goto(f"{url}/studio?agent=help")
    await until(page, "() => !document.getElementById('login').hidden")
    await page.fill("#token", TOKEN)
    await page.click("#login button[type=submit]")
    await until(
        page,
        "() => document.querySelector('[data-field=greeting]').value.includes('help desk')",
    )
    return context, page


async def test_edit_save_and_hear_it(studio: StudioServer, browser: Any) -> None:
    context, page = await open_studio(browser, studio.url)
    # The instructions' preview is built from the markdown, as elements.
    assert await page.inner_text("#preview h3") == "Role"
    assert await page.inner_text("#preview strong") == "opening hours"
    await page.fill("[data-field=greeting]", "Welcome to the studio test.")
    await page.fill("[data-field='tts.voice']", "en-gb")
    await page.click("#preview-voice")
    await until(page, "() => !document.getElementById('preview-audio').hidden")
    await page.click("#save")
    await until(page, "() => /version 2/.test(document.getElementById('status').textContent)")

    from causerie.config.loader import read_yaml

    text = studio.help.read_text()
    data = read_yaml(studio.help)
    assert data["greeting"] == "Welcome to the studio test." and data["tts"]["voice"] == "en-gb"
    for kept in ("# The help desk. Comments like this one", "# words per minute", "# short:"):
        assert kept in text
    assert data["tts"]["options"]["rate"] == 175  # settings the page does not show, kept
    # The history: this save and the file as found, each with a restore button.
    await until(page, "() => document.querySelectorAll('#history li button').length === 2")

    async with context.expect_page() as popup_info:
        await page.click("#talk")
    talk = await popup_info.value
    assert talk.url.endswith("/?agent=help")
    await talk.goto(talk.url + "&transport=websocket&aec=0&autoconnect=1")
    # The talk page's selector offers both agents, this one chosen and named.
    await until(talk, "() => !document.getElementById('agent-select').hidden")
    assert await talk.input_value("#agent-select") == "help"
    assert await talk.inner_text("#agent-name") == "Help Desk"
    options = await talk.eval_on_selector_all("#agent-select option", "os => os.map(o => o.value)")
    assert options == ["agent", "help"]
    await until(
        talk,
        """() => window.causerie && window.causerie.events.some(
             e => e.type === 'agent_transcript' && e.final
                  && e.text === 'Welcome to the studio test.')""",
        30,
    )
    await until(
        talk,
        """() => [...document.querySelectorAll('#transcript li[data-role="agent"]')]
                 .some(li => li.textContent.includes('Welcome to the studio test.'))""",
    )
    await until(talk, "() => window.causerie.stats.agentAudibleTicks > 20", 20)
    assert (await talk.evaluate("window.causerie.stats"))["agentPeak"] > 0.02
    await talk.evaluate("window.causerie.disconnect()")
    await context.close()


async def test_invalid_edit_shows_errors_and_keeps_the_file(
    studio: StudioServer, browser: Any
) -> None:
    before = studio.help.read_bytes()
    context, page = await open_studio(browser, studio.url)
    await page.fill("[data-field='turn.min_endpointing_delay']", "-1")
    # A provider the server does not know (as from a stale page): added to the list.
    await page.evaluate(
        """() => { const s = document.querySelector("[data-field='tts.provider']");
                   const o = document.createElement('option'); o.value = 'nope';
                   o.textContent = 'nope'; s.appendChild(o); s.value = 'nope'; }"""
    )
    await page.click("#save")
    await until(
        page,
        """() => document.querySelector("[data-error-for='turn.min_endpointing_delay']")
                 .textContent.length > 0""",
    )
    delay = await page.inner_text("[data-error-for='turn.min_endpointing_delay']")
    assert "greater than or equal to 0" in delay
    provider = await page.inner_text("[data-error-for='tts.provider']")
    assert "unknown provider 'nope'" in provider and "espeak" in provider
    invalid = await page.get_attribute("[data-field='turn.min_endpointing_delay']", "aria-invalid")
    assert invalid == "true"
    assert studio.help.read_bytes() == before
    # The file itself, broken in the YAML editor: the error is shown under it.
    await page.click("#raw-details summary")
    await page.fill("#raw", "name: [unclosed\n")
    await page.click("#save-raw")
    await until(
        page, "() => document.querySelector(\"[data-error-for='yaml']\").textContent.length > 0"
    )
    assert "not valid YAML" in await page.inner_text("[data-error-for='yaml']")
    assert studio.help.read_bytes() == before
    assert await page.eval_on_selector_all("#history li", "els => els.length") == 0
    # A phone-sized screen: everything fits its width, the save button is reachable.
    await page.set_viewport_size({"width": 375, "height": 740})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    assert await page.is_visible("#save")
    await context.close()
