"""Sessions a crashed process left ``"active"``, ended at the next start.

Each session records which process ran it (annotation ``process``: host and pid). At
start-up, an active session of this host whose process is gone (or whose pid is ours: a
container restarts with the same pid) can never end on its own: it is marked ended with
outcome ``error``. Sessions of live processes, or of other hosts sharing the store (Redis),
are left alone.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

logger = logging.getLogger(__name__)

PROCESS_KEY = "process"
CRASHED = "the server stopped before the session ended"


def process_tag() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier process with our pid: we have no sessions yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


async def end_orphans(store: Any, page: int = 200) -> int:
    """End this host's active sessions whose process is gone; returns how many."""
    host = socket.gethostname()
    ended = offset = 0
    while True:
        found = await store.list_sessions(limit=page, offset=offset, outcome="active")
        kept = 0
        for s in found.items:
            tag = s.annotations.get(PROCESS_KEY)
            if not isinstance(tag, dict) or tag.get("host") != host:
                kept += 1
                continue
            pid = tag.get("pid")
            if isinstance(pid, int) and _running(pid):
                kept += 1
                continue
            await store.end_session(s.id, "error", CRASHED)
            ended += 1
        if len(found.items) < page:
            break
        offset += kept  # the ended ones left the "active" filter
    if ended:
        logger.warning("%d session(s) left active by a stopped server marked ended", ended)
    return ended
