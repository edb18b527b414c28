"""One test per shim of causerie/compat/: each checks, on the installed library, the very
thing the shim relies on, and fails with a message naming the shim and the version."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from causerie.compat import CompatWarning, library_version, shim_broken
from causerie.compat import aiortc as compat_aiortc
from causerie.compat import livekit as compat_livekit
from causerie.compat import prometheus as compat_prometheus


def require(ok: object, shim: str, dist: str, what: str) -> None:
    if not ok:
        pytest.fail(shim_broken(shim, dist, what), pytrace=False)


# -- livekit-agents ----------------------------------------------------------------------


async def test_speech_input_modality_reads_the_running_speech_handle() -> None:
    from livekit.agents.voice import agent_activity
    from livekit.agents.voice.speech_handle import InputDetails, SpeechHandle

    var = getattr(agent_activity, "_SpeechHandleContextVar", None)
    require(var, "speech_input_modality", "livekit-agents", "no _SpeechHandleContextVar")
    assert var is not None
    assert compat_livekit.speech_input_modality() is None  # no reply running
    for modality in ("text", "audio"):
        handle = SpeechHandle.create(input_details=InputDetails(modality=modality))
        token = var.set(handle)
        try:
            found = compat_livekit.speech_input_modality()
        finally:
            var.reset(token)
        require(
            found == modality,
            "speech_input_modality",
            "livekit-agents",
            f"a {modality} reply read as {found!r}",
        )


def test_speech_input_modality_is_set_where_livekit_runs_the_reply() -> None:
    from livekit.agents.voice import agent_activity

    source = inspect.getsource(agent_activity)
    require(
        "_SpeechHandleContextVar.set(" in source,
        "speech_input_modality",
        "livekit-agents",
        "agent_activity no longer sets _SpeechHandleContextVar while a reply runs",
    )


async def test_trim_recorded_events_trims_what_the_session_records() -> None:
    from livekit.agents.voice import AgentSession
    from livekit.agents.voice.events import AgentStateChangedEvent

    session: AgentSession = AgentSession()
    for _ in range(600):
        session.emit(
            "agent_state_changed",
            AgentStateChangedEvent(old_state="listening", new_state="thinking"),
        )
    events = getattr(session, "_recorded_events", None)
    require(
        isinstance(events, list) and len(events) == 600,
        "trim_recorded_events",
        "livekit-agents",
        "AgentSession.emit no longer appends to _recorded_events",
    )
    assert len(compat_livekit.recorded_events(session)) == 600
    assert compat_livekit.trim_recorded_events(session, keep=100) == 500
    assert len(session._recorded_events) == 100
    assert compat_livekit.recorded_events(session) == session._recorded_events
    assert compat_livekit.trim_recorded_events(session, keep=100) == 0  # under twice: kept


def test_trim_recorded_events_warns_when_the_list_is_gone() -> None:
    with pytest.warns(CompatWarning, match="trim_recorded_events.*livekit-agents"):
        assert compat_livekit.trim_recorded_events(object()) == 0


async def test_mark_tts_started_starts_livekit_ttfb_clock() -> None:
    from livekit.agents import tts

    require(
        callable(getattr(tts.SynthesizeStream, "_mark_started", None)),
        "mark_tts_started",
        "livekit-agents",
        "no SynthesizeStream._mark_started",
    )

    class Stream:  # the two attributes _mark_started works on, without a TTS engine
        _started_time = 0.0
        _mark_started = tts.SynthesizeStream._mark_started

    stream = Stream()
    compat_livekit.mark_tts_started(stream)
    require(
        stream._started_time > 0,
        "mark_tts_started",
        "livekit-agents",
        "_mark_started no longer sets _started_time (the ttfb start)",
    )


def test_connect_attempts_parses_the_error_agent_server_raises() -> None:
    from livekit.agents import worker

    source = inspect.getsource(worker.AgentServer._connection_task)
    require(
        'f"failed to connect to livekit after {retry_count} attempts"' in source,
        "connect_attempts",
        "livekit-agents",
        "AgentServer's give-up error text changed",
    )
    assert (
        compat_livekit.connect_attempts(
            RuntimeError("failed to connect to livekit after 3 attempts")
        )
        == 3
    )
    assert compat_livekit.connect_attempts(RuntimeError("something else")) is None
    assert (
        compat_livekit.connect_attempts(ValueError("failed to connect to livekit after 3 attempts"))
        is None
    )


def test_vectorised_speaking_rate_computes_livekit_estimate() -> None:
    """The vectorised spectral flux equals livekit's own, on speech-like and silent windows."""
    from functools import partial
    from types import SimpleNamespace

    import numpy as np
    from livekit.agents.voice.transcription._speaking_rate import SpeakingRateStream

    from causerie.compat._speaking_rate import spectral_flux

    own = SimpleNamespace(_stft=partial(SpeakingRateStream._stft, None))  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    for rate, seconds in ((24000, 1.0), (16000, 1.0), (24000, 0.6), (48000, 0.1)):
        t = np.arange(int(rate * seconds)) / rate
        audio = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(
            np.float32
        ) + rng.normal(0, 0.01, len(t)).astype(np.float32)
        expected = SpeakingRateStream._spectral_flux(own, audio, rate)  # type: ignore[arg-type]
        assert spectral_flux(audio, rate) == pytest.approx(expected, rel=1e-9)
    assert spectral_flux(np.zeros(100, np.float32), 24000) == 0.0


