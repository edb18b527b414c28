"""Provider faults: logged, counted, and turned into a short apology instead of a dead session."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger("causerie.faults")

APOLOGIES = {
    "en": "Sorry, I ran into a problem. Could you say that again?",
    "fr": "Désolé, j'ai rencontré un problème. Pouvez-vous répéter ?",
}
TIMEOUT_APOLOGIES = {
    "en": "Sorry, that took too long. Could you ask again?",
    "fr": "Désolé, c'était trop long. Pouvez-vous redemander ?",
}


def apology(language: str, *, timeout: bool = False) -> str:
    table = TIMEOUT_APOLOGIES if timeout else APOLOGIES
    return table.get(language.split("-")[0], table["en"])


@dataclass
class Faults:
    """Fault counters; observers (metrics, events to the client) subscribe. A session's
    Faults may have the process's as ``parent``: a fault counts and notifies in both."""

    counts: Counter[str] = field(default_factory=Counter)
    observers: list[Callable[[str, BaseException], None]] = field(default_factory=list)
    parent: Faults | None = None

    def record(self, component: str, error: BaseException) -> None:
        logger.error("%s failed: %s: %s", component, type(error).__name__, error)
        faults: Faults | None = self
        while faults is not None:
            faults._notify(component, error)
            faults = faults.parent

    def _notify(self, component: str, error: BaseException) -> None:
        self.counts[component] += 1
        for obs in list(self.observers):
            try:
                obs(component, error)
            except Exception:  # an observer must never break the voice path
                logger.exception("fault observer failed")


class _Emitter(Protocol):
    def emit(self, type: str, **payload: Any) -> Any: ...


def session_faults(process: Faults | None, events: _Emitter) -> Faults:
    """One session's faults: its client gets an error event; the process's counters and
    observers (metrics, /healthz) count it too."""

    def tell_client(component: str, error: BaseException) -> None:
        events.emit(
            "error",
            code=f"{component}_failed",
            message=f"{type(error).__name__}: {error}",
            fatal=False,
        )

    return Faults(observers=[tell_client], parent=process)
