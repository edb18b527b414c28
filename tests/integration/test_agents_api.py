"""/api/agents against a real app (real providers, real SQLite store, files on disk):
several agents, the studio's edits, every bad input, the history, and a saved change
reaching the next conversation while the file keeps its comments."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from pydantic import SecretStr

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "studio-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HELP = """\
# The help desk agent. This comment must survive the studio's edits.
name: Help Desk
language: en
instructions: "You answer questions about opening hours."
greeting: "Hello from the help desk."   # said first
stt:
  provider: pocketsphinx
llm:
  provider: scripted
tts:
  provider: espeak
  voice: en-us
vad:
  provider: silero
  options:
    min_silence_duration: 0.2
turn:
  detection: vad
  min_endpointing_delay: 0.2   # short: answers fast
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from causerie.agents.folder import AgentFolder
    from causerie.config.loader import load_config
    from causerie.providers.registry import Registry
    from causerie.server import ServerSettings, create_app
    from causerie.server.metrics_api import MetricsApiSettings

    tmp = tmp_path_factory.mktemp("agents")
    main = tmp / "agent.yaml"
    main.write_text((ROOT / "agent.yaml").read_text().replace("instructions_file:", "#"))
    (tmp / "agents").mkdir()
    (tmp / "agents" / "help.yaml").write_text(HELP)
    registry = Registry.from_entry_points()
    store = f"sqlite:///{tmp / 'store.sqlite3'}"
    loaded = load_config(
        main, environ={}, dotenv=None, registry=registry, overrides={"metrics.store_url": store}
    )
    app = create_app(
        ServerSettings(max_sessions=2, warm_sessions=0),
        loaded=loaded,
        registry=registry,
        api_settings=MetricsApiSettings(admin_token=SecretStr(TOKEN)),
        agents=AgentFolder.around(main),
    )
    with TestClient(app) as c:
        c.tmp = tmp  # type: ignore[attr-defined]
        yield c


def help_file(client: TestClient) -> Path:
    return client.tmp / "agents" / "help.yaml"  # type: ignore[attr-defined,no-any-return]


def current(client: TestClient, key: str = "help") -> dict[str, Any]:
    r = client.get(f"/api/agents/{key}", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_list_is_public_and_names_every_agent(client: TestClient) -> None:
    r = client.get("/api/agents")
    assert r.status_code == 200
    assert [(a["key"], a["name"], a["default"]) for a in r.json()] == [
        ("agent", "Causerie", True),
        ("help", "Help Desk", False),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/agents/help", None),
        ("PUT", "/api/agents/help", {"base_version": "x", "changes": {}}),
        ("POST", "/api/agents/help/validate", {"base_version": "x", "changes": {}}),
        ("GET", "/api/agents/help/history", None),
        ("GET", "/api/agents/help/history/1", None),
        ("POST", "/api/agents/help/history/1/restore", {"base_version": "x"}),
        ("GET", "/api/providers", None),
        ("POST", "/api/voice-preview", {"provider": "espeak"}),
    ],
)
def test_no_token_no_access(client: TestClient, method: str, path: str, body: Any) -> None:
    before = help_file(client).read_bytes()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (method, path, r.text)
    assert help_file(client).read_bytes() == before


def test_unknown_agent(client: TestClient) -> None:
    for method, path, body in [
        ("GET", "/api/agents/nobody", None),
        ("PUT", "/api/agents/nobody", {"base_version": "x", "changes": {"greeting": "hi"}}),
        ("GET", "/api/agents/nobody/history", None),
    ]:
        r = client.request(method, path, json=body, headers=AUTH)
        assert r.status_code == 404 and r.json()["error"] == "unknown_agent"
        assert "agent, help" in r.json()["message"]
    with client.websocket_connect("/api/ws?agent=nobody") as ws:
        ev = ws.receive_json()
        assert ev["type"] == "error" and ev["code"] == "unknown_agent" and ev["fatal"]


