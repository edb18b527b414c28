"""Worker processes for pocketsphinx, each holding one loaded decoder; the parent's side.

Why processes: the binding holds the GIL inside its C calls, so decoding (or loading, ~0.3 s)
in a thread of the server stalls the asyncio loop that paces every conversation's audio.

* :class:`Worker` is the parent's end of one process (:mod:`.pocketsphinx_worker`). On
  Linux it is forked by the pool's fork server (:mod:`.pocketsphinx_forkserver`), which
  loaded the decoder once: the children share the model copy-on-write (a few MB each, a
  fork to start). Elsewhere each worker is started with ``spawn`` and loads its own model
  (the parent has threads and an event loop: it never forks itself).
  Requests and replies go over a ``multiprocessing`` pipe, one request in flight at a time.
  A reply is read by ``loop.add_reader`` on the pipe: the loop never blocks on a worker.
* :class:`DecoderPool` keeps warm (idle, loaded) workers for one decoder configuration, up
  to ``max_idle``, and starts more on demand: a session's worker exists while it is used.
  A worker goes back to the pool only after a clean ``reset`` round trip; a worker that
  failed, timed out or was cancelled mid-request is killed. Every process that ends is
  reaped (``join`` + ``close``) by a helper thread, so no zombie and no file descriptor is
  left, and its memory goes back to the system.
* A worker exits on its own when the parent's end of the pipe closes (the parent closed it
  or died): it blocks in ``recv()`` between requests, so an idle worker costs no CPU.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import multiprocessing
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ...errors import ProviderError
from . import pocketsphinx_forkserver, pocketsphinx_worker
from .pocketsphinx_forkserver import ForkedChild, ForkServer, ForkServerDied, ForkServerLoadError

logger = logging.getLogger(__name__)

_CTX = multiprocessing.get_context("spawn")
_POOL_MAX_IDLE = 2
_LOAD_TIMEOUT = 60.0  # a decoder loads in ~0.3 s; minutes only on a machine in trouble
_RESET_TIMEOUT = 5.0  # a worker that cannot end its stream in this long is killed
_EXIT_TIMEOUT = 2.0  # after its pipe closes, a worker that has not exited is killed

# Ended workers are joined here: a blocking join (in a thread) that never touches the loop.
_REAPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx-reap")
# A session's prewarm, from the event loop: the fork server's first load runs here.
_STARTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx-start")


class WorkerDied(Exception):
    """The worker process ended, or failed, before it answered."""


class DecoderLoadError(ProviderError):
    """The worker could not load a decoder with this configuration."""


def _reap(process: BaseProcess | ForkedChild, kill: bool) -> None:
    """Make sure ``process`` has ended and is reaped; release its handles. Blocking."""
    try:
        if kill:
            process.kill()
        process.join(_EXIT_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
        process.close()
    except ValueError:  # closed already
        pass


class Worker:
    """The parent's end of one worker process. Owned by one party at a time: the pool (idle),
    or the stream (or ``recognize`` call) that acquired it."""

    def __init__(self, process: BaseProcess | ForkedChild, conn: Connection) -> None:
        self.process = process
        self.pid: int = process.pid or 0
        self.conn: Connection = conn
        self.ready = False  # the decoder has loaded ("ready" received)
        self.broken = False  # never to be used again
        # The message being waited for, read by a reader on this loop: at most one at a time.
        self._pending: asyncio.Future[tuple[Any, ...]] | None = None
        self._reader: tuple[asyncio.AbstractEventLoop, int] | None = None
        self._reaped: Future[None] | None = None

    @classmethod
    def spawn(cls, config: Mapping[str, Any]) -> Worker:
        """A process of its own, which loads its own decoder (without a fork server)."""
        parent, child = _CTX.Pipe(duplex=True)
        process = _CTX.Process(
            target=pocketsphinx_worker.main,
            args=(child, dict(config)),
            name="pocketsphinx-worker",
            daemon=True,  # terminated by multiprocessing at exit, if still there
        )
        try:
            process.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()  # the child has its copy: ours must go, or EOF never reaches it
        return cls(process, parent)

    def __repr__(self) -> str:
        return f"<pocketsphinx worker pid={self.pid}>"

    @property
    def alive(self) -> bool:
        return not self.broken and self._reaped is None and self.process.is_alive()

    @property
    def busy(self) -> bool:
        """A message is still awaited (its requester may have been cancelled)."""
        return self._pending is not None and not self._pending.done()

    # -- blocking (a thread, or process start-up) --------------------------------------------

    def wait_ready(self, timeout: float = _LOAD_TIMEOUT) -> None:
        """Block until the decoder has loaded. Only for a worker nobody awaits on a loop."""
        if self.ready:
            return
        try:
            if not self.conn.poll(timeout):
                raise WorkerDied(f"{self!r} did not load its decoder in {timeout:.0f} s")
            msg = self.conn.recv()
        except (EOFError, OSError) as e:
            self.broken = True
            raise WorkerDied(f"{self!r} ended while loading ({self._exit()})") from e
        self._check_ready(msg)

    # -- on the event loop -------------------------------------------------------------------

    async def ensure_ready(self) -> None:
        """Wait (without blocking the loop) until the decoder has loaded."""
        if not self.ready:
            msg = await self._next_message(ready=True)
            if not self.ready:
                self._check_ready(msg)

    async def request(self, msg: tuple[Any, ...]) -> tuple[Any, ...]:
        """Send ``msg`` and return the reply. Cancelling the caller leaves the reply pending:
        the next request (the ``reset`` of :meth:`DecoderPool.give_back`) reads it first."""
        await self.ensure_ready()
        if self.busy:
            await self._next_message()  # a cancelled request's reply: discarded
        try:
            self.conn.send(msg)
        except (OSError, ValueError) as e:
            self.broken = True
            raise WorkerDied(f"{self!r} is gone ({self._exit()})") from e
        reply = await self._next_message()
        if reply[0] == "error":
            self.broken = True
            raise WorkerDied(f"{self!r} failed: {reply[1]}")
        return reply

    async def _next_message(self, ready: bool = False) -> tuple[Any, ...]:
        """The next reply (or, with ``ready``, the load report), read when the pipe is
        readable. Shielded: a cancelled caller must not lose the message, or the next
        reply would be taken for this one; the next caller collects it instead."""
        if self.busy:
            assert self._pending is not None
            return await asyncio.shield(self._pending)
        if self._reaped is not None:
            raise WorkerDied(f"{self!r} was stopped")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        fd = self.conn.fileno()

        def readable() -> None:
            try:
                while True:
                    msg = self.conn.recv()  # a whole message is there: they are small
                    if msg[0] == "ready" and not self.ready:
                        self.ready = True
                        if not ready:  # the reply follows
                            if self.conn.poll():
                                continue
                            return
                    break
            except (EOFError, OSError) as e:
                self.broken = True
                died = WorkerDied(f"{self!r} ended ({self._exit()})")
                died.__cause__ = e
                self._settle(died)
            else:
                self._settle(msg)

        self._pending = fut
        loop.add_reader(fd, readable)
        self._reader = (loop, fd)
        return await asyncio.shield(fut)

    def _settle(self, outcome: tuple[Any, ...] | BaseException) -> None:
        if self._reader is not None:
            loop, fd = self._reader
            self._reader = None
            loop.remove_reader(fd)
        fut = self._pending
        if fut is None or fut.done():
            return
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
            fut.exception()  # retrieved: nobody may be left to await it
        else:
            fut.set_result(outcome)

    def _check_ready(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "ready":
            self.ready = True
            return
        self.broken = True
        if msg[0] == "error":
            raise DecoderLoadError(str(msg[1]))
        raise WorkerDied(f"{self!r}: unexpected message {msg[0]!r} while loading")

    def _exit(self) -> str:
        code = self.process.exitcode if self._reaped is None else None
        if code is None and isinstance(self.process, ForkedChild) and self._reaped is None:
            return "running" if self.process.is_alive() else "exited"
        return "exit status not known yet" if code is None else f"exit code {code}"

    # -- ending ------------------------------------------------------------------------------

    def stop(self, kill: bool = False) -> Future[None]:
        """End the process: closing our end of the pipe ends an idle worker (EOF); ``kill``
        for one that may be busy or stuck. It is reaped in the background. Idempotent; call
        it on the loop that waits on the worker, if any."""
        if self._reaped is None:
            self.broken = True
            if self.busy:
                kill = True  # mid-request: do not wait for it to notice
                self._settle(WorkerDied(f"{self!r} was stopped"))
            self.conn.close()  # after the loop forgot the descriptor (_settle)
            try:
                self._reaped = _REAPER.submit(_reap, self.process, kill)
            except RuntimeError:  # interpreter shutdown: the reaper is gone, reap here
                self._reaped = Future()
                _reap(self.process, kill)
                self._reaped.set_result(None)
        return self._reaped


class DecoderPool:
    """Warm worker processes (one loaded decoder each) for one configuration. Thread-safe.

    Compatible with the server's ``keep_stt_ready`` (``max_idle``, ``acquire``, ``release``);
    :meth:`warm` loads the model and starts workers (blocking). With a fork server, idle
    workers are few (``max_idle``): another one is a fork away, so a session slot that no
    conversation uses costs nothing.
    """

    def __init__(
        self, config: Mapping[str, Any], max_idle: int = _POOL_MAX_IDLE, fork: bool | None = None
    ) -> None:
        self.config = dict(config)
        self.max_idle = max_idle
        fork = pocketsphinx_forkserver.SUPPORTED if fork is None else fork
        self._server = ForkServer(config, _LOAD_TIMEOUT) if fork else None
        self._spawned = 0
        self._lock = threading.Lock()
        self._idle: list[Worker] = []
        self._users = 0
        self._stopping: set[Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # give_back, shielded from cancellation

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    @property
    def pids(self) -> list[int]:
        """The idle workers' process ids."""
        with self._lock:
            return [w.pid for w in self._idle]

    @property
    def loads(self) -> int:
        """Decoders loaded (fork servers, or spawned workers): for tests and logs."""
        return self._server.loads if self._server is not None else self._spawned

    @property
    def forks(self) -> bool:
        """New workers are forked from a loaded model (cheap, pages shared), not spawned."""
        return self._server is not None

    @property
    def server_pid(self) -> int | None:
        """The fork server's process id (``None`` when there is none, or not yet)."""
        return self._server.pid if self._server is not None else None

    def _start(self) -> Worker:
        """A new worker. Blocking with a fork server (a fork round trip, or the model's load
        the first time): call it from a thread."""
        if self._server is None:
            worker = Worker.spawn(self.config)
            with self._lock:
                self._spawned += 1
            return worker
        try:
            child, conn = self._server.fork()
        except ForkServerLoadError as e:
            raise DecoderLoadError(str(e)) from e
        except ForkServerDied as e:
            raise WorkerDied(str(e)) from e
        return Worker(child, conn)

    async def _start_async(self) -> Worker:
        """:meth:`_start` in a thread. A cancelled caller's worker is pooled when it comes."""
        fut = asyncio.get_running_loop().run_in_executor(None, self._start)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            fut.add_done_callback(self._started_unwanted)
            raise

    def _started_unwanted(self, fut: asyncio.Future[Worker]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.release(fut.result())

    # -- warming -----------------------------------------------------------------------------

    def warm(self, workers: int = 1, wait: bool = True) -> None:
        """Ready for ``workers`` sessions. Without a fork server: that many idle workers,
        kept (``max_idle``). With one: its model loaded, and up to ``max_idle`` idle workers
        (the others are a fork away). ``wait`` blocks until all have loaded (raises on a load
        error); without it, a fork server loads in a thread."""
        if self._server is not None:
            if not wait:
                if self.idle == 0:
                    _STARTER.submit(self._warm_quietly, 1)
                return
            try:
                self._server.load()
            except ForkServerLoadError as e:
                raise DecoderLoadError(str(e)) from e
            except ForkServerDied as e:
                raise WorkerDied(str(e)) from e
            workers = min(workers, self.max_idle)
        with self._lock:
            self.max_idle = max(self.max_idle, workers)
            loading = [w for w in self._idle if not w.ready] if wait else []
            for w in loading:
                self._idle.remove(w)
            missing = max(0, workers - len(self._idle) - len(loading))
        new = [self._start() for _ in range(missing)]
        if not wait:
            with self._lock:
                self._idle.extend(new)
            return
        ready: list[Worker] = []
        error: BaseException | None = None
        for w in [*loading, *new]:
            try:
                w.wait_ready(_LOAD_TIMEOUT)
                ready.append(w)
            except Exception as e:  # the others are still good
                self._forget(w.stop(kill=True))
                error = error or e
        with self._lock:
            self._idle.extend(ready)
        if error is not None:
            raise error

    def _warm_quietly(self, workers: int) -> None:
        try:
            self.warm(workers, wait=True)
        except Exception as e:  # a session's acquire will meet it again, and report it
            logger.debug("pocketsphinx prewarm failed: %s", e)

    def prewarm(self, wait: bool = False) -> None:
        """One worker ahead, unless one is idle. Non-blocking unless ``wait``."""
        self.warm(1, wait=wait)

    # -- lending -----------------------------------------------------------------------------

    async def acquire(self) -> Worker:
        """A worker with its decoder loaded: an idle one, or a new one (~0.3 s to load, in its
        own process: the loop keeps running)."""
        for _attempt in range(3):
            try:
                worker = self._pop_idle() or await self._start_async()
            except WorkerDied as e:  # the fork server died: the next try starts another
                logger.warning("pocketsphinx fork server lost: %s", e)
                continue
            try:
                await worker.ensure_ready()
                return worker
            except WorkerDied as e:  # died before it was used: try another
                logger.warning("pocketsphinx worker lost before use: %s", e)
                self.discard(worker)
            except asyncio.CancelledError:
                # The load goes on in its process: pool the worker once it reports.
                if worker.busy:
                    assert worker._pending is not None
                    worker._pending.add_done_callback(functools.partial(self._loaded, worker))
                else:
                    self._loaded(worker)
                raise
            except BaseException:
                self.discard(worker)
                raise
        raise WorkerDied("pocketsphinx workers keep dying while loading")

    def _loaded(self, worker: Worker, _: object = None) -> None:
        if worker.ready and not worker.broken:
            self.release(worker)
        else:
            self.discard(worker)

    def _pop_idle(self) -> Worker | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                worker = self._idle.pop()
            if worker.alive:
                return worker
            logger.warning("idle %r had ended (%s): discarded", worker, worker._exit())
            self._forget(worker.stop(kill=True))

    def release(self, worker: Worker) -> None:
        """Take back a worker that is idle (not inside a stream): pooled, or ended."""
        with self._lock:
            if len(self._idle) < self.max_idle and worker.alive and not worker.busy:
                self._idle.append(worker)
                return
        self._forget(worker.stop())

    def retire(self, worker: Worker) -> None:
        """End a sound worker that is not pooled again: what its decodes wrote (its own
        pages, no longer shared with the fork server) goes back to the system."""
        self._forget(worker.stop())

    def discard(self, worker: Worker) -> None:
        """Kill a worker in an unknown state (it failed, or a stream lost track of it)."""
        self._forget(worker.stop(kill=True))

    async def give_back(self, worker: Worker) -> None:
        """End the worker's stream and pool it; kill it if it does not answer. Runs as an owned
        task, so a cancelled stream still hands the worker back (or kills it)."""
        task = asyncio.create_task(
            self._give_back(worker), name=f"pocketsphinx.give_back[{worker.pid}]"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)

    async def _give_back(self, worker: Worker) -> None:
        try:
            if worker.broken:
                raise WorkerDied(f"{worker!r} is broken")
            await asyncio.wait_for(worker.request(("reset",)), _RESET_TIMEOUT)
        except (WorkerDied, TimeoutError) as e:
            logger.debug("pocketsphinx worker not pooled: %s", e)
            self.discard(worker)
        except BaseException:
            self.discard(worker)
            raise
        else:
            self.release(worker)

    # -- ending ------------------------------------------------------------------------------

    def _forget(self, stopping: Future[None]) -> None:
        with self._lock:
            self._stopping.add(stopping)
        stopping.add_done_callback(self._stopped)

    def _stopped(self, fut: Future[None]) -> None:
        with self._lock:
            self._stopping.discard(fut)

    def attach(self) -> None:
        """An STT uses this pool (see :meth:`detach`)."""
        with self._lock:
            self._users += 1

    async def detach(self) -> None:
        """An STT is closed: when none is left, end the idle workers and wait until they have
        exited. The pool stays usable: it starts workers again when asked."""
        with self._lock:
            self._users = max(0, self._users - 1)
            last = self._users == 0
        if last:
            await self.aclose()

    async def aclose(self) -> None:
        """End every idle worker and wait until all ended workers are reaped."""
        loop = asyncio.get_running_loop()
        giving_back = [t for t in self._tasks if t.get_loop() is loop]
        if giving_back:  # streams handing their workers back
            await asyncio.gather(*giving_back, return_exceptions=True)
        stopping = self.shutdown()
        if stopping:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in stopping))

    def shutdown(self) -> list[Future[None]]:
        """End every idle worker and the fork server (non-blocking); the futures complete
        once they are reaped. Lent workers live on until they are given back."""
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            self._forget(w.stop())
        if self._server is not None:
            try:
                self._forget(_REAPER.submit(self._server.close))
            except RuntimeError:  # interpreter shutdown: the reaper is gone
                self._server.close()
        with self._lock:
            return list(self._stopping)


_POOLS: dict[str, DecoderPool] = {}
_POOLS_LOCK = threading.Lock()
_ALL: weakref.WeakSet[DecoderPool] = weakref.WeakSet()


def get_pool(config: Mapping[str, Any]) -> DecoderPool:
    """The process-wide pool for ``config``, so a new session reuses loaded decoders."""
    key = json.dumps(dict(config), sort_keys=True, default=str)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = DecoderPool(config)
            _ALL.add(pool)
        return pool


@atexit.register
def _shutdown_all() -> None:
    # Idle workers see EOF and exit; multiprocessing's own exit handler (which runs after
    # this one) terminates and joins whatever is left of its daemonic children.
    for pool in list(_ALL):
        pool.shutdown()
