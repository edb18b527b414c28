"""Redis backend, for several workers on several machines sharing one store.

Key layout (``P`` is the prefix, ``causerie:`` by default; see docs/STORE.md)::

    P:schema               STRING  layout version
    P:session:{id}         HASH    id, started_at, ended_at, transport, agent_name, outcome,
                                   error, providers (JSON)
    P:turns:{id}           HASH    turn index -> TurnRecord JSON
    P:transcript:{id}      LIST    TranscriptEntry JSON, in order
    P:annotations:{id}     HASH    key -> JSON value
    P:errors:{id}          LIST    the members of P:index:errors that name this session
    P:index:sessions       ZSET    session id, scored by started_at
    P:index:active         SET     ids of sessions whose outcome is "active"
    P:index:turns          ZSET    "{index}|{session id}", scored by the turn's started_at
    P:index:errors         ZSET    ErrorRecord JSON (+ a unique "uid"), scored by at
    P:facts:{identity}     HASH    memory: fact key -> JSON value
    P:exchanges:{identity} LIST    memory: TranscriptEntry JSON, oldest first, trimmed
    P:index:memory         ZSET    identities with a memory, scored by updated_at
    P:agent_versions:{agent}      HASH    studio history: number -> AgentVersion JSON
    P:agent_version_count:{agent} STRING  the last number given (INCR)

The kind comes before the id in every key, so no session id or identity can collide with
another key.
Writes that touch several keys run as one Lua script or MULTI/EXEC, so a reader or another
worker never sees half a write. Single Redis server (or Sentinel); not Redis Cluster, whose
slots a multi-key script cannot span.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import CauserieError
from .base import (
    AgentVersion,
    MemoryRecord,
    SessionFilter,
    Store,
)
from .records import ErrorRecord, Outcome, SessionRecord, TranscriptEntry, TurnRecord

LAYOUT_VERSION = 1
_CHUNK = 500  # ids per pipeline when a listing has to look at every candidate

INSTALL_HINT = "pip install 'causerie[redis]'"

# A write for a session that does not exist is ignored (same rule as SQLite), so a record
# that arrives after delete_session cannot resurrect the session.
_END_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ended_at', ARGV[2], 'outcome', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'error', ARGV[5])
else redis.call('HDEL', KEYS[1], 'error') end
if ARGV[3] == 'active' then redis.call('SADD', KEYS[2], ARGV[1])
else redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""

_ADD_TURN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1] .. '|' .. ARGV[4])
return 1
"""

# KEYS[1]: the session, KEYS[2]: the target; ARGV[1]: the command, the rest its arguments.
_IF_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call(ARGV[1], KEYS[2], unpack(ARGV, 2))
return 1
"""

_DELETE_SESSION = """
local existed = redis.call('EXISTS', KEYS[1])
for _, i in ipairs(redis.call('HKEYS', KEYS[2])) do
  redis.call('ZREM', KEYS[8], i .. '|' .. ARGV[1])
end
for _, m in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
  redis.call('ZREM', KEYS[9], m)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('SREM', KEYS[7], ARGV[1])
