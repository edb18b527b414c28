"""Every use of a library's private internals, in one place, each with a test.

A shim here relies on something a library does not promise to keep: a private attribute,
a name-mangled field, a file layout, the text of an error. ``tests/unit/test_compat.py``
has one test per shim that fails with a message naming the shim and the installed
version, so an upgrade that breaks one says which, instead of a silent change of
behaviour on the voice path. At run time a shim degrades (does nothing, returns ``None``)
and warns (once per call site); it never raises into a session.

=========================================  ===================================================
``livekit.speech_input_modality``          ``_SpeechHandleContextVar``: typed or spoken turn
``livekit.trim_recorded_events``           ``AgentSession._recorded_events`` grows forever
``livekit.recorded_events``                the same list, read (tests count it)
``livekit.mark_tts_started``               ``SynthesizeStream._mark_started`` (TTS ttfb)
``livekit.connect_attempts``               the text of ``AgentServer``'s give-up error
``livekit.vectorised_speaking_rate``       ``TranscriptSynchronizer._opts`` and ``._impl``
``aiortc.allow_loopback_candidates``       process-wide patch of ``aioice.ice``
``aiortc.replace_jitter_buffer``           ``RTCRtpReceiver.__jitter_buffer`` (name-mangled)
``prometheus.multiprocess_enabled``        ``prometheus_client.values.ValueClass``
``prometheus.live_gauge_pids``             the multiprocess files' names
=========================================  ===================================================

The one process-wide patch (``allow_loopback_candidates``) is applied once, at server
startup (``causerie.server.app``), and is idempotent.
"""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError, version


def library_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def shim_broken(shim: str, dist: str, what: str) -> str:
    """The message when ``shim`` no longer finds what it relies on in ``dist``."""
    return (
        f"compat shim {shim!r} no longer works with {dist} {library_version(dist)}: {what}; "
        f"update causerie/compat/ (and its test) for this release"
    )


class CompatWarning(RuntimeWarning):
    """A shim found the library changed: it does nothing instead (see its test)."""


def warn_broken(shim: str, dist: str, what: str) -> None:
    """Say a shim is broken; Python's warning filter shows it once per call site, and a
    session must not die of it."""
    warnings.warn(shim_broken(shim, dist, what), CompatWarning, stacklevel=3)
