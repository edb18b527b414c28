"""What the talk page gets from the server besides its files: page tokens minted for its own
origin (the API key never reaches it), themes (user folder over built-in, no path escapes)
and ``/api/ui``. The real app from ``create_app``, its lifespan (models) not started."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from livekit import api

from causerie.config.loader import load_config
from causerie.config.themes import BUILTIN_DIR, Themes
from causerie.errors import ConfigError
from causerie.server import create_app
from causerie.server.token import TokenSettings, token_router

WEB = Path(__file__).resolve().parents[2] / "causerie" / "web"
PAGE_KEY = "page-key-that-must-stay-on-the-server-4711"
KEY, SECRET = "APIkey123", "a-secret-long-enough-for-hs256-signing!"
ENV = {
    "LIVEKIT_URL": "ws://lk.example:7880",
    "LIVEKIT_API_KEY": KEY,
    "LIVEKIT_API_SECRET": SECRET,
    "CAUSERIE_TOKEN_API_KEY": PAGE_KEY,
}
ORIGIN = "http://testserver"  # TestClient's host


def app_client(tmp_path: Path, yaml: str = "", env: dict[str, str] | None = None) -> TestClient:
    agent = tmp_path / "agent.yaml"
    agent.write_text(yaml or "name: Test\n", encoding="utf-8")
    store = f"sqlite:///{tmp_path}/m.sqlite3"
    loaded = load_config(
        agent, dotenv=None, environ=env or ENV, overrides={"metrics.store_url": store}
    )
    return TestClient(create_app(loaded=loaded))  # no `with`: the lifespan (models) never runs


def token_client(**env: str) -> TestClient:
    merged = {**ENV, **env}
    app = FastAPI()
    app.include_router(token_router(TokenSettings.from_env(merged), env=merged))
    return TestClient(app)


# -- page tokens ----------------------------------------------------------------------------


def test_page_token_needs_no_key_from_its_own_origin_and_honours_room_and_name() -> None:
    c = token_client()
    assert c.post("/token", json={"room": "r", "identity": "u"}).status_code == 401
    body = {"room": "shop-42", "identity": "web-1a2b", "name": "Marie Dupont"}
    r = c.post("/api/page-token", json=body, headers={"Origin": ORIGIN})
    assert r.status_code == 200, r.text
    assert r.json()["url"] == "ws://lk.example:7880"
    claims = api.TokenVerifier(KEY, SECRET).verify(r.json()["token"])
    assert claims.identity == "web-1a2b" and claims.name == "Marie Dupont"
    assert claims.video is not None and claims.video.room == "shop-42"
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin: not a browser page of ours
        {"Origin": "http://evil.example"},
        {"Origin": "https://testserver.evil.example"},
        {"Origin": "http://testserver:8080"},  # another port is another origin
        {"Origin": "null"},
        {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"},
        {"Origin": ORIGIN, "Sec-Fetch-Site": "same-site"},
    ],
)
def test_page_token_refuses_other_origins(headers: dict[str, str]) -> None:
    r = token_client().post("/api/page-token", json={"room": "r", "identity": "u"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "forbidden_origin"
    assert "/token" in r.json()["message"]


def test_page_token_behind_a_trusted_proxy_uses_the_forwarded_host() -> None:
    body = {"room": "r", "identity": "u"}
    headers = {"Origin": "https://talk.example.org", "X-Forwarded-Host": "talk.example.org"}
    assert token_client().post("/api/page-token", json=body, headers=headers).status_code == 403
    trusted = token_client(CAUSERIE_TOKEN_TRUST_PROXY="true")
    assert trusted.post("/api/page-token", json=body, headers=headers).status_code == 200


def test_page_token_checks_its_fields_and_can_be_turned_off() -> None:
    c = token_client()
    h = {"Origin": ORIGIN}
    bad = c.post("/api/page-token", json={"room": "a b", "identity": "u"}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "room"
    bad = c.post("/api/page-token", json={"room": "r", "identity": "u", "name": "x\n"}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    bad = c.post("/api/page-token", json={"room": "r", "identity": "u", "name": 3}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    assert c.post("/api/page-token", content=b"[1]", headers=h).status_code == 400
    off = token_client(CAUSERIE_TOKEN_PAGE="false")
    r = off.post("/api/page-token", json={"room": "r", "identity": "u"}, headers=h)
    assert r.status_code == 404 and "CAUSERIE_TOKEN_PAGE" in r.json()["message"]


def test_the_key_never_reaches_a_served_page(tmp_path: Path) -> None:
    c = app_client(tmp_path)
    urls = ["/", "/api/ui", "/dashboard", "/i18n/index.json", "/theme/theme.css"]
    urls += [f"/static/{p.relative_to(WEB).as_posix()}" for p in WEB.rglob("*") if p.is_file()]
    urls += [f"/i18n/{p.name}" for p in (WEB / "i18n").iterdir()]
    for url in urls:
        r = c.get(url)
        assert r.status_code == 200, url
        assert PAGE_KEY.encode() not in r.content, url
    # ... and the page still gets its token, through the real app.
    r = c.post("/api/page-token", json={"room": "r", "identity": "u"}, headers={"Origin": ORIGIN})
    assert r.status_code == 200 and PAGE_KEY not in r.text
    assert c.get("/api/ui").json()["livekit"] == {"page_token": True}


# -- themes and /api/ui ---------------------------------------------------------------------


def test_api_ui_names_language_and_theme(tmp_path: Path) -> None:
    c = app_client(tmp_path, "name: Marché\nlanguage: fr\nui:\n  theme: market\n")
    info = c.get("/api/ui").json()
    assert info["agent"] == "Marché" and info["language"] == "fr"
    assert info["languages"][0] == "en" and "fr" in info["languages"]
    assert info["theme"] == {
        "name": "market",
        "builtin": True,
        "css": "/theme/theme.css",
        "logo": "/theme/logo.svg",
        "visualiser": "/theme/visualiser.js",
    }
    css = c.get("/theme/theme.css")
    assert css.headers["content-type"].startswith("text/css") and "--accent: #b4532a" in css.text
    assert c.get("/i18n/index.json").json()["language"] == "fr"
    page_language = "name: A\nlanguage: fr\nui:\n  language: en\n"
    assert app_client(tmp_path, page_language).get("/api/ui").json()["language"] == "en"


def test_a_theme_next_to_agent_yaml_wins_over_the_built_in_one(tmp_path: Path) -> None:
    mine = tmp_path / "themes" / "market"
    mine.mkdir(parents=True)
    (mine / "theme.css").write_text(":root { --accent: #123456; }\n")
    (mine / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    c = app_client(tmp_path, "ui:\n  theme: market\n")
    info = c.get("/api/ui").json()["theme"]
    assert info["builtin"] is False and info["logo"] == "/theme/logo.png"
    assert info["visualiser"] is None  # the whole folder is the theme: nothing mixed in
    assert "#123456" in c.get("/theme/theme.css").text
    assert c.get("/theme/logo.png").headers["content-type"] == "image/png"
    # The built-in default is still there to preview.
    assert c.get("/themes/default").json()["builtin"] is True
    assert c.get("/themes/default/theme.css").status_code == 200


def test_an_unknown_theme_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        app_client(tmp_path, "ui:\n  theme: corporate\n")
    message = str(e.value)
    assert "ui.theme" in message and "'corporate'" in message
    assert "themes/corporate/theme.css" in message and "default, market" in message


@pytest.mark.parametrize(
    "path",
    [
        "/theme/../agent.yaml",
        "/theme/%2e%2e/agent.yaml",
        "/theme/..%2fagent.yaml",
        "/theme/%2e%2e%2f%2e%2e%2fconfig%2fspec.py",
        "/theme/.hidden.css",
        "/theme/theme.css/..",
        "/theme//etc/passwd",
        "/theme/secret.yaml",
        "/themes/..%2fthemes%2fmarket/theme.css",
        "/themes/nope/theme.css",
        "/theme/escape.css",  # a symlink out of the folder
    ],
)
def test_theme_files_do_not_escape_their_folder(tmp_path: Path, path: str) -> None:
    mine = tmp_path / "themes" / "mine"
    mine.mkdir(parents=True)
    (mine / "theme.css").write_text(":root {}\n")
    (mine / "secret.yaml").write_text("key: 1\n")
    (mine / ".hidden.css").write_text("x\n")
    (tmp_path / "outside.css").write_text("body { color: red }\n")
    (mine / "escape.css").symlink_to(tmp_path / "outside.css")
    c = app_client(tmp_path, "ui:\n  theme: mine\n")
    r = c.get(path)
    assert r.status_code == 404, (path, r.text)
    assert "name: Test" not in r.text and "color: red" not in r.text


def test_themes_lists_user_and_built_in_names(tmp_path: Path) -> None:
    (tmp_path / "shop-brand").mkdir()
    (tmp_path / "shop-brand" / "theme.css").write_text(":root {}\n")
    (tmp_path / "no-css").mkdir()  # not a theme without its theme.css
    themes = Themes(tmp_path)
    assert themes.names() == ["default", "market", "shop-brand"]
    assert themes.find("no-css") is None and themes.find("../market") is None
    assert Themes(None).require("default").root == BUILTIN_DIR / "default"


def test_config_check_names_an_unknown_theme(tmp_path: Path) -> None:
    from causerie.runtime.checks import check_theme

    (tmp_path / "agent.yaml").write_text("ui:\n  theme: acme\n")
    loaded = load_config(tmp_path / "agent.yaml", dotenv=None, environ={})
    (problem,) = check_theme(loaded)
    assert problem.field == "ui.theme" and "'acme'" in problem.message
    assert "default, market" in problem.message and "config set ui.theme" in problem.fix
    (tmp_path / "themes" / "acme").mkdir(parents=True)
    (tmp_path / "themes" / "acme" / "theme.css").write_text(":root {}\n")
    assert check_theme(loaded) == []
