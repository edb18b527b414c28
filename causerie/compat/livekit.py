"""livekit-agents internals Causerie relies on (1.8.x); each has a test in
tests/unit/test_compat.py."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from . import warn_broken

DIST = "livekit-agents"
KEEP_EVENTS = 256


def speech_input_modality() -> Literal["audio", "text"] | None:
    """'audio' or 'text' for the reply being generated (called from ``llm_node``); None when
    there is none, or livekit hides it.

    livekit has no public way to ask, from a node, what started the reply: the speech
    handle of the running generation sits in a private context variable.
    """
    try:
        from livekit.agents.voice.agent_activity import _SpeechHandleContextVar
    except ImportError:
        warn_broken("speech_input_modality", DIST, "no agent_activity._SpeechHandleContextVar")
        return None
    handle = _SpeechHandleContextVar.get(None)
    if handle is None:
        return None
    modality = getattr(getattr(handle, "input_details", None), "modality", None)
    if modality not in ("audio", "text"):
        warn_broken("speech_input_modality", DIST, "SpeechHandle.input_details.modality gone")
        return None
    return modality


def recorded_events(session: Any) -> list[Any]:
    """The events ``AgentSession`` has recorded and not yet trimmed (a copy; tests)."""
    events = getattr(session, "_recorded_events", None)
    if not isinstance(events, list):
        warn_broken("recorded_events", DIST, "AgentSession._recorded_events is not a list")
        return []
    return list(events)


def trim_recorded_events(session: Any, keep: int = KEEP_EVENTS) -> int:
    """Drop all but the last ``keep`` events ``AgentSession`` recorded (once there are twice
    as many); returns how many were dropped.

    livekit keeps every event it emits (``_recorded_events``, for the session report it
    uploads to its cloud) and never trims the list: a long conversation grows by ~35 events
    a turn (bench/soak.py saw +35 MB a minute over 12 sessions). Causerie never reads that
    report. There is no public switch to turn the recording off.
    """
    events = getattr(session, "_recorded_events", None)
    if not isinstance(events, list):
        warn_broken("trim_recorded_events", DIST, "AgentSession._recorded_events is not a list")
        return 0
    if len(events) <= 2 * keep:
        return 0
    dropped = len(events) - keep
    del events[:dropped]
    return dropped


def mark_tts_started(stream: Any) -> None:
    """Tell a ``tts.SynthesizeStream`` that text went to the engine: livekit measures the
    TTS time to first byte from here. A protected hook every livekit plugin calls, but not
    a documented one."""
    mark = getattr(stream, "_mark_started", None)
    if mark is None:
        warn_broken("mark_tts_started", DIST, "SynthesizeStream._mark_started is gone")
        return
    mark()


_GAVE_UP = re.compile(r"failed to connect to livekit after (\d+) attempts")


def connect_attempts(error: BaseException) -> int | None:
    """How many connection attempts ``AgentServer`` made before giving up, from its error;
    None for any other error. It raises a bare ``RuntimeError`` (its cause dropped) whose
    text is the only record of why."""
    found = _GAVE_UP.search(str(error))
    if not isinstance(error, RuntimeError) or found is None:
        return None
    return int(found.group(1))


def vectorised_speaking_rate(sync: Any) -> bool:
    """Give a ``TranscriptSynchronizer`` a speaking-rate estimator that computes livekit's
    estimate (spectral flux over 25 ms frames of a 1 s window, every 0.1 s of the reply's
    audio) in one FFT call instead of a Python loop over 79 frames: ~0.9 -> ~0.2 ms a step,
    which ran on the event loop (13 % of the server process's samples at 16 sessions). The
    synchronizer makes its detector itself (private ``_opts.speaking_rate_detector``), and
    its first segment's stream at once (``_impl._audio_data.sr_stream``): that stream is
    replaced too, so call this before the synchronizer's first await. Returns True when set."""
    opts = getattr(sync, "_opts", None)
    if opts is None or not hasattr(opts, "speaking_rate_detector"):
        warn_broken(
            "vectorised_speaking_rate", DIST, "TranscriptSynchronizer._opts.speaking_rate_detector"
        )
        return False
    try:
        from ._speaking_rate import VectorisedDetector
    except ImportError:
        warn_broken("vectorised_speaking_rate", DIST, "voice.transcription._speaking_rate")
        return False
    opts.speaking_rate_detector = VectorisedDetector()
    data = getattr(getattr(sync, "_impl", None), "_audio_data", None)
    first = getattr(data, "sr_stream", None)
    if data is None or first is None:
        warn_broken("vectorised_speaking_rate", DIST, "_SegmentSynchronizerImpl._audio_data")
        return True  # later segments are vectorised still
    data.sr_stream = opts.speaking_rate_detector.stream()
    closing = asyncio.ensure_future(first.aclose())  # it has heard nothing yet
    closing.add_done_callback(lambda t: t.cancelled() or t.exception())
    return True
