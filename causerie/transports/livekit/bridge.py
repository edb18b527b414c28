"""``causerie join``: bring the agent into an existing room.

Two ways:

- **dispatch** (default): ask the LiveKit server to send a running worker
  (``causerie worker``) to the room, through the ``AgentDispatchService``. Nothing runs here.
- **direct** (``--direct``): connect to the room from this process with ``livekit.rtc`` and
  run the same session as a worker's job (:class:`~.room_session.RoomSession`). Useful
  without a worker, or to watch one conversation's logs.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from dataclasses import dataclass

from livekit import api, rtc

from .recording import recording
from .room_session import AgentRuntime, RoomSession
from .server_api import RoomNotFound, livekit_api
from .settings import Credentials, LiveKitUnreachable
from .tokens import agent_token

logger = logging.getLogger(__name__)

AGENT_TOKEN_TTL = datetime.timedelta(hours=6)
CONNECT_TIMEOUT = 10.0


def dispatch_request(
    room: str, agent_name: str, *, participant_identity: str | None = None
) -> api.CreateAgentDispatchRequest:
    """The explicit dispatch of worker ``agent_name`` to ``room``. The metadata can name the
    participant the agent should talk to (read by the worker's entrypoint)."""
    metadata = (
        json.dumps({"participant_identity": participant_identity}) if participant_identity else ""
    )
    return api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)


@dataclass
class Dispatched:
    dispatch_id: str
    room: str
    agent_name: str


async def room_exists(lkapi: api.LiveKitAPI, room: str) -> bool:
    listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))
    return any(r.name == room for r in listed.rooms)


async def require_room(creds: Credentials, room: str) -> None:
    """Raise :class:`RoomNotFound` unless ``room`` exists (or LiveKitUnreachable)."""
    async with livekit_api(creds) as lkapi:
        if not await room_exists(lkapi, room):
            raise RoomNotFound(room)


async def dispatch(
    creds: Credentials, room: str, agent_name: str, *, participant_identity: str | None = None
) -> Dispatched:
    """Send a worker to an existing ``room``; returns at once (the worker joins on its own)."""
    async with livekit_api(creds) as lkapi:
        if not await room_exists(lkapi, room):
            raise RoomNotFound(room)
        d = await lkapi.agent_dispatch.create_dispatch(
            dispatch_request(room, agent_name, participant_identity=participant_identity)
        )
    return Dispatched(dispatch_id=d.id, room=room, agent_name=agent_name)


async def join_direct(
    creds: Credentials,
    room_name: str,
    runtime: AgentRuntime,
    *,
    identity: str | None = None,
    participant_identity: str | None = None,
    join_timeout: float = 120.0,
    check_room: bool = True,
) -> str:
    """Join ``room_name`` as the agent and talk until the conversation ends; returns why."""
    if check_room:
        await require_room(creds, room_name)
    identity = identity or f"causerie-agent-{uuid.uuid4().hex[:8]}"
    token = agent_token(creds, room=room_name, identity=identity, ttl=AGENT_TOKEN_TTL)
    room = rtc.Room()
    try:
        await room.connect(
            creds.url, token, rtc.RoomOptions(auto_subscribe=True, connect_timeout=CONNECT_TIMEOUT)
        )
    except rtc.ConnectError as e:
        raise LiveKitUnreachable(creds.url, str(e)) from None
    logger.info("joined room %s as %s", room_name, identity)
    try:
        async with recording(runtime.loaded) as record:
            conversation = RoomSession.create(
                room,
                runtime,
                participant_identity=participant_identity,
                hooks=[record] if record else [],
            )
            return await conversation.run(join_timeout=join_timeout)
    finally:
        await room.disconnect()
