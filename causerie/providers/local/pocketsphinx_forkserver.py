"""A fork server for pocketsphinx workers: the model is loaded once, children share it.

A loaded decoder is ~90 MB of acoustic model, dictionary and language model, nearly all of
it read-only once loaded. The fork server is one process (started with ``spawn``, as the
workers were) that loads a decoder and then only forks: each child inherits that decoder
copy-on-write (with its spare, a second decoder for the settles' re-decodes: see
:mod:`.pocketsphinx_catchup`) and runs the worker loop of :mod:`.pocketsphinx_worker`. A child
copies only the pages it writes (search state, its Python heap), so a session costs a few
MB instead of a model, and starting one takes a fork (milliseconds) instead of a load.

Protocol on the control pipe (a socket pair): ``("fork",)`` -> ``("forked", pid)`` followed
by the parent's end of the child's pipe (passed as a file descriptor, ``SCM_RIGHTS``). The
fork server ignores SIGCHLD, so the kernel reaps its children as they exit; it exits when
the control pipe closes (the parent closed it, or died). Children exit when their own pipe
closes, like spawned workers. The parent side is :class:`ForkServer`; a child is watched
and killed through a pidfd (:class:`ForkedChild`), which names that process and no other.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Mapping
from multiprocessing import reduction
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from . import pocketsphinx_worker

_CTX = multiprocessing.get_context("spawn")
SUPPORTED = hasattr(os, "fork") and hasattr(os, "pidfd_open")


class ForkServerDied(Exception):
    """The fork server ended, or failed, before it answered."""


class ForkServerLoadError(Exception):
    """The fork server could not load a decoder with this configuration."""


# -- the fork server process -----------------------------------------------------------------


def serve(control: Connection, config: dict[str, Any]) -> None:
    """The fork server's entry point (``multiprocessing`` target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we end
    pocketsphinx_worker.batch_priority()  # inherited by every child
    try:
        decoder, spare = pocketsphinx_worker.load_decoders(config)  # with the app's vocabulary
    except Exception as e:
        _send(control, ("error", f"pocketsphinx decoder failed to load: {e!r}"))
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps exited children
    gc.freeze()  # what is loaded now is never collected: the children's GC won't copy it
    if not _send(control, ("ready", os.getpid())):
        return
    rate = int(config.get("samprate", 16000))
    while True:
        try:
            msg = control.recv()
        except (EOFError, OSError):
            return
        if msg[0] != "fork":
            _send(control, ("error", f"unknown request {msg[0]!r}"))
            return
        ours, theirs = multiprocessing.Pipe(duplex=True)
        pid = os.fork()
        if pid == 0:  # the child: never returns to this loop
            code = 0
            try:
                control.close()
                ours.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                pocketsphinx_worker.serve(theirs, decoder, rate, spare)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        try:
            control.send(("forked", pid))
            reduction.send_handle(control, ours.fileno(), os.getppid())
        except OSError:
            return
        finally:
            ours.close()


def _send(conn: Connection, msg: tuple[Any, ...]) -> bool:
    try:
        conn.send(msg)
        return True
    except OSError:
        return False


# -- the parent's side -----------------------------------------------------------------------


class ForkedChild:
    """A forked worker, as seen by the server (not its parent): a pidfd, so that waiting and
    killing can only ever reach that process. The subset of :class:`BaseProcess` that the
    pool uses."""

    exitcode: int | None = None  # not ours to wait for: the fork server's kernel reaps it

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone
            self._fd = -1

    def is_alive(self) -> bool:
        return self._fd >= 0 and not select.select([self._fd], [], [], 0)[0]

    def kill(self) -> None:
        if self._fd >= 0:
            try:
                signal.pidfd_send_signal(self._fd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def join(self, timeout: float | None = None) -> None:
        if self._fd < 0:
            return
        if not select.select([self._fd], [], [], timeout)[0]:
            return
        # Exited; the kernel releases it right after (SIGCHLD ignored): wait for that, so
        # that a caller that joined sees no trace of it.
        deadline = time.monotonic() + 1.0
        while os.path.exists(f"/proc/{self.pid}") and time.monotonic() < deadline:
            time.sleep(0.001)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ForkServer:
    """The parent's end of the fork server for one decoder configuration. Thread-safe; every
    method blocks (call them from a thread, never on the event loop). Started on first use,
    and again after it ended."""

    def __init__(self, config: Mapping[str, Any], load_timeout: float) -> None:
        self.config = dict(config)
        self.loads = 0  # fork servers started (decoders loaded)
        self._load_timeout = load_timeout
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def fork(self) -> tuple[ForkedChild, Connection]:
        """A new child, with the decoder loaded: its process and the parent's pipe end."""
        with self._lock:
            conn = self._ensure()
            try:
                conn.send(("fork",))
                if not conn.poll(self._load_timeout):
                    raise ForkServerDied("the pocketsphinx fork server did not answer")
                reply = conn.recv()
                if reply[0] != "forked":
                    raise ForkServerDied(f"pocketsphinx fork server: {reply!r}")
                fd = reduction.recv_handle(conn)
            except (EOFError, OSError) as e:
                self._end(kill=True)
                raise ForkServerDied(f"the pocketsphinx fork server ended: {e!r}") from e
            except ForkServerDied:
                self._end(kill=True)
                raise
        return ForkedChild(reply[1]), Connection(fd)

    def load(self) -> None:
        """Start the fork server and wait until its decoder has loaded."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._end(kill=True)
        ours, theirs = _CTX.Pipe(duplex=True)
        process = _CTX.Process(
            target=serve,
            args=(theirs, self.config),
            name="pocketsphinx-forkserver",
            daemon=True,
        )
        try:
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._process, self._conn = process, ours
        self.loads += 1
        try:
            if not ours.poll(self._load_timeout):
                raise ForkServerDied(
                    f"the pocketsphinx fork server did not load in {self._load_timeout:.0f} s"
                )
            msg = ours.recv()
        except (EOFError, OSError) as e:
            self._end(kill=True)
            raise ForkServerDied("the pocketsphinx fork server ended while loading") from e
        except ForkServerDied:
            self._end(kill=True)
            raise
        if msg[0] != "ready":
            self._end(kill=True)
            raise ForkServerLoadError(str(msg[1]))
        return ours

    def close(self) -> None:
        """End the fork server (its children live on until their own pipes close)."""
        with self._lock:
            self._end(kill=False)

    def _end(self, kill: bool) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()  # EOF: the fork server exits
        if process is not None:
            if kill:
                process.kill()
            process.join(2.0)
            if process.exitcode is None:
                process.kill()
                process.join()
            process.close()
