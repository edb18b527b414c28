"""Causerie's own engine code, loaded without Causerie (for the Pipecat venv).

``causerie/providers/local``'s pocketsphinx worker, its CMN, the espeak engine and the
scripted brain depend on the standard library, pocketsphinx and numpy only; importing them
through ``causerie`` would pull in livekit. So their folders are mounted as bare packages.
"""

from __future__ import annotations

import sys
import types
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

LOCAL = Path(__file__).resolve().parents[2] / "causerie" / "providers" / "local"


def _mount(name: str, folder: Path) -> None:
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        sys.modules[name] = pkg


_mount("cz_local", LOCAL)
_mount("cz_scripted", LOCAL / "scripted")


def worker_main(conn: Connection, config: dict[str, Any]) -> None:
    """The STT worker process (spawned): Causerie's pocketsphinx worker loop, unchanged."""
    from cz_local.pocketsphinx_worker import main

    main(conn, config)
