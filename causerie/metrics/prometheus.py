"""Prometheus export: an observer that turns records into histograms and counters.

:class:`PrometheusMetrics` is an :data:`~causerie.store.observers.Observer`: add its
:meth:`~PrometheusMetrics.observe` to the ``Observers`` of the worker's ``BufferedStore``.
Each instance has its own ``CollectorRegistry`` (no global state).

Several worker processes: prometheus_client's multiprocess mode. When
``PROMETHEUS_MULTIPROC_DIR`` is set in the environment of every process *before it starts*
(one empty folder shared by all processes on the host), each process writes its values to
files there and :meth:`PrometheusMetrics.render`, in whichever process serves ``/metrics``,
adds them all up: counters and histograms sum, the active-sessions gauge sums over live
processes only (files of dead processes are removed at scrape time). Aggregating from the
store instead was rejected: histograms rebuilt from stored turns at every scrape cost
O(turns), and counters would jump back when retention deletes sessions. The store still
answers what only it knows across hosts: ``causerie_store_active_sessions``.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from ..compat.prometheus import live_gauge_pids, multiprocess_enabled
from ..errors import CauserieError
from ..store.records import ErrorRecord, Record, SessionEnd, SessionRecord, TurnRecord

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
)
SESSION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

# (TurnRecord field, metric name, whose provider labels it, help). "pipeline" is the
# stt+llm+tts chain: an end-to-end figure depends on all three.
TURN_HISTOGRAMS: tuple[tuple[str, str, str, str], ...] = (
    (
        "voice_to_voice",
        "causerie_voice_to_voice_seconds",
        "pipeline",
        "Last audible user sample to first audible agent sample, measured at the transport.",
    ),
    (
        "stt_final_delay",
        "causerie_stt_final_delay_seconds",
        "stt",
        "End of user speech to final transcript.",
    ),
    (
        "stt_duration",
        "causerie_stt_duration_seconds",
        "stt",
        "Duration of non-streaming STT requests.",
    ),
    (
        "end_of_utterance_delay",
        "causerie_end_of_utterance_delay_seconds",
        "vad",
        "End of user speech to the end-of-turn decision.",
    ),
    ("llm_ttft", "causerie_llm_ttft_seconds", "llm", "LLM time to first token."),
    ("llm_duration", "causerie_llm_duration_seconds", "llm", "LLM request duration per reply."),
    ("tts_ttfb", "causerie_tts_ttfb_seconds", "tts", "TTS time to first audio byte."),
    ("tts_duration", "causerie_tts_duration_seconds", "tts", "TTS synthesis duration per reply."),
    (
        "lk_e2e_latency",
        "causerie_lk_e2e_latency_seconds",
        "pipeline",
        "livekit-agents' own e2e_latency (under-reports; for comparison).",
    ),
)

_MAX_LABEL = 80


def _label(value: str | None) -> str:
    return (value or "none")[:_MAX_LABEL]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """What the store answered at scrape time (``None`` fields: not asked)."""

    up: bool
    active_sessions: int | None = None


class _StoreGauges(Collector):
    """Scrape-time gauges from the store: the one view shared by every host."""

    def __init__(self, status: StoreStatus) -> None:
        self.status = status

    def collect(self) -> Iterable[Any]:
        up = GaugeMetricFamily("causerie_store_up", "Whether the store answered this scrape.")
        up.add_metric([], 1.0 if self.status.up else 0.0)
        yield up
        if self.status.active_sessions is not None:
            active = GaugeMetricFamily(
                "causerie_store_active_sessions",
                "Sessions the store has as active, over every worker and host.",
            )
            active.add_metric([], float(self.status.active_sessions))
            yield active


@dataclass(slots=True)
class _SessionInfo:
    transport: str
    labels: dict[str, str]
    started_at: float
    agent: str = "none"


class PrometheusMetrics:
    """Histograms of the per-turn latencies, session and error counters, the active-sessions
    gauge, and the store's buffer counters; labels ``provider``, ``transport`` and ``agent``
    (the agent's name: several agents per server, docs/STUDIO.md)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        multiprocess_dir: str | None = None,
        max_tracked_sessions: int = 10_000,
    ) -> None:
        self.multiprocess_dir = multiprocess_dir or os.environ.get(MULTIPROC_ENV) or None
        if self.multiprocess_dir and not multiprocess_enabled():
            raise CauserieError(
                f"{MULTIPROC_ENV} must be set before the process starts (prometheus_client "
                "reads it at import); set it in the service's environment"
            )
        self.registry = registry or CollectorRegistry()
        if not self.multiprocess_dir:
            ProcessCollector(registry=self.registry)
        r = self.registry
        self._hist: dict[str, tuple[Histogram, str]] = {
            fld: (
                Histogram(
                    name, doc, ["provider", "transport", "agent"], buckets=buckets, registry=r
                ),
                stage,
            )
            for fld, name, stage, doc in TURN_HISTOGRAMS
        }
        self.sessions_started = Counter(
            "causerie_sessions_started", "Sessions started.", ["transport", "agent"], registry=r
        )
        self.sessions_ended = Counter(
            "causerie_sessions_ended",
            "Sessions ended, by outcome.",
            ["transport", "outcome", "agent"],
            registry=r,
        )
        self.active = Gauge(
            "causerie_active_sessions",
            "Sessions in progress in live worker processes.",
            ["transport", "agent"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.session_duration = Histogram(
            "causerie_session_duration_seconds",
            "Session length.",
            ["transport", "agent"],
            buckets=SESSION_BUCKETS,
            registry=r,
        )
        self.turns = Counter(
            "causerie_turns", "Turns recorded.", ["transport", "agent"], registry=r
        )
        self.interrupted = Counter(
            "causerie_turns_interrupted",
            "Turns whose reply was interrupted.",
            ["transport", "agent"],
            registry=r,
        )
        self.tokens = Counter(
            "causerie_llm_tokens",
            "LLM tokens.",
            ["provider", "transport", "kind", "agent"],
            registry=r,
        )
        self.tool_calls = Counter(
            "causerie_tool_calls", "Function tool calls.", ["tool", "outcome"], registry=r
        )
        self.failovers = Counter(
            "causerie_failovers",
            "Turns a fallback chain's later provider served (the first failed or timed out).",
            ["stage", "provider", "transport", "agent"],
            registry=r,
        )
        self.tool_duration = Histogram(
            "causerie_tool_duration_seconds",
            "Function tool run time.",
            ["tool"],
            buckets=buckets,
            registry=r,
        )
        self.errors = Counter(
            "causerie_errors",
            "Errors, by component (stt, llm, tts, tool, transport...).",
            ["component", "provider", "transport", "agent"],
            registry=r,
        )
        self.store_written = Counter(
            "causerie_store_writes", "Writes that reached the store.", registry=r
        )
        self.store_failures = Counter(
            "causerie_store_write_failures", "Failed store write attempts (retried).", registry=r
        )
        self.store_dropped = Counter(
            "causerie_store_dropped",
            "Records lost: buffer full, refused, or unflushed at close.",
            registry=r,
        )
        self.store_pending = Gauge(
            "causerie_store_pending",
            "Records waiting in the store buffer.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.store_healthy = Gauge(
            "causerie_store_healthy",
            "1 while the last store write succeeded.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.store_healthy.set(1)
        self._sessions: OrderedDict[str, _SessionInfo] = OrderedDict()
        self._max_tracked = max_tracked_sessions
        self._stores: list[list[Any]] = []  # [store, written, failures, dropped] seen

    # -- the observer ---------------------------------------------------------------------

    def observe(self, record: Record) -> None:
        if isinstance(record, TurnRecord):
            self._turn(record)
        elif isinstance(record, SessionRecord):
            self._start(record)
        elif isinstance(record, SessionEnd):
            self._end(record)
        elif isinstance(record, ErrorRecord):
            info = self._sessions.get(record.session_id or "")
            self.errors.labels(
                record.component,
                _label(record.provider),
                info.transport if info else "none",
                info.agent if info else "none",
            ).inc()
        if self._stores:
            self.sync_stores()

    def _start(self, s: SessionRecord) -> None:
        if s.id in self._sessions:  # an upsert of a session already counted
            return
        p = s.providers
        labels = {k: _label(p.get(k)) for k in ("stt", "llm", "tts", "vad")}
        labels["pipeline"] = _label("+".join(p.get(k, "none") for k in ("stt", "llm", "tts")))
        agent = _label(s.agent_name)
        self._sessions[s.id] = _SessionInfo(s.transport, labels, s.started_at, agent)
        while len(self._sessions) > self._max_tracked:  # a worker that never ends its sessions
            _, old = self._sessions.popitem(last=False)
            self.active.labels(old.transport, old.agent).dec()
        self.sessions_started.labels(s.transport, agent).inc()
        self.active.labels(s.transport, agent).inc()

    def _end(self, e: SessionEnd) -> None:
        info = self._sessions.pop(e.session_id, None)
        if info is None:
            return
        self.active.labels(info.transport, info.agent).dec()
        self.sessions_ended.labels(info.transport, e.outcome, info.agent).inc()
        duration = max(0.0, e.ended_at - info.started_at)
        self.session_duration.labels(info.transport, info.agent).observe(duration)

    def _turn(self, t: TurnRecord) -> None:
        info = self._sessions.get(t.session_id)
        transport = info.transport if info else "none"
        agent = info.agent if info else "none"
        labels = info.labels if info else {}
        for fld, (hist, stage) in self._hist.items():
            value = getattr(t, fld)
            if value is not None:
                hist.labels(labels.get(stage, "none"), transport, agent).observe(value)
        self.turns.labels(transport, agent).inc()
        if t.interrupted:
            self.interrupted.labels(transport, agent).inc()
        llm = labels.get("llm", "none")
        if t.llm_prompt_tokens:
            self.tokens.labels(llm, transport, "prompt", agent).inc(t.llm_prompt_tokens)
        if t.llm_completion_tokens:
            self.tokens.labels(llm, transport, "completion", agent).inc(t.llm_completion_tokens)
        for stage in t.failovers:
            self.failovers.labels(stage, _label(t.providers.get(stage)), transport, agent).inc()
        for call in t.tool_calls:
            self.tool_calls.labels(_label(call.name), "ok" if call.ok else "error").inc()
            if call.duration is not None:
                self.tool_duration.labels(_label(call.name)).observe(call.duration)

    # -- the store's buffer ---------------------------------------------------------------

    def track_store(self, store: Any) -> None:
        """Export a :class:`~causerie.store.BufferedStore`'s counters (synced as records
        flow and at each scrape)."""
        self._stores.append([store, store.written, store.failures, store.dropped])

    def sync_stores(self) -> None:
        pending, healthy = 0, True
        for entry in self._stores:
            store, written, failures, dropped = entry
            if store.written > written:
                self.store_written.inc(store.written - written)
            if store.failures > failures:
                self.store_failures.inc(store.failures - failures)
            if store.dropped > dropped:
                self.store_dropped.inc(store.dropped - dropped)
            entry[1:] = [store.written, store.failures, store.dropped]
            pending += store.pending
            healthy = healthy and store.healthy
        self.store_pending.set(pending)
        self.store_healthy.set(1 if healthy else 0)

    # -- exposition -----------------------------------------------------------------------

    def render(self, store_status: StoreStatus | None = None) -> bytes:
        """The Prometheus text exposition: this process's metrics, or every process's in
        multiprocess mode, plus the store's scrape-time gauges."""
        self.sync_stores()
        if self.multiprocess_dir:
            return render_multiprocess(self.multiprocess_dir, store_status)
        if store_status is None:
            return generate_latest(self.registry)
        out = CollectorRegistry()
        out.register(_Forward(self.registry))
        out.register(_StoreGauges(store_status))
        return generate_latest(out)


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        return self.registry.collect()


def remove_dead_processes(path: str) -> list[int]:
    """Forget the live gauges of processes that have exited (what a process manager's
    child-exit hook would do; uvicorn has none). Same host only, as multiprocess mode is."""
    dead = []
    for pid in live_gauge_pids(path):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.append(pid)
        except PermissionError:  # alive, another user's
            continue
    for pid in set(dead):
        mark_process_dead(pid, path)
    return sorted(set(dead))


def render_multiprocess(path: str, store_status: StoreStatus | None = None) -> bytes:
    """Aggregate every process's metric files in ``path`` (works from any process)."""
    remove_dead_processes(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    if store_status is not None:
        registry.register(_StoreGauges(store_status))
    return generate_latest(registry)
