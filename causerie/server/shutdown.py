"""uvicorn's server, draining the conversations first on SIGTERM / Ctrl+C.

Without this, uvicorn fails every WebSocket with a bare 1012 before the app hears of the
shutdown: the client gets no reason and the last turn may not be recorded yet.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Any, drain_timeout: float = 5.0) -> None:
        super().__init__(config)
        self.app = app
        self.drain_timeout = drain_timeout

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        manager = getattr(self.app.state, "manager", None)
        if manager is not None and not self.force_exit:
            await manager.drain(self.drain_timeout)  # clients told why; sessions recorded
        await super().shutdown(sockets)
