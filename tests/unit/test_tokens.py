"""Access tokens, decoded and checked with livekit-api's own ``TokenVerifier``."""

from __future__ import annotations

import datetime
import time

import jwt
import pytest
from livekit import api
from livekit.api.access_token import Claims
from pydantic import SecretStr

from causerie.errors import ConfigError
from causerie.transports.livekit.settings import (
    Credentials,
    LiveKitNotConfigured,
    LiveKitSettings,
    WorkerSettings,
)
from causerie.transports.livekit.tokens import agent_token, check_identity, check_room, user_token

KEY, SECRET = "APIkey123", "a-secret-long-enough-for-hs256-signing!"
CREDS = Credentials("ws://localhost:7880", KEY, SecretStr(SECRET))


def verify(token: str) -> Claims:
    return api.TokenVerifier(KEY, SECRET).verify(token)


def test_user_token_grants_one_room_publish_subscribe_and_expires() -> None:
    before = time.time()
    token = user_token(CREDS, room="shop-1", identity="alice", ttl=datetime.timedelta(seconds=300))
    claims = verify(token)
    assert claims.identity == "alice" and claims.kind == "standard"
    video = claims.video
    assert video is not None
    assert video.room_join is True and video.room == "shop-1"
    assert video.can_publish and video.can_subscribe and video.can_publish_data
    assert video.can_publish_sources == ["microphone"]
    assert not video.room_admin and not video.room_create and not video.agent
    assert claims.room_config is None
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert before + 295 <= exp <= time.time() + 301


def test_user_token_can_dispatch_the_named_agent() -> None:
    token = user_token(
        CREDS,
        room="r",
        identity="bob",
        ttl=datetime.timedelta(minutes=5),
        dispatch_agent="causerie",
    )
    config = verify(token).room_config
    assert config is not None
    assert [a.agent_name for a in config.agents] == ["causerie"]


def test_expired_and_forged_tokens_are_rejected() -> None:
    token = user_token(CREDS, room="r", identity="bob", ttl=datetime.timedelta(seconds=-60))
    with pytest.raises(jwt.ExpiredSignatureError):
        api.TokenVerifier(KEY, SECRET, leeway=datetime.timedelta(0)).verify(token)
    good = user_token(CREDS, room="r", identity="bob", ttl=datetime.timedelta(minutes=1))
    with pytest.raises(jwt.InvalidSignatureError):
        api.TokenVerifier(KEY, "another-secret-another-secret-another!").verify(good)


def test_agent_token_is_an_agent_in_one_room() -> None:
    claims = verify(
        agent_token(CREDS, room="r", identity="agent-1", ttl=datetime.timedelta(hours=1))
    )
    assert claims.kind == "agent" and claims.identity == "agent-1"
    assert claims.video is not None and claims.video.agent and claims.video.room == "r"


@pytest.mark.parametrize("room", ["a", "shop-1", "Room_2.b", "x" * 64])
def test_valid_rooms(room: str) -> None:
    assert check_room(room) is None


@pytest.mark.parametrize("room", ["", "-x", "a b", "é", "a/b", "x" * 65, "a\nb", "<script>"])
def test_invalid_rooms(room: str) -> None:
    assert check_room(room) is not None


def test_identity_allows_email_like_names() -> None:
    assert check_identity("alice@example.com") is None
    assert check_identity("alice smith") is not None


def test_settings_name_missing_variables_and_hide_the_secret() -> None:
    with pytest.raises(LiveKitNotConfigured) as err:
        LiveKitSettings.from_env({"LIVEKIT_API_KEY": "k"}).require()
    assert err.value.missing == ["LIVEKIT_URL", "LIVEKIT_API_SECRET"]
    assert err.value.exit_code == 2
    s = LiveKitSettings.from_env(
        {
            "LIVEKIT_URL": "wss://x.example",
            "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "hunter2-secret",
        }
    )
    creds = s.require()
    assert "hunter2" not in repr(s) and "hunter2" not in repr(creds) and "hunter2" not in str(s)
    assert creds.secret == "hunter2-secret"


def test_settings_errors_name_the_variable_or_option() -> None:
    with pytest.raises(ConfigError, match="LIVEKIT_URL"):
        LiveKitSettings.from_env({"LIVEKIT_URL": "localhost:7880"})
    with pytest.raises(ConfigError, match="CAUSERIE_WORKER_LOAD_THRESHOLD"):
        WorkerSettings.from_env({"CAUSERIE_WORKER_LOAD_THRESHOLD": "3"})
    with pytest.raises(ConfigError, match="--drain-timeout"):
        WorkerSettings.from_env({}, drain_timeout=-1)


def test_options_override_environment() -> None:
    env = {"CAUSERIE_WORKER_DRAIN_TIMEOUT": "30", "LIVEKIT_AGENT_NAME": "shop"}
    assert WorkerSettings.from_env(env).drain_timeout == 30
    assert WorkerSettings.from_env(env, drain_timeout=5).drain_timeout == 5
    assert LiveKitSettings.from_env(env).agent_name == "shop"
    assert LiveKitSettings.from_env(env, agent_name="other").agent_name == "other"
    assert LiveKitSettings.from_env({}).agent_name == "causerie"
