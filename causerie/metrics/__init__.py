"""Per-turn and per-session records and in-process observers. Imports nothing heavy."""

from .observers import Observer, Observers
from .records import (
    OUTCOMES,
    RECORD_VERSION,
    TURN_METRICS,
    ErrorRecord,
    Outcome,
    Percentiles,
    Record,
    SessionEnd,
    SessionRecord,
    ToolCall,
    TranscriptEntry,
    Transport,
    TurnRecord,
    percentiles,
    turn_percentiles,
)

__all__ = [
    "OUTCOMES",
    "RECORD_VERSION",
    "TURN_METRICS",
    "ErrorRecord",
    "Observer",
    "Observers",
    "Outcome",
    "Percentiles",
    "Record",
    "SessionEnd",
    "SessionRecord",
    "ToolCall",
    "TranscriptEntry",
    "Transport",
    "TurnRecord",
    "percentiles",
    "turn_percentiles",
]
