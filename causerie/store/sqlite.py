"""SQLite backend (the default): one file, stdlib ``sqlite3``, WAL mode.

Threads: every write runs on one dedicated writer thread that owns one connection, so
writes are serialised in this process without locks and never block the event loop; reads
run on a second thread with its own connection, which WAL lets proceed alongside a write.
Several processes may share the file: ``busy_timeout`` makes a writer wait for the lock.

Durability: each write is its own committed transaction. With ``synchronous=NORMAL`` in WAL
mode a commit survives a crash of the process (the WAL is on disk); only a power cut may
lose the last commits, which is the usual trade for not fsyncing every turn.

Schema: ``PRAGMA user_version`` is the number of :data:`MIGRATIONS` applied; opening a
file applies the missing ones in order, each in its own transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CauserieError
from .base import (
    AgentVersion,
    MemoryRecord,
    SessionFilter,
    Store,
)
from .records import ErrorRecord, Outcome, SessionRecord, TranscriptEntry, TurnRecord

DEFAULT_SQLITE_PATH = Path("var/causerie.sqlite3")

T = TypeVar("T")

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: sessions, turns, transcript. A turn is kept whole as JSON (new optional fields
    # need no migration); the columns beside it are the ones queries filter on.
    (
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            ended_at REAL,
            transport TEXT NOT NULL,
            agent_name TEXT NOT NULL,
            outcome TEXT NOT NULL DEFAULT 'active',
            error TEXT,
            providers TEXT NOT NULL DEFAULT '{}',
            annotations TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX sessions_started ON sessions (started_at)",
        "CREATE INDEX sessions_outcome ON sessions (outcome)",
        """CREATE TABLE turns (
            session_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            started_at REAL NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (session_id, idx)
        ) WITHOUT ROWID""",
        """CREATE TABLE transcript (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            at REAL NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
        "CREATE INDEX transcript_session ON transcript (session_id, id)",
    ),
    # 2: errors, and a time index on turns for the dashboard's summaries.
    (
        """CREATE TABLE errors (
            id INTEGER PRIMARY KEY,
            session_id TEXT,
            at REAL NOT NULL,
            component TEXT NOT NULL,
            provider TEXT,
            message TEXT NOT NULL
        )""",
        "CREATE INDEX errors_at ON errors (at)",
        "CREATE INDEX errors_session ON errors (session_id)",
        "CREATE INDEX turns_started ON turns (started_at)",
    ),
    # 3: memory per user identity (the conversation_memory plugin): the facts as one JSON
    # object, and the last exchanges in insertion order.
    (
        """CREATE TABLE memory (
            identity TEXT PRIMARY KEY,
            facts TEXT NOT NULL DEFAULT '{}',
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE memory_exchanges (
            id INTEGER PRIMARY KEY,
            identity TEXT NOT NULL,
            at REAL NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
        "CREATE INDEX memory_exchanges_identity ON memory_exchanges (identity, id)",
    ),
    # 4: the studio's history of each agent definition.
    (
        """CREATE TABLE agent_versions (
            agent TEXT NOT NULL,
            number INTEGER NOT NULL,
            at REAL NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (agent, number)
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so two processes cannot both read-then-write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema up to ``len(migrations)``; returns the version. Safe when several
    processes open a new file at once: the version is re-read under the write lock."""
    target = len(migrations)
    while (version := _version(conn)) < target:
        with _transaction(conn):
            version = _version(conn)
            if version < target:
                for statement in migrations[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
    if version > target:
        raise CauserieError(
            f"the store's schema is version {version} but this causerie knows only up to "
            f"{target}; upgrade causerie, or point the store at another file"
        )
    return version


def _contains(text: str | None, needle: str | None) -> bool:
    return bool(text and needle and needle.casefold() in text.casefold())


class SQLiteStore(Store):
    def __init__(
        self,
        path: str | Path = DEFAULT_SQLITE_PATH,
        *,
        transcripts: bool = True,
        busy_timeout: float = 5.0,
    ) -> None:
        if str(path) in ("", ":memory:"):
            # Each of the store's two threads would get its own, separate, empty database.
            raise CauserieError("the SQLite store needs a file path, not an in-memory database")
        self.path = Path(path)
        self.transcripts = transcripts
        self._busy_timeout = busy_timeout
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="causerie-sqlite-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="causerie-sqlite-read")
        # Each connection is only touched by its own executor's thread.
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, transcripts={self.transcripts})"

    # -- threads and connections --------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so a lone statement is its own transaction.
        return sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)

    def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        if self._wconn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._wconn = conn
        return fn(self._wconn, *args)

    def _on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        if self._rconn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            conn.create_function("causerie_contains", 2, _contains, deterministic=True)
            self._rconn = conn
        # One read transaction, so a session and its turns come from the same snapshot.
        self._rconn.execute("BEGIN")
        try:
            return fn(self._rconn, *args)
        finally:
            self._rconn.execute("COMMIT")

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._on_writer, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._wconn is None:
            await self.open()  # the writer creates and migrates the file first
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._on_reader, fn, *args)

    async def open(self) -> None:
        await self._write(lambda conn: None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        for executor, attr in ((self._writer, "_wconn"), (self._reader, "_rconn")):
            await loop.run_in_executor(executor, self._close_conn, attr)
            executor.shutdown(wait=False)

    def _close_conn(self, attr: str) -> None:
        conn = getattr(self, attr)
        if conn is not None:
            setattr(self, attr, None)
            conn.close()

    def is_transient(self, exc: BaseException) -> bool:
        # OperationalError: locked, read-only, cannot open, disk I/O - may clear up.
        return isinstance(exc, sqlite3.OperationalError) or super().is_transient(exc)

    # -- writes -------------------------------------------------------------------------

    async def start_session(self, session: SessionRecord) -> None:
        await self._write(_start_session, self._scrub_session(session))

    async def _end_session(
        self, session_id: str, outcome: Outcome, error: str | None, at: float
    ) -> None:
        await self._write(
            lambda c: c.execute(
                "UPDATE sessions SET ended_at = ?, outcome = ?, error = ? WHERE id = ?",
                (at, outcome, error, session_id),
            )
        )

    async def add_turn(self, turn: TurnRecord) -> None:
        turn = self._scrub_turn(turn)
        row = (turn.session_id, turn.index, turn.started_at, turn.to_json(), turn.session_id)
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO turns (session_id, idx, started_at, data) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)",
                row,
            )
        )

    async def add_transcript_entry(self, session_id: str, entry: TranscriptEntry) -> None:
        if not self.transcripts:
            return
        row = (session_id, entry.at, entry.role, entry.text, session_id)
        await self._write(
            lambda c: c.execute(
                "INSERT INTO transcript (session_id, at, role, text) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)",
                row,
            )
        )

    async def annotate_session(self, session_id: str, annotations: Mapping[str, Any]) -> None:
        await self._write(_annotate, session_id, json.dumps(dict(annotations)))

    async def add_error(self, error: ErrorRecord) -> None:
        row = (error.session_id, error.at, error.component, error.provider, error.message)
        await self._write(
            lambda c: c.execute(
                "INSERT INTO errors (session_id, at, component, provider, message) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )

    async def delete_session(self, session_id: str) -> bool:
        return await self._write(_delete_session, session_id)

    async def _remember(self, patch: MemoryRecord, keep: int) -> None:
        rows = [(patch.identity, e.at, e.role, e.text) for e in patch.exchanges]
        facts = json.dumps(patch.facts)
        await self._write(_remember, patch.identity, facts, rows, keep, patch.updated_at)

    async def forget(self, identity: str) -> bool:
        return await self._write(_forget, identity)

    async def add_agent_version(self, version: AgentVersion) -> AgentVersion:
        return await self._write(_add_agent_version, version)

    async def agent_versions(self, agent: str, limit: int = 50) -> list[AgentVersion]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM agent_versions WHERE agent = ? ORDER BY number DESC LIMIT ?",
                (agent, limit),
            ).fetchall()
        )
        return [AgentVersion.from_dict(json.loads(r[0])) for r in rows]

    async def get_agent_version(self, agent: str, number: int) -> AgentVersion | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT data FROM agent_versions WHERE agent = ? AND number = ?", (agent, number)
            ).fetchone()
        )
        return AgentVersion.from_dict(json.loads(row[0])) if row else None

    async def _apply_retention(self, cutoff: float | None, max_sessions: int | None) -> int:
        return await self._write(_retention, cutoff, max_sessions)

    # -- reads --------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await self._read(_get_session, session_id)

    async def get_memory(self, identity: str) -> MemoryRecord | None:
        return await self._read(_get_memory, identity)

    async def _list_sessions(
        self, flt: SessionFilter, limit: int, offset: int
    ) -> tuple[list[SessionRecord], int]:
        return await self._read(_list_sessions, flt, limit, offset)

    async def turns_between(
        self, since: float, until: float | None = None, *, limit: int | None = None
    ) -> list[TurnRecord]:
        sql = "SELECT data FROM turns WHERE started_at >= ?"
        params: list[Any] = [since]
        if until is not None:
            sql += " AND started_at < ?"
            params.append(until)
        sql += " ORDER BY started_at, session_id, idx LIMIT ?"
        params.append(-1 if limit is None else limit)
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return [TurnRecord.from_json(r[0]) for r in rows]

    async def _list_errors(
        self, since: float | None, until: float | None, session_id: str | None, limit: int
    ) -> list[ErrorRecord]:
        where, params = _where(
            ("at >= ?", since), ("at < ?", until), ("session_id = ?", session_id)
        )
        sql = (
            "SELECT component, message, at, session_id, provider FROM errors"
            f"{where} ORDER BY at DESC, id DESC LIMIT ?"
        )
        rows = await self._read(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [ErrorRecord(*r) for r in rows]

    async def count_active(self) -> int:
        row = await self._read(
            lambda c: c.execute("SELECT count(*) FROM sessions WHERE outcome = 'active'").fetchone()
        )
        return int(row[0])


# -- the SQL, run on the store's threads ---------------------------------------------------


def _where(*conds: tuple[str, Any]) -> tuple[str, list[Any]]:
    """`` WHERE a AND b`` from the conditions whose value is not None."""
    used = [(sql, v) for sql, v in conds if v is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in used), [v for _, v in used]


def _start_session(c: sqlite3.Connection, s: SessionRecord) -> None:
    with _transaction(c):
        c.execute(
            "INSERT INTO sessions (id, started_at, ended_at, transport, agent_name, outcome, "
            "error, providers, annotations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, "
            "ended_at = excluded.ended_at, transport = excluded.transport, "
            "agent_name = excluded.agent_name, outcome = excluded.outcome, "
            "error = excluded.error, providers = excluded.providers, "
            "annotations = excluded.annotations",
            (
                s.id,
                s.started_at,
                s.ended_at,
                s.transport,
                s.agent_name,
                s.outcome,
                s.error,
                json.dumps(s.providers),
                json.dumps(s.annotations),
            ),
        )
        c.executemany(
            "INSERT INTO transcript (session_id, at, role, text) VALUES (?, ?, ?, ?)",
            [(s.id, e.at, e.role, e.text) for e in s.transcript],
        )


def _annotate(c: sqlite3.Connection, session_id: str, patch: str) -> None:
    with _transaction(c):
        row = c.execute("SELECT annotations FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            return
        merged = {**json.loads(row[0]), **json.loads(patch)}
        c.execute(
            "UPDATE sessions SET annotations = ? WHERE id = ?", (json.dumps(merged), session_id)
        )


def _remember(
    c: sqlite3.Connection,
    identity: str,
    patch: str,
    rows: list[tuple[str, float, str, str]],
    keep: int,
    at: float,
) -> None:
    with _transaction(c):
        row = c.execute("SELECT facts FROM memory WHERE identity = ?", (identity,)).fetchone()
        facts = json.loads(row[0]) if row else {}
        for key, value in json.loads(patch).items():
            if value is None:
                facts.pop(key, None)
            else:
                facts[key] = value
        c.execute(
            "INSERT INTO memory (identity, facts, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (identity) DO UPDATE SET facts = excluded.facts, "
            "updated_at = excluded.updated_at",
            (identity, json.dumps(facts), at),
        )
        c.executemany(
            "INSERT INTO memory_exchanges (identity, at, role, text) VALUES (?, ?, ?, ?)", rows
        )
        c.execute(
            "DELETE FROM memory_exchanges WHERE identity = ? AND id NOT IN (SELECT id FROM "
            "memory_exchanges WHERE identity = ? ORDER BY id DESC LIMIT ?)",
            (identity, identity, keep),
        )


def _add_agent_version(c: sqlite3.Connection, v: AgentVersion) -> AgentVersion:
    with _transaction(c):
        (last,) = c.execute(
            "SELECT COALESCE(MAX(number), 0) FROM agent_versions WHERE agent = ?", (v.agent,)
        ).fetchone()
        saved = dataclasses.replace(v, number=int(last) + 1)
        c.execute(
            "INSERT INTO agent_versions (agent, number, at, data) VALUES (?, ?, ?, ?)",
            (saved.agent, saved.number, saved.at, json.dumps(saved.to_dict())),
        )
    return saved


def _forget(c: sqlite3.Connection, identity: str) -> bool:
    with _transaction(c):
        c.execute("DELETE FROM memory_exchanges WHERE identity = ?", (identity,))
        return c.execute("DELETE FROM memory WHERE identity = ?", (identity,)).rowcount > 0


def _get_memory(c: sqlite3.Connection, identity: str) -> MemoryRecord | None:
    row = c.execute(
        "SELECT facts, updated_at FROM memory WHERE identity = ?", (identity,)
    ).fetchone()
    if row is None:
        return None
    exchanges = [
        TranscriptEntry(role=r[0], text=r[1], at=r[2])
        for r in c.execute(
            "SELECT role, text, at FROM memory_exchanges WHERE identity = ? ORDER BY id",
            (identity,),
        )
    ]
    return MemoryRecord(identity, json.loads(row[0]), exchanges, float(row[1]))


def _delete_ids(c: sqlite3.Connection, ids_sql: str, params: Sequence[Any]) -> int:
    """Delete the sessions selected by ``ids_sql`` and everything that hangs off them."""
    for table in ("turns", "transcript", "errors"):
        c.execute(f"DELETE FROM {table} WHERE session_id IN ({ids_sql})", params)
    return c.execute(f"DELETE FROM sessions WHERE id IN ({ids_sql})", params).rowcount


def _delete_session(c: sqlite3.Connection, session_id: str) -> bool:
    with _transaction(c):
        return _delete_ids(c, "?", (session_id,)) > 0


def _retention(c: sqlite3.Connection, cutoff: float | None, max_sessions: int | None) -> int:
    deleted = 0
    with _transaction(c):
        if cutoff is not None:
            deleted += _delete_ids(c, "SELECT id FROM sessions WHERE started_at < ?", (cutoff,))
            # Turns and errors that outlived their session (or never had one) age out too.
            c.execute("DELETE FROM turns WHERE started_at < ?", (cutoff,))
            c.execute("DELETE FROM errors WHERE at < ?", (cutoff,))
        if max_sessions is not None:
            deleted += _delete_ids(
                c,
                "SELECT id FROM sessions ORDER BY started_at DESC, id DESC LIMIT -1 OFFSET ?",
                (max_sessions,),
            )
    return deleted


_SESSION_COLS = (
    "id, started_at, ended_at, transport, agent_name, outcome, error, providers, annotations, "
    "(SELECT count(*) FROM turns t WHERE t.session_id = s.id)"
)


def _session(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        started_at=row[1],
        ended_at=row[2],
        transport=row[3],
        agent_name=row[4],
        outcome=row[5],
        error=row[6],
        providers=json.loads(row[7]),
        annotations=json.loads(row[8]),
        turn_count=row[9],
    )


def _get_session(c: sqlite3.Connection, session_id: str) -> SessionRecord | None:
    row = c.execute(f"SELECT {_SESSION_COLS} FROM sessions s WHERE id = ?", (session_id,))
    found = row.fetchone()
    if found is None:
        return None
    session = _session(found)
    turns = c.execute("SELECT data FROM turns WHERE session_id = ? ORDER BY idx", (session_id,))
    session.turns = [TurnRecord.from_json(r[0]) for r in turns]
    session.transcript = [
        TranscriptEntry(role=r[0], text=r[1], at=r[2])
        for r in c.execute(
            "SELECT role, text, at FROM transcript WHERE session_id = ? ORDER BY id", (session_id,)
        )
    ]
    return session


def _list_sessions(
    c: sqlite3.Connection, flt: SessionFilter, limit: int, offset: int
) -> tuple[list[SessionRecord], int]:
    where, params = _where(
        ("transport = ?", flt.transport),
        ("outcome = ?", flt.outcome),
        ("agent_name = ?", flt.agent_name),
        ("started_at >= ?", flt.since),
        ("started_at < ?", flt.until),
        (
            "EXISTS (SELECT 1 FROM transcript x WHERE x.session_id = s.id "
            "AND causerie_contains(x.text, ?))",
            flt.text,
        ),
    )
    total = c.execute(f"SELECT count(*) FROM sessions s{where}", params).fetchone()[0]
    rows = c.execute(
        f"SELECT {_SESSION_COLS} FROM sessions s{where} "
        "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [_session(r) for r in rows], int(total)
