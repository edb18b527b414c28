"""Placed orders, appended as JSON lines to ``<data_dir>/orders.jsonl``.

One line per order, written with a single ``write`` on a file opened in append mode, so
concurrent sessions (and processes) never interleave lines. Read it with any JSON-lines tool:
``tail -n 1 var/orders.jsonl | python -m json.tool``.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any


def new_order_id(now: float | None = None) -> str:
    """``ORD-20250131-7F3A9C``: the day, then 24 random bits."""
    day = time.strftime("%Y%m%d", time.localtime(now))
    return f"ORD-{day}-{secrets.token_hex(3).upper()}"


class OrderBook:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "orders.jsonl"
        self._lock = threading.Lock()

    def append(self, order: dict[str, Any]) -> None:
        line = json.dumps(order, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def find(self, order_id: str) -> dict[str, Any] | None:
        return next((o for o in self.read() if o.get("order_id") == order_id), None)
