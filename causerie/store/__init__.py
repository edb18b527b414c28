"""Where sessions, turns, transcripts and errors are kept, and what is remembered per user
(:class:`MemoryRecord`): SQLite (default) or Redis backends (:class:`Store`), seen through
narrow interfaces (:class:`RecordWriter`, :class:`RecordReader`, :class:`MemoryStore`,
:class:`AgentHistory`), and :class:`BufferedStore`, which wraps a backend for the voice path.

``open_store(url)`` picks the backend from a URL. See docs/STORE.md.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import CauserieError
from .base import DEFAULT_KEEP, MemoryRecord, SessionFilter, SessionPage, Store, retention_loop
from .buffered import BufferedStore
from .interfaces import AgentHistory, MemoryStore, RecordReader, RecordWriter, Retention
from .sqlite import DEFAULT_SQLITE_PATH, SQLiteStore

DEFAULT_STORE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"

__all__ = [
    "DEFAULT_KEEP",
    "DEFAULT_STORE_URL",
    "AgentHistory",
    "BufferedStore",
    "MemoryRecord",
    "MemoryStore",
    "RecordReader",
    "RecordWriter",
    "Retention",
    "SQLiteStore",
    "SessionFilter",
    "SessionPage",
    "Store",
    "open_store",
    "retention_loop",
]

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise CauserieError(f"store URL option {name}={value!r}: expected true or false")


def open_store(url: str = DEFAULT_STORE_URL, *, transcripts: bool | None = None) -> Store:
    """Build the store a URL names; no I/O happens until first use or ``await store.open()``.

    * ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or a plain path;
    * ``redis://[:password@]host:port/db``, ``rediss://...``, ``unix:///path/redis.sock``.

    Query options: ``transcripts=false`` (store metrics only, no text; the keyword argument
    wins over it), ``prefix=...`` (Redis key prefix, default ``causerie:``).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower() if "://" in url else ""
    query = dict(parse_qsl(parts.query))
    if "transcripts" in query:
        from_url = _flag("transcripts", query.pop("transcripts"))
        transcripts = from_url if transcripts is None else transcripts
    keep_text = True if transcripts is None else transcripts

    if scheme in ("", "sqlite"):
        if scheme:
            # SQLAlchemy's convention: three slashes then a relative path, four for absolute.
            path = parts.path[1:] if parts.path.startswith("/") else parts.path
            path = path or str(DEFAULT_SQLITE_PATH)
        else:
            path = url
        if query:
            raise CauserieError(f"unknown SQLite store option(s): {', '.join(query)}")
        return SQLiteStore(Path(path), transcripts=keep_text)

    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStore

        prefix = query.pop("prefix", "causerie:")
        rest = urlunsplit(parts._replace(query=urlencode(query)))
        return RedisStore(rest, prefix=prefix, transcripts=keep_text)

    raise CauserieError(
        f"unsupported store URL {url!r}: use sqlite:///path/to.db, a plain path, or "
        "redis://host:port/db"
    )
