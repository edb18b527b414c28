"""Per-session state handed to tools and plugins through ``AgentSession.userdata``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .events import EventChannel


@dataclass
class SessionData:
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    language: str = "en"
    identity: str | None = None
    """Who the user is, when the transport knows (memory across sessions keys on it)."""
    transport: str = "cli"
    events: EventChannel = field(default_factory=EventChannel)
    state: dict[str, Any] = field(default_factory=dict)
    """Tool state (cart, selection, memory), owned by the tools that use it."""