def test_get_definition_with_version(client: TestClient) -> None:
    doc = current(client)
    assert doc["text"] == help_file(client).read_text()
    assert "This comment must survive" in doc["text"]
    assert doc["spec"]["greeting"] == "Hello from the help desk."
    assert doc["restart"] == [] and len(doc["version"]) == 16


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": "name: [unclosed\n"}, "yaml", "not valid YAML"),
        ({"text": "- a list\n"}, "yaml", "mapping"),
        ({"changes": {"turn.min_endpointing_delay": -0.5}}, "turn.min_endpointing_delay", "0"),
        ({"changes": {"tts.provider": "nope"}}, "tts.provider", "unknown provider 'nope'"),
        ({"changes": {"language": "english"}}, "language", "pattern"),
        ({"changes": {"turn.detection": "psychic"}}, "turn.detection", "vad"),
        ({"changes": {"no_such_field": 1}}, "no_such_field", "allowed fields"),
        ({"changes": {"tools": ["teleport"]}}, "tools", "teleport"),
        ({"changes": {"plugins": ["nope"]}}, "plugins", "unknown plugin 'nope'"),
        # What would only fail when a conversation starts: the STT cannot hear French.
        ({"changes": {"language": "fr"}}, "language", "cannot recognise 'fr'"),
    ],
)
def test_invalid_edit_names_the_field_and_changes_nothing(
    client: TestClient, body: dict[str, Any], field: str, words: str
) -> None:
    before = help_file(client).read_bytes()
    base = current(client)["version"]
    for path, method in (("/validate", "POST"), ("", "PUT")):
        r = client.request(
            method, f"/api/agents/help{path}", json={"base_version": base, **body}, headers=AUTH
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid"
        assert words in r.json()["fields"][field], r.json()
    assert help_file(client).read_bytes() == before


def test_bad_request_bodies(client: TestClient) -> None:
    for body in [{}, {"changes": {"greeting": "x"}}, {"base_version": ""}, "not json"]:
        r = client.put("/api/agents/help", json=body, headers=AUTH)
        assert r.status_code == 422, body


def test_save_stale_history_restore_and_live_apply(client: TestClient) -> None:
    path = help_file(client)
    original = path.read_text()
    doc = current(client)
    ok = client.post(
        "/api/agents/help/validate",
        json={"base_version": doc["version"], "changes": {"greeting": "Checked only."}},
        headers=AUTH,
    )
    assert ok.status_code == 200 and ok.json()["ok"] and path.read_text() == original
    edit = {"greeting": "Welcome to the new help desk.", "tts.voice": "en-gb"}
    r = client.put(
        "/api/agents/help",
        json={"base_version": doc["version"], "changes": edit, "author": "ann"},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["restart"] == [] and "new conversations" in saved["message"]
    text = path.read_text()
    from causerie.config.loader import read_yaml

    data = read_yaml(path)
    assert data["greeting"] == "Welcome to the new help desk." and data["tts"]["voice"] == "en-gb"
    assert "This comment must survive" in text and "# short: answers fast" in text
    assert current(client)["version"] == saved["version"] != doc["version"]

    # A second editor who opened the old version is refused; the file keeps the first save.
    stale = client.put(
        "/api/agents/help",
        json={"base_version": doc["version"], "changes": {"greeting": "Overwritten!"}},
        headers=AUTH,
    )
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    assert "ann" in stale.json()["message"] and "Reload" in stale.json()["message"]
    assert stale.json()["version"] == saved["version"]
    assert path.read_text() == text

    # The next conversation with the agent hears the new greeting.
    with client.websocket_connect("/api/ws?agent=help") as ws:
        deadline = time.monotonic() + 30
        said = None
        while time.monotonic() < deadline:
            msg = ws.receive()
            if msg.get("text") is None:
                continue  # the greeting's audio
            ev = json.loads(msg["text"])
            if ev["type"] == "agent_transcript" and ev.get("final"):
                said = ev["text"]
                break
        assert said == "Welcome to the new help desk."

    hist = client.get("/api/agents/help/history", headers=AUTH).json()
    assert [(h["number"], h["author"]) for h in hist] == [(2, "ann"), (1, "file")]
    added = [ln for ln in hist[0]["diff"].splitlines() if ln.startswith("+greeting:")]
    assert added and "Welcome to the new help desk." in added[0]
    first = client.get("/api/agents/help/history/1", headers=AUTH).json()
    assert first["text"] == original and first["note"] == "as found"
    assert client.get("/api/agents/help/history/9", headers=AUTH).status_code == 404

    stale_restore = client.post(
        "/api/agents/help/history/1/restore", json={"base_version": doc["version"]}, headers=AUTH
    )
    assert stale_restore.status_code == 409 and path.read_text() == text
    back = client.post(
        "/api/agents/help/history/1/restore",
        json={"base_version": saved["version"], "author": "bob"},
        headers=AUTH,
    )
    assert back.status_code == 200 and back.json()["number"] == 3
    assert path.read_text() == original
    app = client.app
    assert app.state.agents.get("help").loaded.spec.greeting == "Hello from the help desk."  # type: ignore[attr-defined]


def test_provider_needing_an_extra_says_restart(client: TestClient) -> None:
    from causerie.server.studio_api import catalogue

    registry = client.app.state.agents.registry  # type: ignore[attr-defined]
    missing = [p for p in catalogue(registry, {}).providers["tts"] if p.status != "ready"]
    assert missing, "cloud TTS need a key, and this server's environment is empty"
    doc = current(client)
    r = client.post(
        "/api/agents/help/validate",
        json={"base_version": doc["version"], "changes": {"tts.provider": missing[0].name}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    why = r.json()["restart"][0]
    assert ("pip install" in why or "variable" in why) and "restart" in why


def test_catalogue_lists_status_voices_and_never_a_key(client: TestClient) -> None:
    r = client.get("/api/providers", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    espeak = next(p for p in body["providers"]["tts"] if p["name"] == "espeak")
    assert espeak["status"] == "ready" and "en-gb" in espeak["voices"]
    for entries in body["providers"].values():
        for p in entries:
            if p["status"] == "missing_extra":
                assert p["install"].startswith("pip install 'causerie[")
            if p["status"] == "missing_key":
                assert p["key_variable"] and "=" not in p["key_variable"]
    assert any(
        t["name"] == "search" and "search_products" in t["description"] for t in body["tools"]
    )
    assert all(p["description"] for p in body["plugins"])


def test_voice_preview_speaks(client: TestClient) -> None:
    r = client.post(
        "/api/voice-preview", json={"provider": "espeak", "voice": "en-gb"}, headers=AUTH
    )
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(r.content), dtype="int16")
    assert rate > 0 and len(samples) > rate  # over a second of speech
    assert np.abs(samples).max() > 1000
    bad = client.post("/api/voice-preview", json={"provider": "nope"}, headers=AUTH)
    assert bad.status_code == 422 and "tts.provider" in bad.json()["fields"]


def _ready(ws: Any) -> dict[str, Any]:
    while True:
        msg = ws.receive()
        if msg.get("text") is not None and json.loads(msg["text"])["type"] == "ready":
            return json.loads(msg["text"])  # type: ignore[no-any-return]


def test_a_conversation_under_way_keeps_its_definition(client: TestClient) -> None:
    manager = client.app.state.manager  # type: ignore[attr-defined]
    with client.websocket_connect("/api/ws?agent=help") as first:
        a = _ready(first)
        before = next(s for s in manager.sessions() if s.session_id == a["session_id"])
        doc = current(client)
        r = client.put(
            "/api/agents/help",
            json={"base_version": doc["version"], "changes": {"instructions": "Talk of parking."}},
            headers=AUTH,
        )
        assert r.status_code == 200, r.text
        with client.websocket_connect("/api/ws?agent=help") as second:
            b = _ready(second)
            after = next(s for s in manager.sessions() if s.session_id == b["session_id"])
            assert "parking" in after.agent.instructions
            assert "parking" not in before.agent.instructions
            # Same providers: the second conversation runs on the first one's models.
            assert after.session.stt is before.session.stt


def test_instructions_from_a_file_move_into_the_definition(client: TestClient) -> None:
    folder = help_file(client).parent
    (folder / "filed.md").write_text("You sell bread.\n")
    (folder / "filed.yaml").write_text(
        HELP.replace('instructions: "', 'instructions_file: filed.md\n# "')
    )
    try:
        doc = current(client, "filed")  # added while serving: picked up
        assert doc["instructions"] == "You sell bread."
        assert doc["spec"]["instructions_file"] == "filed.md"
        r = client.put(
            "/api/agents/filed",
            json={
                "base_version": doc["version"],
                "changes": {"instructions": "You sell cakes.", "instructions_file": None},
            },
            headers=AUTH,
        )
        assert r.status_code == 200, r.text
        assert current(client, "filed")["instructions"] == "You sell cakes."
        assert "instructions_file" not in (folder / "filed.yaml").read_text()
        assert (folder / "filed.md").read_text() == "You sell bread.\n"  # left alone
    finally:
        (folder / "filed.yaml").unlink()
        (folder / "filed.md").unlink()
    assert client.get("/api/agents/filed", headers=AUTH).status_code == 404  # removed: gone


def test_a_hand_edit_that_breaks_the_file_is_reported_and_fixable(client: TestClient) -> None:
    path = help_file(client)
    good = path.read_text()
    try:
        path.write_text(good.replace("detection: vad", "detection: psychic"))
        doc = current(client)
        assert "turn.detection" in doc["error"] and "psychic" in doc["text"]
        # The last good definition goes on serving new conversations.
        assert client.app.state.agents.get("help").loaded.spec.turn.detection == "vad"  # type: ignore[attr-defined]
        # The whole file, fixed from the YAML editor, against the version on disk.
        r = client.put(
            "/api/agents/help", json={"base_version": doc["version"], "text": good}, headers=AUTH
        )
        assert r.status_code == 200, r.text
        assert current(client)["error"] is None and path.read_text() == good
    finally:
        path.write_text(good)


def test_a_voice_the_tts_refuses_is_an_error_at_the_field(client: TestClient) -> None:
    before = help_file(client).read_bytes()
    doc = current(client)
    r = client.put(
        "/api/agents/help",
        json={"base_version": doc["version"], "changes": {"tts.voice": "zz-nope"}},
        headers=AUTH,
    )
    assert r.status_code == 422, r.text
    assert "unknown espeak voice 'zz-nope'" in r.json()["fields"]["tts.voice"]
    assert help_file(client).read_bytes() == before


def test_a_hand_edit_whose_provider_fails_tells_the_caller(client: TestClient) -> None:
    path = help_file(client)
    good = path.read_text()
    try:
        path.write_text(good.replace("voice: en-us", "voice: zz-nope"))
        with client.websocket_connect("/api/ws?agent=help") as ws:
            ev = json.loads(ws.receive_text())
            assert ev["type"] == "error" and ev["code"] == "agent_unavailable" and ev["fatal"]
            assert "zz-nope" in ev["message"]
        health = client.get("/healthz").json()
        assert health["sessions"]["faults"]["agent"] >= 1 and health["sessions"]["active"] == 0
    finally:
        path.write_text(good)
