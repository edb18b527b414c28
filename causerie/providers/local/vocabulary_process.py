"""In the worker: a vocabulary pair's app decoders in a process of their own, on the other core.

A :class:`~.vocabulary_decoder.DecoderPair` decodes every chunk twice, and pocketsphinx holds
the GIL while it searches, so in one process the pair's two searches take turns on one core:
a settle's catch-up (the spare pair re-decoding seconds of audio, :mod:`.pocketsphinx_catchup`)
leaves the worker ~0.5 s behind real time, and a final that lands then waits for it
(docs/PERFORMANCE.md, "An app's vocabulary"). :func:`split` forks the worker once, after its
decoders are loaded: the child keeps the app decoders (their model pages still shared
copy-on-write) and serves them over a pipe; the worker keeps the general ones, and each pair
gets a :class:`RemoteDecoder` in the app's place. Audio and state changes go without waiting,
so the two searches run at once; ``hyp()``, ``seg()`` and the other queries wait for the
child, which answers in order, after everything sent before.

The child ends when the worker's end of the pipe closes (the worker ended). A request that
raised there is reported at the next query, which raises: the worker then fails its request
and its parent replaces it, as for any decoder error.

Standard library only: this runs in the worker process (see :mod:`.pocketsphinx_worker`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from .vocabulary_decoder import DecoderPair

if TYPE_CHECKING:
    from pocketsphinx import Decoder

# Requests the child answers; every other one is sent without waiting.
_QUERIES = frozenset({"hyp", "seg", "get_cmn", "current_search"})


@dataclass(frozen=True)
class Hyp:
    """What the worker reads of a ``pocketsphinx.Hypothesis``."""

    hypstr: str
    best_score: int
    prob: float


@dataclass(frozen=True)
class Seg:
    """What the worker reads of a ``pocketsphinx.Segment``."""

    word: str
    start_frame: int
    end_frame: int
    prob: float


class RemoteDecoder:
    """The subset of ``pocketsphinx.Decoder`` a pair's app side needs, in the child."""

    def __init__(self, conn: Connection, key: int, local: object) -> None:
        self._conn, self._key = conn, key
        # The decoder the child now runs, kept unused here: freeing it would write (and so
        # copy) ~50 MB of pages this process shares with the fork server.
        self._local = local

    def _send(self, op: str, *args: Any) -> None:
        self._conn.send((op, self._key, *args))

    def _ask(self, op: str, *args: Any) -> Any:
        self._send(op, *args)
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"app decoder process: {value}")
        return value

    def start_utt(self) -> None:
        self._send("start_utt")

    def end_utt(self) -> None:
        self._send("end_utt")

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> None:
        self._send("process_raw", data, no_search, full_utt)

    def set_cmn(self, cmn: str) -> None:
        self._send("set_cmn", cmn)

    def activate_search(self, name: str) -> None:
        self._send("activate_search", name)

    def reinit_feat(self) -> None:
        self._send("reinit_feat")

    def get_cmn(self, update: bool = False) -> str:
        return str(self._ask("get_cmn", update))

    def current_search(self) -> str:
        return str(self._ask("current_search"))

    def hyp(self) -> Hyp | None:
        value = self._ask("hyp")
        return None if value is None else Hyp(*value)

    def seg(self) -> list[Seg]:
        return [Seg(*s) for s in self._ask("seg")]


@dataclass(frozen=True)
class AppProcess:
    """The child :func:`split` forked."""

    pid: int
    conn: Connection

    def close(self, timeout: float = 5.0) -> bool:
        """End it (as the worker's exit does) and reap it; False if it outlived ``timeout``."""
        self.conn.close()
        deadline = time.monotonic() + timeout
        while os.waitpid(self.pid, os.WNOHANG)[0] != self.pid:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def split(decoders: Sequence[object], close: Sequence[Connection] = ()) -> AppProcess | None:
    """Move the app decoders of the pairs among ``decoders`` to a child process (forked now);
    returns it, or None when there is no pair, only one core to run on, or no fork to be had
    (the pair then decodes here, as before). The child closes its copies of ``close`` (the
    worker's own pipe: its parent must see it close when the worker dies)."""
    pairs = [d for d in decoders if isinstance(d, DecoderPair)]
    if not pairs or len(os.sched_getaffinity(0)) < 2:
        return None
    ours, theirs = Pipe(duplex=True)
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory: slower, not broken
        ours.close()
        theirs.close()
        return None
    if pid == 0:  # the child: serves the app decoders until the worker's end closes
        code = 0
        try:
            for conn in (ours, *close):
                conn.close()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _serve(theirs, {i: p.app for i, p in enumerate(pairs)})
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    for i, pair in enumerate(pairs):
        pair.app = RemoteDecoder(ours, i, pair.app)
    return AppProcess(pid, ours)


def _serve(conn: Connection, decoders: dict[int, Decoder]) -> None:
    failed = ""  # the first request that raised: every later query reports it
    while True:
        try:
            op, key, *args = conn.recv()
        except (EOFError, OSError):
            return
        value: Any = None
        if not failed:
            try:
                value = _plain(op, getattr(decoders[key], op)(*args))
            except Exception as e:  # the decoder's state is unknown from here
                failed = f"{op}: {e!r}"
        if op in _QUERIES:
            try:
                conn.send(("error", failed) if failed else ("ok", value))
            except OSError:
                return


def _plain(op: str, value: Any) -> Any:
    """A query's answer as plain data (pocketsphinx's objects do not pickle)."""
    if op == "hyp":
        return None if value is None else (value.hypstr, value.best_score, value.prob)
    if op == "seg":
        return [(s.word, s.start_frame, s.end_frame, s.prob) for s in value]
    return value
