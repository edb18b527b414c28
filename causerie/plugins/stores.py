"""The stores plugins keep data in across sessions (``PluginSession.stores``).

A plugin that remembers something between sessions (``conversation_memory``) keeps it in the
project's store (:mod:`causerie.store`), by default the one ``metrics.store_url`` names, so
that every worker on a shared store (Redis) sees it. :class:`PluginStores` opens one
:class:`~causerie.store.BufferedStore` per URL on first use, hands the same one to every
session of its owner, and closes them together. The owner is whoever built it and passes it
explicitly: a worker process (one for all its sessions), or a :class:`PluginHost` of its own
(one per session, closed when the session ends). There is no global instance.

No I/O happens until a plugin uses a store; writes go through the buffer, so a sync hook can
call ``remember_nowait`` without waiting on the backend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from ..store import DEFAULT_STORE_URL, BufferedStore, open_store

logger = logging.getLogger("causerie.plugins")


class PluginStores:
    def __init__(
        self,
        default_url: str = DEFAULT_STORE_URL,
        *,
        transcripts: bool = True,
        shared: Mapping[str, BufferedStore] | None = None,
    ) -> None:
        """``default_url``: the agent's ``metrics.store_url``. ``transcripts``: the agent's
        ``metrics.transcripts``: the default store gets it as the metrics store does (it
        wins over the URL's ``?transcripts=``); another URL keeps texts only if both allow
        it. ``shared``: stores the caller already has open, by URL (a server's metrics
        store): used as they are, flushed but never closed here."""
        self.default_url = default_url
        self.transcripts = transcripts
        self._shared = dict(shared or {})
        self._own: dict[str, BufferedStore] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"PluginStores({self.default_url!r})"

    def get(self, url: str | None = None) -> BufferedStore:
        """The store ``url`` names (default: :attr:`default_url`), opened on first use."""
        url = url or self.default_url
        if url in self._shared:
            return self._shared[url]
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        store = self._own.get(url)
        if store is None:
            if url == self.default_url:  # the same store, the same switch as the metrics'
                keep_text: bool | None = self.transcripts
            else:  # False wins over the URL's own transcripts=...; None lets the URL decide
                keep_text = None if self.transcripts else False
            backend = open_store(url, transcripts=keep_text)
            store = self._own[url] = BufferedStore(backend)
        return store

    @property
    def opened(self) -> list[BufferedStore]:
        return [*self._shared.values(), *self._own.values()]

    # A bounded wait is the point of these two (session end, shutdown).
    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every store used so far has written what it buffered."""
        results = await asyncio.gather(*(s.flush(timeout) for s in self.opened))
        return all(results)

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Flush the shared stores and close the ones opened here (each flushes for up to
        ``timeout`` seconds, then drops what is left; see ``BufferedStore.aclose``)."""
        self._closed = True
        own, self._own = list(self._own.values()), {}
        shared = [s.flush(timeout) for s in self._shared.values()]
        results = await asyncio.gather(
            *(s.aclose(timeout) for s in own), *shared, return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                logger.warning("closing a plugin store failed: %s: %s", type(r).__name__, r)
