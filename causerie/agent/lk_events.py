"""Moved to :mod:`causerie.compat.livekit` (issue 9 §5); this alias goes once every caller
imports it from there."""

from ..compat.livekit import KEEP_EVENTS, trim_recorded_events

__all__ = ["KEEP_EVENTS", "trim_recorded_events"]