return existed
"""


def _redis_module() -> Any:
    try:
        import redis.asyncio
    except ImportError as exc:
        raise CauserieError(
            f"the Redis store needs the optional package 'redis'; install it with: {INSTALL_HINT}"
        ) from exc
    return redis


def _opt_float(v: str | None) -> float | None:
    return None if v is None else float(v)


class RedisStore(Store):
    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "causerie:",
        transcripts: bool = True,
        max_connections: int = 32,
        client: Any = None,
    ) -> None:
        redis = _redis_module()
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        self.url = url
        self.prefix = prefix
        self.transcripts = transcripts
        # One quick retry survives a pooled connection that died with a restarted server;
        # longer outages are BufferedStore's business, so fail fast after that.
        if client is None:
            # A blocking pool makes a burst of writes wait for a free connection instead
            # of failing with "Too many connections".
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=5.0,
                decode_responses=True,
                socket_connect_timeout=2.0,
                socket_timeout=5.0,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            )
            client = redis.asyncio.Redis.from_pool(pool)
        # Any: redis-py's annotations cannot express decode_responses=True (str replies).
        self._r: Any = client
        self._exc = redis.exceptions
        self._end = self._r.register_script(_END_SESSION)
        self._turn = self._r.register_script(_ADD_TURN)
        self._if_session = self._r.register_script(_IF_SESSION)
        self._delete = self._r.register_script(_DELETE_SESSION)
        self._checked = False

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, prefix={self.prefix!r}, transcripts={self.transcripts})"

    # -- keys ---------------------------------------------------------------------------

    def _k(self, kind: str, session_id: str) -> str:
        return f"{self.prefix}{kind}:{session_id}"

    def _session_keys(self, sid: str) -> list[str]:
        """The keys the delete script takes, in its order."""
        k = self._k
        return [
            k("session", sid),
            k("turns", sid),
            k("transcript", sid),
            k("annotations", sid),
            k("errors", sid),
            k("index", "sessions"),
            k("index", "active"),
            k("index", "turns"),
            k("index", "errors"),
        ]

    @property
    def _sessions(self) -> str:
        return f"{self.prefix}index:sessions"

    @property
    def _active(self) -> str:
        return f"{self.prefix}index:active"

    @property
    def _turns(self) -> str:
        return f"{self.prefix}index:turns"

    @property
    def _errors(self) -> str:
        return f"{self.prefix}index:errors"

    @property
    def _memories(self) -> str:
        return f"{self.prefix}index:memory"

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        await self._check_layout()

    async def _check_layout(self) -> None:
        if self._checked:
            return
        key = f"{self.prefix}schema"
        await self._r.set(key, LAYOUT_VERSION, nx=True)
        found = int(await self._r.get(key) or LAYOUT_VERSION)
        if found > LAYOUT_VERSION:
            raise CauserieError(
                f"the Redis store under {self.prefix!r} uses layout version {found}, newer than "
                f"this causerie's {LAYOUT_VERSION}; upgrade causerie or use another prefix"
            )
        self._checked = True

    async def close(self) -> None:
        await self._r.aclose()

    def is_transient(self, exc: BaseException) -> bool:
        e = self._exc
        return isinstance(
            exc, e.ConnectionError | e.TimeoutError | e.ReadOnlyError | e.TryAgainError
        ) or super().is_transient(exc)

    # -- writes -------------------------------------------------------------------------

    async def start_session(self, session: SessionRecord) -> None:
        await self._check_layout()
        s = self._scrub_session(session)
        fields: dict[str, Any] = {
            "id": s.id,
            "started_at": s.started_at,
            "transport": s.transport,
            "agent_name": s.agent_name,
            "outcome": s.outcome,
            "providers": json.dumps(s.providers),
        }
        if s.ended_at is not None:
            fields["ended_at"] = s.ended_at
        if s.error is not None:
            fields["error"] = s.error
        key, ann = self._k("session", s.id), self._k("annotations", s.id)
        async with self._r.pipeline(transaction=True) as p:
            p.delete(key, ann)  # an upsert replaces the session's fields
            p.hset(key, mapping=fields)
            if s.annotations:
                p.hset(ann, mapping={k: json.dumps(v) for k, v in s.annotations.items()})
            p.zadd(self._sessions, {s.id: s.started_at})
            if s.outcome == "active":
                p.sadd(self._active, s.id)
            else:
                p.srem(self._active, s.id)
            if s.transcript:
                p.rpush(self._k("transcript", s.id), *(_entry_json(e) for e in s.transcript))
            await p.execute()

    async def _end_session(
        self, session_id: str, outcome: Outcome, error: str | None, at: float
    ) -> None:
        await self._check_layout()
        await self._end(
            keys=[self._k("session", session_id), self._active],
            args=[session_id, repr(at), outcome, "0" if error is None else "1", error or ""],
        )

    async def add_turn(self, turn: TurnRecord) -> None:
        await self._check_layout()
        t = self._scrub_turn(turn)
        await self._turn(
            keys=[self._k("session", t.session_id), self._k("turns", t.session_id), self._turns],
            args=[t.index, t.to_json(), repr(float(t.started_at)), t.session_id],
        )

    async def add_transcript_entry(self, session_id: str, entry: TranscriptEntry) -> None:
        if not self.transcripts:
            return
        await self._check_layout()
        await self._if_session(
            keys=[self._k("session", session_id), self._k("transcript", session_id)],
            args=["RPUSH", _entry_json(entry)],
        )

    async def annotate_session(self, session_id: str, annotations: Mapping[str, Any]) -> None:
        if not annotations:
            return
        await self._check_layout()
        flat: list[str] = []
        for k, v in annotations.items():
            flat += [k, json.dumps(v)]
        await self._if_session(
            keys=[self._k("session", session_id), self._k("annotations", session_id)],
            args=["HSET", *flat],
        )

    async def add_error(self, error: ErrorRecord) -> None:
        await self._check_layout()
        # The uid keeps two identical errors apart in the sorted set.
        member = json.dumps({**error.to_dict(), "uid": uuid.uuid4().hex}, separators=(",", ":"))
        async with self._r.pipeline(transaction=True) as p:
            p.zadd(self._errors, {member: error.at})
            if error.session_id is not None:
                p.rpush(self._k("errors", error.session_id), member)
            await p.execute()

    async def delete_session(self, session_id: str) -> bool:
        await self._check_layout()
        existed = await self._delete(keys=self._session_keys(session_id), args=[session_id])
        return bool(existed)

    async def _remember(self, patch: MemoryRecord, keep: int) -> None:
        identity, facts, kept, now = patch.identity, patch.facts, patch.exchanges, patch.updated_at
        put = {k: json.dumps(v) for k, v in facts.items() if v is not None}
        drop = [k for k, v in facts.items() if v is None]
        fkey, xkey = self._k("facts", identity), self._k("exchanges", identity)
        await self._check_layout()
        async with self._r.pipeline(transaction=True) as p:
            if put:
                p.hset(fkey, mapping=put)
            if drop:
                p.hdel(fkey, *drop)
            if kept:
                p.rpush(xkey, *(_entry_json(e) for e in kept))
            if keep:
                p.ltrim(xkey, -keep, -1)
            else:
                p.delete(xkey)
            p.zadd(self._memories, {identity: now})
            await p.execute()

    async def add_agent_version(self, version: AgentVersion) -> AgentVersion:
        await self._check_layout()
        # INCR hands each writer its own number, even with two servers saving at once.
        number = int(await self._r.incr(self._k("agent_version_count", version.agent)))
        saved = dataclasses.replace(version, number=number)
        await self._r.hset(
            self._k("agent_versions", version.agent), str(number), json.dumps(saved.to_dict())
        )
        return saved

    async def agent_versions(self, agent: str, limit: int = 50) -> list[AgentVersion]:
        await self._check_layout()
        raw = await self._r.hgetall(self._k("agent_versions", agent))
        versions = sorted(
            (AgentVersion.from_dict(json.loads(v)) for v in raw.values()),
            key=lambda v: v.number,
            reverse=True,
        )
        return versions[:limit]

    async def get_agent_version(self, agent: str, number: int) -> AgentVersion | None:
        await self._check_layout()
        raw = await self._r.hget(self._k("agent_versions", agent), str(number))
        return AgentVersion.from_dict(json.loads(raw)) if raw else None

    async def forget(self, identity: str) -> bool:
        await self._check_layout()
        async with self._r.pipeline(transaction=True) as p:
            p.delete(self._k("facts", identity), self._k("exchanges", identity))
            p.zrem(self._memories, identity)
            deleted, removed = await p.execute()
        return bool(deleted or removed)

    async def _apply_retention(self, cutoff: float | None, max_sessions: int | None) -> int:
        await self._check_layout()
        deleted = 0
        if cutoff is not None:
            old = await self._r.zrangebyscore(self._sessions, "-inf", f"({cutoff!r}")
            deleted += await self._delete_many(old)
            await self._age_out_turns(cutoff)
            await self._age_out_errors(cutoff)
        if max_sessions is not None:
            extra = await self._r.zcard(self._sessions) - max_sessions
            if extra > 0:
                oldest = await self._r.zrange(self._sessions, 0, extra - 1)
                deleted += await self._delete_many(oldest)
        return deleted

    async def _delete_many(self, ids: Iterable[str]) -> int:
        return sum([await self.delete_session(sid) for sid in ids])

    async def _age_out_turns(self, cutoff: float) -> None:
        members = await self._r.zrangebyscore(self._turns, "-inf", f"({cutoff!r}")
        async with self._r.pipeline(transaction=True) as p:
            for m in members:
                idx, sid = m.split("|", 1)
                p.hdel(self._k("turns", sid), idx)
                p.zrem(self._turns, m)
            await p.execute()

    async def _age_out_errors(self, cutoff: float) -> None:
        members = await self._r.zrangebyscore(self._errors, "-inf", f"({cutoff!r}")
        async with self._r.pipeline(transaction=True) as p:
            for m in members:
                sid = json.loads(m).get("session_id")
                if sid is not None:
                    p.lrem(self._k("errors", sid), 1, m)
                p.zrem(self._errors, m)
            await p.execute()

    # -- reads --------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> SessionRecord | None:
        await self._check_layout()
        async with self._r.pipeline(transaction=True) as p:
            p.hgetall(self._k("session", session_id))
            p.hgetall(self._k("annotations", session_id))
            p.hvals(self._k("turns", session_id))
            p.lrange(self._k("transcript", session_id), 0, -1)
            fields, ann, turns, transcript = await p.execute()
        if not fields:
            return None
        session = _session(fields, ann, len(turns))
        session.turns = sorted((TurnRecord.from_json(t) for t in turns), key=lambda t: t.index)
        session.transcript = [TranscriptEntry.from_dict(json.loads(e)) for e in transcript]
        return session

    async def get_memory(self, identity: str) -> MemoryRecord | None:
        await self._check_layout()
        async with self._r.pipeline(transaction=True) as p:
            p.zscore(self._memories, identity)
            p.hgetall(self._k("facts", identity))
            p.lrange(self._k("exchanges", identity), 0, -1)
            at, facts, exchanges = await p.execute()
        if at is None and not facts and not exchanges:
            return None
        return MemoryRecord(
            identity,
            {k: json.loads(v) for k, v in facts.items()},
            [TranscriptEntry.from_dict(json.loads(e)) for e in exchanges],
            float(at or 0.0),
        )

    async def _summaries(self, ids: list[str]) -> list[SessionRecord]:
        """Sessions without turns or transcript, in the order of ``ids``; gone ones skipped."""
        async with self._r.pipeline(transaction=False) as p:
            for sid in ids:
                p.hgetall(self._k("session", sid))
                p.hgetall(self._k("annotations", sid))
                p.hlen(self._k("turns", sid))
            res = await p.execute()
        return [_session(*res[i : i + 3]) for i in range(0, len(res), 3) if res[i]]

    async def _transcript_contains(self, ids: list[str], needle: str) -> list[bool]:
        async with self._r.pipeline(transaction=False) as p:
            for sid in ids:
                p.lrange(self._k("transcript", sid), 0, -1)
            lists = await p.execute()
        n = needle.casefold()
        return [any(n in json.loads(e)["text"].casefold() for e in entries) for entries in lists]

    async def _list_sessions(
        self, flt: SessionFilter, limit: int, offset: int
    ) -> tuple[list[SessionRecord], int]:
        await self._check_layout()
        hi = "+inf" if flt.until is None else f"({flt.until!r}"
        lo = "-inf" if flt.since is None else repr(flt.since)
        if flt == SessionFilter(since=flt.since, until=flt.until):
            # Time window only: the index pages by itself.
            total = await self._r.zcount(self._sessions, lo, hi)
            ids = await self._r.zrevrangebyscore(self._sessions, hi, lo, start=offset, num=limit)
            return await self._summaries(ids), int(total)
        # Other filters need each candidate's fields: O(sessions in the window), which
        # retention keeps bounded. Newest first, chunk by chunk.
        candidates = await self._r.zrevrangebyscore(self._sessions, hi, lo)
        matched: list[SessionRecord] = []
        for i in range(0, len(candidates), _CHUNK):
            found = [s for s in await self._summaries(candidates[i : i + _CHUNK]) if flt.matches(s)]
            if flt.text and found:
                hits = await self._transcript_contains([s.id for s in found], flt.text)
                found = [s for s, hit in zip(found, hits, strict=True) if hit]
            matched += found
        return matched[offset : offset + limit], len(matched)

    async def turns_between(
        self, since: float, until: float | None = None, *, limit: int | None = None
    ) -> list[TurnRecord]:
        await self._check_layout()
        hi = "+inf" if until is None else f"({until!r}"
        if limit is None:
            members = await self._r.zrangebyscore(self._turns, repr(since), hi)
        else:
            members = await self._r.zrangebyscore(self._turns, repr(since), hi, start=0, num=limit)
        async with self._r.pipeline(transaction=False) as p:
            for m in members:
                idx, sid = m.split("|", 1)
                p.hget(self._k("turns", sid), idx)
            found = await p.execute()
        return [TurnRecord.from_json(t) for t in found if t is not None]

    async def _list_errors(
        self, since: float | None, until: float | None, session_id: str | None, limit: int
    ) -> list[ErrorRecord]:
        await self._check_layout()
        if session_id is not None:
            members = await self._r.lrange(self._k("errors", session_id), 0, -1)
            errors = [ErrorRecord.from_dict(json.loads(m)) for m in members]
            errors = [
                e
                for e in errors
                if (since is None or e.at >= since) and (until is None or e.at < until)
            ]
            errors.sort(key=lambda e: e.at, reverse=True)
            return errors[:limit]
        hi = "+inf" if until is None else f"({until!r}"
        lo = "-inf" if since is None else repr(since)
        members = await self._r.zrevrangebyscore(self._errors, hi, lo, start=0, num=limit)
        return [ErrorRecord.from_dict(json.loads(m)) for m in members]

    async def count_active(self) -> int:
        await self._check_layout()
        return int(await self._r.scard(self._active))


def _entry_json(e: TranscriptEntry) -> str:
    return json.dumps(e.to_dict(), separators=(",", ":"))


def _session(fields: dict[str, str], ann: dict[str, str], turn_count: int) -> SessionRecord:
    return SessionRecord(
        id=fields["id"],
        started_at=float(fields["started_at"]),
        ended_at=_opt_float(fields.get("ended_at")),
        transport=fields["transport"],
        agent_name=fields["agent_name"],
        outcome=fields["outcome"],  # type: ignore[arg-type]
        error=fields.get("error"),
        providers=json.loads(fields.get("providers", "{}")),
        annotations={k: json.loads(v) for k, v in ann.items()},
        turn_count=int(turn_count),
    )
