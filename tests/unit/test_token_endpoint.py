"""The ``/token`` router, mounted in a minimal app: validation, auth, rate limit, CORS, 503."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from livekit import api

from causerie.server.token import TokenSettings, install_token_cors, token_router

KEY, SECRET = "APIkey123", "a-secret-long-enough-for-hs256-signing!"
LK_ENV = {
    "LIVEKIT_URL": "ws://lk.example:7880",
    "LIVEKIT_API_KEY": KEY,
    "LIVEKIT_API_SECRET": SECRET,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(
    env: dict[str, str] | None = None, clock: Clock | None = None, **settings: object
) -> TestClient:
    env = {**LK_ENV, **(env or {})}
    app = FastAPI()
    token_settings = TokenSettings.from_env(env, **settings)  # type: ignore[arg-type]
    app.include_router(token_router(token_settings, env=env, clock=clock or Clock()))
    install_token_cors(app, token_settings)
    return TestClient(app)


def test_get_returns_url_and_a_verified_token() -> None:
    r = client().get("/token", params={"room": "shop-1", "identity": "alice"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"url", "token"} and body["url"] == "ws://lk.example:7880"
    assert r.headers["cache-control"] == "no-store"
    claims = api.TokenVerifier(KEY, SECRET).verify(body["token"])
    assert claims.identity == "alice"
    assert claims.video is not None and claims.video.room == "shop-1" and claims.video.room_join
    assert claims.room_config is not None and claims.room_config.agents[0].agent_name == "causerie"


def test_post_json_is_accepted_and_ttl_and_dispatch_are_configurable() -> None:
    c = client({"CAUSERIE_TOKEN_TTL": "60", "CAUSERIE_TOKEN_DISPATCH": "false"})
    r = c.post("/token", json={"room": "r1", "identity": "bob"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    assert claims.room_config is None
    import jwt

    raw = jwt.decode(token, options={"verify_signature": False})
    assert raw["exp"] - raw["nbf"] == 60


def test_agent_name_comes_from_livekit_agent_name() -> None:
    r = client({"LIVEKIT_AGENT_NAME": "shop-agent"}).get("/token?room=r&identity=u")
    config = api.TokenVerifier(KEY, SECRET).verify(r.json()["token"]).room_config
    assert config is not None and config.agents[0].agent_name == "shop-agent"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"identity": "u"}, "room"),
        ({"room": "", "identity": "u"}, "room"),
        ({"room": "a b", "identity": "u"}, "room"),
        ({"room": "x" * 65, "identity": "u"}, "room"),
        ({"room": "r"}, "identity"),
        ({"room": "r", "identity": "<b>"}, "identity"),
    ],
)
def test_bad_room_or_identity_is_422_naming_the_field(params: dict[str, str], field: str) -> None:
    r = client().get("/token", params=params)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request" and r.json()["field"] == field
    assert r.json()["message"].startswith(f"{field}:")


def test_a_field_given_twice_is_422_naming_it() -> None:
    r = client().get("/token", params=[("room", "a"), ("identity", "u"), ("room", "b")])
    assert r.status_code == 422
    assert r.json()["field"] == "room" and "given more than once" in r.json()["message"]


def test_post_with_bad_body() -> None:
    c = client()
    assert c.post("/token", content=b"not json").status_code == 400
    assert c.post("/token", json=["r", "u"]).status_code == 400
    assert c.post("/token", json={"room": 3, "identity": "u"}).json()["field"] == "room"
    assert c.post("/token", content=b"{" + b" " * 5000 + b"}").status_code == 413


def test_api_key_is_required_when_set() -> None:
    c = client({"CAUSERIE_TOKEN_API_KEY": "k3y"})
    q = {"room": "r", "identity": "u"}
    assert c.get("/token", params=q).status_code == 401
    assert c.get("/token", params=q, headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.get("/token", params=q, headers={"X-API-Key": "k3y"}).status_code == 200
    assert c.get("/token", params=q, headers={"Authorization": "Bearer k3y"}).status_code == 200


def test_rate_limit_per_client_with_retry_after() -> None:
    clock = Clock()
    c = client({"CAUSERIE_TOKEN_RATE_LIMIT": "3"}, clock=clock)
    q = {"room": "r", "identity": "u"}
    assert [c.get("/token", params=q).status_code for _ in range(3)] == [200, 200, 200]
    r = c.get("/token", params=q)
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert int(r.headers["retry-after"]) == 20  # 3 a minute: one every 20 s
    clock.now += 20
    assert c.get("/token", params=q).status_code == 200
    # Failed attempts count too: a key cannot be guessed faster than the limit.
    c2 = client({"CAUSERIE_TOKEN_RATE_LIMIT": "2", "CAUSERIE_TOKEN_API_KEY": "k"}, clock=Clock())
    assert [c2.get("/token", params=q).status_code for _ in range(3)] == [401, 401, 429]


def test_rate_limit_is_per_client_behind_a_trusted_proxy() -> None:
    c = client({"CAUSERIE_TOKEN_RATE_LIMIT": "1", "CAUSERIE_TOKEN_TRUST_PROXY": "true"})
    q = {"room": "r", "identity": "u"}
    assert c.get("/token", params=q, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    assert c.get("/token", params=q, headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 200
    assert c.get("/token", params=q, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 429


def test_without_livekit_settings_503_names_the_missing_variables() -> None:
    app = FastAPI()
    app.include_router(token_router(TokenSettings(), env={"LIVEKIT_API_KEY": "k"}))
    r = TestClient(app).get("/token", params={"room": "r", "identity": "u"})
    assert r.status_code == 503
    body = r.json()
    assert body["error"] == "livekit_not_configured" and "token" not in body
    assert body["missing"] == ["LIVEKIT_URL", "LIVEKIT_API_SECRET"]
    assert "LIVEKIT_URL" in body["message"] and "LIVEKIT_API_SECRET" in body["message"]


def test_a_bad_livekit_url_answers_503_and_does_not_stop_the_server() -> None:
    app = FastAPI()
    env = {**LK_ENV, "LIVEKIT_URL": "lk.example"}
    app.include_router(token_router(TokenSettings(), env=env))
    r = TestClient(app).get("/token", params={"room": "r", "identity": "u"})
    assert r.status_code == 503 and "LIVEKIT_URL" in r.json()["message"]


def test_cors_only_for_configured_origins() -> None:
    c = client({"CAUSERIE_TOKEN_CORS_ORIGINS": "https://shop.example, https://app.example/"})
    q = {"room": "r", "identity": "u"}
    ok = c.get("/token", params=q, headers={"Origin": "https://app.example"})
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    other = c.get("/token", params=q, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key",
    }
    pre = c.options("/token", headers={"Origin": "https://shop.example", **preflight})
    assert pre.status_code == 200 and "X-API-Key" in pre.headers["access-control-allow-headers"]
    assert pre.headers["access-control-allow-origin"] == "https://shop.example"
    refused = c.options("/token", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


def test_cors_is_for_token_alone() -> None:
    """The CORS origins may call /token; no other route of the app is opened to them."""
    env = {**LK_ENV, "CAUSERIE_TOKEN_CORS_ORIGINS": "https://shop.example"}
    app = FastAPI()
    token_settings = TokenSettings.from_env(env)
    app.include_router(token_router(token_settings, env=env))

    @app.get("/other")
    async def other() -> dict[str, bool]:
        return {"ok": True}

    install_token_cors(app, token_settings)
    c = TestClient(app)
    r = c.get("/other", headers={"Origin": "https://shop.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client({"CAUSERIE_TOKEN_API_KEY": "the-api-key"}).get(
        "/token", params={"room": "r", "identity": "u"}, headers={"X-API-Key": "the-api-key"}
    )
    assert SECRET not in caplog.text and "the-api-key" not in caplog.text
    assert "the-api-key" not in repr(
        TokenSettings.from_env({"CAUSERIE_TOKEN_API_KEY": "the-api-key"})
    )


def test_the_agent_asked_for_travels_with_the_dispatch() -> None:
    """Several agents per server: the worker's job reads {"agent": KEY} (docs/STUDIO.md)."""
    import json

    from causerie.transports.livekit.worker import requested_agent

    c = client()
    r = c.post("/token", json={"room": "r1", "identity": "bob", "agent": "shop"})
    assert r.status_code == 200, r.text
    config = api.TokenVerifier(KEY, SECRET).verify(r.json()["token"]).room_config
    assert config is not None and requested_agent(config.agents[0].metadata) == "shop"
    plain = c.get("/token", params={"room": "r1", "identity": "bob"})
    config = api.TokenVerifier(KEY, SECRET).verify(plain.json()["token"]).room_config
    assert config is not None and config.agents[0].metadata == ""
    bad = c.post("/token", json={"room": "r1", "identity": "bob", "agent": "Bad Key"})
    assert bad.status_code == 422 and bad.json()["field"] == "agent"
    assert json.loads(bad.text)["message"].startswith("agent: an agent's key")
