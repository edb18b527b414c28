"""Events between a session and its client, defined once for every transport
(WebSocket, WebRTC data channel, LiveKit data messages)."""

from .channel import EventChannel

__all__ = ["EventChannel"]
