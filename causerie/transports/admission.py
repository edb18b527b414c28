"""What a transport may be told when it asks for a session (the server's ``SessionManager``
raises them; the transports answer the peer). Here, so that transports never import the
server."""

from __future__ import annotations


class Busy(Exception):
    """Every slot is taken."""


class AgentUnavailable(Exception):
    """The agent's pipeline cannot be built now; the peer got a fatal error event."""
