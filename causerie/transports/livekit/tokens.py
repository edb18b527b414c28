"""Access tokens, each scoped to one room: users (the ``/token`` endpoint, ``causerie call``)
and the agent when it joins directly (``causerie join --direct``)."""

from __future__ import annotations

import datetime
import re

from livekit import api

from .settings import Credentials

ROOM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IDENTITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
ROOM_RULE = "1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit"
IDENTITY_RULE = (
    "1-64 characters: letters, digits, '_', '.', '@', '-', starting with a letter or digit"
)

# A voice agent's user publishes a microphone, nothing else (no camera, no screen share).
USER_SOURCES = ["microphone"]


def check_room(room: str) -> str | None:
    """None when ``room`` is a valid room name, else the rule it breaks."""
    return None if ROOM_RE.fullmatch(room) else ROOM_RULE


def check_identity(identity: str) -> str | None:
    return None if IDENTITY_RE.fullmatch(identity) else IDENTITY_RULE


def dispatch_config(agent_name: str, metadata: str = "") -> api.RoomConfiguration:
    """A room configuration that dispatches ``agent_name`` when the token creates the room."""
    return api.RoomConfiguration(
        agents=[api.RoomAgentDispatch(agent_name=agent_name, metadata=metadata)]
    )


def user_token(
    creds: Credentials,
    *,
    room: str,
    identity: str,
    ttl: datetime.timedelta,
    name: str | None = None,
    dispatch_agent: str | None = None,
    dispatch_metadata: str = "",
) -> str:
    """Join ``room`` only, publish a microphone, subscribe, send data; expires after ``ttl``.
    ``dispatch_metadata`` reaches the worker's job (``{"agent": KEY}`` picks the agent)."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
        can_publish_sources=list(USER_SOURCES),
        can_update_own_metadata=False,
    )
    token = (
        api.AccessToken(creds.api_key, creds.secret)
        .with_identity(identity)
        .with_name(name or identity)
        .with_kind("standard")
        .with_grants(grants)
        .with_ttl(ttl)
    )
    if dispatch_agent:
        token.with_room_config(dispatch_config(dispatch_agent, dispatch_metadata))
    return token.to_jwt()


def agent_token(creds: Credentials, *, room: str, identity: str, ttl: datetime.timedelta) -> str:
    """The agent's own participant, as a worker's job would get it (kind ``agent``)."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        agent=True,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
    )
    return (
        api.AccessToken(creds.api_key, creds.secret)
        .with_identity(identity)
        .with_kind("agent")
        .with_grants(grants)
        .with_ttl(ttl)
        .to_jwt()
    )