async def test_vectorised_speaking_rate_reaches_the_synchronizer() -> None:
    from livekit.agents.voice.transcription import TranscriptSynchronizer

    from causerie.compat._speaking_rate import VectorisedDetector, VectorisedStream
    from causerie.transports.audio_io import PacedAudioOutput

    out = PacedAudioOutput(lambda frame: None, sample_rate=24000)
    sync = TranscriptSynchronizer(next_in_chain_audio=out, next_in_chain_text=None)
    require(
        compat_livekit.vectorised_speaking_rate(sync),
        "vectorised_speaking_rate",
        "livekit-agents",
        "TranscriptSynchronizer._opts.speaking_rate_detector is gone",
    )
    assert isinstance(sync._opts.speaking_rate_detector, VectorisedDetector)
    # The first reply's stream too: the synchronizer made it in its constructor.
    assert isinstance(sync._impl._audio_data.sr_stream, VectorisedStream)
    await sync.aclose()
    with pytest.warns(CompatWarning, match="vectorised_speaking_rate"):
        assert not compat_livekit.vectorised_speaking_rate(object())


def test_paced_output_counts_segments_with_livekit_public_api() -> None:
    """Not a shim: PacedAudioOutput counts finished segments itself against livekit's
    public ``captured_playout_segments``."""
    from livekit.agents.voice import io

    require(
        isinstance(getattr(io.AudioOutput, "captured_playout_segments", None), property),
        "PacedAudioOutput",
        "livekit-agents",
        "AudioOutput.captured_playout_segments is gone",
    )


# -- aiortc / aioice ----------------------------------------------------------------------


def test_allow_loopback_candidates_is_idempotent_and_offers_loopback() -> None:
    """In a fresh interpreter: the patch is not there before, applies once, then is a no-op,
    and aioice's host addresses then include 127.0.0.1."""
    code = textwrap.dedent(
        """
        import aioice.ice as ice
        from causerie.compat.aiortc import allow_loopback_candidates, loopback_allowed
        assert not loopback_allowed()
        assert allow_loopback_candidates() is True
        patched = ice.get_host_addresses
        assert allow_loopback_candidates() is False and ice.get_host_addresses is patched
        assert loopback_allowed()
        assert "127.0.0.1" in ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
        assert "127.0.0.1" not in ice.get_host_addresses(use_ipv4=False, use_ipv6=True)
        print("ok")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    require(
        run.returncode == 0 and run.stdout.strip() == "ok",
        "allow_loopback_candidates",
        "aioice",
        f"the patch did not take: {run.stderr.strip()[-400:]}",
    )


def test_loopback_patch_applies_at_server_startup() -> None:
    """The one call site: the server app's startup."""
    from causerie.server import app

    assert "allow_loopback_candidates()" in inspect.getsource(app.create_app)


async def test_replace_jitter_buffer_reaches_aiortc_receiver() -> None:
    from aiortc import RTCPeerConnection
    from aiortc.jitterbuffer import JitterBuffer

    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        original = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
        require(
            isinstance(original, JitterBuffer),
            "replace_jitter_buffer",
            "aiortc",
            "RTCRtpReceiver has no _RTCRtpReceiver__jitter_buffer",
        )
        source = inspect.getsource(type(receiver))
        require(
            "self.__jitter_buffer.add(packet)" in source,
            "replace_jitter_buffer",
            "aiortc",
            "the receiver no longer feeds packets to __jitter_buffer.add",
        )
        mine = JitterBuffer(capacity=16)
        assert compat_aiortc.replace_jitter_buffer(receiver, mine)
        assert receiver._RTCRtpReceiver__jitter_buffer is mine  # type: ignore[attr-defined]
    finally:
        await pc.close()


def test_replace_jitter_buffer_warns_and_leaves_other_objects() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert not compat_aiortc.replace_jitter_buffer(object(), None)
    assert any(issubclass(w.category, CompatWarning) and "aiortc" in str(w.message) for w in seen)


# -- prometheus_client --------------------------------------------------------------------

_MULTIPROCESS = """
import os, sys
from prometheus_client import CollectorRegistry, Gauge
from causerie.compat.prometheus import live_gauge_pids, multiprocess_enabled
assert multiprocess_enabled(), "values.ValueClass did not switch to files"
g = Gauge("x", "x", registry=CollectorRegistry(), multiprocess_mode="livesum")
g.set(1)
pids = live_gauge_pids(os.environ["PROMETHEUS_MULTIPROC_DIR"])
assert pids == {os.getpid()}, (pids, os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
print("ok")
"""


def test_multiprocess_shims_read_prometheus_client(tmp_path: object) -> None:
    assert not compat_prometheus.multiprocess_enabled()  # this process set no folder
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS], env=env, capture_output=True, text=True, timeout=120
    )
    require(
        run.returncode == 0 and run.stdout.strip() == "ok",
        "multiprocess_enabled / live_gauge_pids",
        "prometheus_client",
        f"multiprocess mode changed: {run.stderr.strip()[-400:]}",
    )


def test_shim_messages_name_the_library_version() -> None:
    message = shim_broken("x", "aiortc", "y")
    assert library_version("aiortc") in message and "'x'" in message
    assert library_version("no-such-distribution-here") == "not installed"
