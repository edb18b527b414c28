"""The embedded server: web client, WebRTC offer/answer, WebSocket PCM, health.

``create_app(settings, loaded=..., pipeline=...)`` builds the FastAPI app; ``causerie serve``
runs it with uvicorn.
"""

from .app import create_app
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
