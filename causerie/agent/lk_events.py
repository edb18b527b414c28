"""livekit's ``AgentSession`` keeps every event it emits (``_recorded_events``, for the
session report livekit uploads to its cloud) and never trims the list: a long conversation
grows by ~35 events a turn, more when shared providers relay their metrics to every
session (bench/soak.py saw +35 MB a minute over 12 sessions). Causerie never reads that
report, so a live session keeps only the last events. A private attribute: if a livekit
release renames it, this does nothing and tests/unit/test_lk_events.py fails."""

from __future__ import annotations

from typing import Any

KEEP_EVENTS = 256


def trim_recorded_events(session: Any, keep: int = KEEP_EVENTS) -> int:
    """Drop all but the last ``keep`` recorded events (once there are twice as many);
    returns how many were dropped."""
    events = getattr(session, "_recorded_events", None)
    if not isinstance(events, list) or len(events) <= 2 * keep:
        return 0
    dropped = len(events) - keep
    del events[:dropped]
    return dropped
