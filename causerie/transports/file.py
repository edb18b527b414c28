"""Play a WAV into a session as a microphone would, and record the agent's replies.

Used by ``causerie talk`` and the latency benchmark. Voice-to-voice latency is measured from
the audio itself: the wall time at which the last loud sample of a user utterance was pushed,
to the wall time at which the first audible sample of the agent's reply left the output.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit import rtc
from livekit.agents.voice import AgentSession
from livekit.agents.voice.events import ConversationItemAddedEvent

from ..audio.wav import PCM, speech_segments
from ..providers.http import vendor_http
from .audio_io import FRAME_MS, PacedAudioOutput, QueueAudioInput, Segment

if TYPE_CHECKING:
    from ..metrics.collector import SessionCollector
    from ..runtime import Conversation

IN_RATE = 16000


@dataclass
class Turn:
    user_text: str = ""
    agent_text: str = ""
    user_end: float | None = None
    """Wall time the utterance's last loud sample was pushed."""
    vad_end_at: float | None = None
    """Wall time the session's VAD said the user stopped (its end of speech)."""
    reply_start: float | None = None
    """Wall time the first audible reply sample left."""
    transcript_at: float | None = None
    """Wall time the final transcript arrived."""
    committed_at: float | None = None
    """Wall time the user turn was committed (end of turn decided)."""
    interrupted: bool = False

    @property
    def voice_to_voice(self) -> float | None:
        if self.user_end is None or self.reply_start is None:
            return None
        return self.reply_start - self.user_end

    @property
    def after_commit(self) -> float | None:
        """End of turn decided -> first audio: LLM, TTS and the framework's own overhead."""
        if self.committed_at is None or self.reply_start is None:
            return None
        return self.reply_start - self.committed_at


@dataclass
class TalkResult:
    turns: list[Turn] = field(default_factory=list)
    output: PCM | None = None
    dropped_frames: int = 0
    utterances: list[tuple[float, float]] = field(default_factory=list)
    """Wall time each input utterance's first and last loud frames were pushed."""
    reply_starts: list[float] = field(default_factory=list)
    """Wall time each reply's first audible sample left."""

    @property
    def latencies(self) -> list[float]:
        return [t.voice_to_voice for t in self.turns if t.voice_to_voice is not None]


Printer = Callable[[str], None]


class _Recorder:
    """Collects the agent's output frames on the same wall-clock timeline as the input."""

    def __init__(self, t0: float, rate: int) -> None:
        self.t0 = t0
        self.rate = rate
        self.chunks: list[tuple[int, np.ndarray]] = []

    def __call__(self, frame: rtc.AudioFrame) -> None:
        offset = int((time.time() - self.t0) * self.rate)
        self.chunks.append((offset, np.frombuffer(frame.data, dtype=np.int16).copy()))

    def render(self, min_samples: int) -> PCM:
        end = max([o + len(c) for o, c in self.chunks] + [min_samples])
        out = np.zeros(end, dtype=np.int16)
        cursor = 0
        for offset, chunk in self.chunks:
            start = max(offset, cursor)  # keep frames contiguous inside a reply
            out[start : start + len(chunk)] = chunk[: max(0, end - start)]
            cursor = start + len(chunk)
        return PCM(out, self.rate)


def _discard(frame: rtc.AudioFrame) -> None:
    """The output sink of a talk that keeps no audio."""


async def talk(
    session: AgentSession,
    agent: object,
    pcm: PCM,
    *,
    fast: bool = False,
    out_rate: int = 24000,
    printer: Printer = print,
    tail_timeout: float = 20.0,
    collector: SessionCollector | None = None,
    conversation: Conversation | None = None,
    record: bool = True,
) -> TalkResult:
    """Run ``pcm`` (16 kHz mono) through a started-here session; returns turns and audio.
    A ``collector`` records the session, with the voice-to-voice measured here.
    ``conversation``: the one ``session`` and ``agent`` belong to (``causerie talk``): it
    gets the audio I/O, starts and closes the session (see :func:`talk_conversation`).
    ``record=False``: the agent's audio is played but not kept (``output`` stays None). Kept,
    it is every reply, then the input's whole length at ``out_rate`` (2.9 MB a minute)."""
    assert pcm.sample_rate == IN_RATE
    spf = IN_RATE * FRAME_MS // 1000
    utterances = speech_segments(pcm.samples, IN_RATE)
    t0 = time.time()
    recorder = _Recorder(t0, out_rate)
    result = TalkResult()
    ends: list[float] = []  # wall time each utterance ended, in order
    starts: list[float] = []  # and began
    replies: list[Segment] = []

    def on_segment_start(seg: Segment) -> None:
        replies.append(seg)

    audio_in = QueueAudioInput(max_seconds=60.0)
    audio_out = PacedAudioOutput(
        recorder if record else _discard, sample_rate=out_rate, on_segment_start=on_segment_start
    )
    if conversation is not None:
        conversation.use_audio(audio_in, audio_out)
    else:
        session.input.audio = audio_in
        session.output.audio = audio_out

    current = Turn()
    last_final: list[float] = []
    vad_ends: list[float] = []
    if collector is not None:
        # here: this task starts the session; the conversation's turn assembler, if any
        collector.attach(session, conversation.mapper.turns if conversation else None)

    @session.on("user_input_transcribed")
    def _on_transcript(ev: Any) -> None:
        if ev.is_final:
            last_final.append(time.time())

    @session.on("user_state_changed")
    def _on_user_state(ev: Any) -> None:
        if ev.old_state == "speaking":
            vad_ends.append(time.time())

    @session.on("conversation_item_added")
    def _on_item(ev: ConversationItemAddedEvent) -> None:
        nonlocal current
        item = ev.item
        text = getattr(item, "text_content", None)
        if not text or getattr(item, "role", None) not in ("user", "assistant"):
            return
        if item.role == "user":  # type: ignore[union-attr]
            printer(f"user: {text}")
            current = Turn(
                user_text=text,
                user_end=ends[-1] if ends else None,
                transcript_at=last_final[-1] if last_final else None,
                vad_end_at=vad_ends[-1] if vad_ends else None,
                committed_at=time.time(),
            )
            result.turns.append(current)
        else:
            printer(f"agent: {text}")
            current.agent_text = (current.agent_text + " " + text).strip()
            current.interrupted = bool(getattr(item, "interrupted", False))
            if current.reply_start is None and current.user_end is not None:
                _match_replies([current], replies)
                if current.voice_to_voice is not None:
                    printer(f"  voice-to-voice: {current.voice_to_voice * 1000:.0f} ms")
                    if collector is not None:
                        collector.report_voice_to_voice(current.voice_to_voice)

    http = contextlib.AsyncExitStack()
    await http.enter_async_context(vendor_http())
    if conversation is not None:
        await conversation.start()
    else:
        await session.start(agent)  # type: ignore[call-overload]
    try:
        frames = [pcm.samples[i : i + spf] for i in range(0, len(pcm.samples), spf)]
        seg_iter = iter(utterances)
        next_seg = next(seg_iter, None)
        clock = time.monotonic()
        for i, chunk in enumerate(frames):
            if len(chunk) < spf:
                chunk = np.pad(chunk, (0, spf - len(chunk)))
            pos = i * FRAME_MS / 1000
            in_speech = next_seg is not None and next_seg[0] - 0.3 <= pos < next_seg[1]
            # --fast skips the rest of a silent gap once the reply is done; speech itself
            # stays real time so the latencies measured are the real ones.
            if (
                fast
                and not in_speech
                and not _busy(session, audio_out)
                and _after_reply(ends, replies, pos, next_seg)
            ):
                continue
            audio_in.push(rtc.AudioFrame(chunk.tobytes(), IN_RATE, 1, spf))
            if next_seg is not None and len(starts) == len(ends) and pos >= next_seg[0]:
                starts.append(time.time())
            if next_seg is not None and pos + FRAME_MS / 1000 >= next_seg[1]:
                ends.append(time.time())
                next_seg = next(seg_iter, None)
            clock += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, clock - time.monotonic()))
        # Keep the line open (silence) until the agent has answered the last utterance
        # and gone quiet, or the timeout passes.
        silence = rtc.AudioFrame(bytes(spf * 2), IN_RATE, 1, spf)
        deadline = time.monotonic() + tail_timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            audio_in.push(silence)
            clock += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, clock - time.monotonic()))
            # An utterance the STT heard nothing in gets no reply: stop waiting after 5 s.
            # One it heard (its turn is committed) is waited for, up to tail_timeout.
            unheard = len(result.turns) < len(ends)
            given_up = bool(ends) and unheard and time.time() - ends[-1] > 5.0
            if _busy(session, audio_out) or not (
                _after_reply(ends, replies, 0.0, None) or given_up
            ):
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.8:
                break
    finally:
        audio_in.close()
        await (conversation.aclose() if conversation is not None else session.aclose())
        await audio_out.aclose()
        await http.aclose()
        if collector is not None:
            collector.close()  # a no-op once the session's close event has done it
    _match_replies(result.turns, replies)
    result.utterances = list(zip(starts, ends, strict=False))
    result.reply_starts = [r.first_audible_at for r in replies if r.first_audible_at is not None]
    if record:
        result.output = recorder.render(int(len(pcm.samples) / IN_RATE * out_rate))
    result.dropped_frames = audio_in.dropped_frames
    return result


async def talk_conversation(conversation: Conversation, pcm: PCM, **kw: Any) -> TalkResult:
    """:func:`talk` through a :class:`~causerie.runtime.Conversation` (its mute, faults and
    events included)."""
    return await talk(
        conversation.session, conversation.agent, pcm, conversation=conversation, **kw
    )


def _busy(session: AgentSession, out: PacedAudioOutput) -> bool:
    return (
        out.playing
        or session.agent_state in ("thinking", "speaking")
        or session.user_state == "speaking"
    )


def _after_reply(
    ends: list[float], replies: list[Segment], pos: float, next_seg: tuple[float, float] | None
) -> bool:
    """In fast mode, a gap may be skipped once the last utterance got its reply, keeping
    0.3 s of silence before the next utterance."""
    if not ends:
        return True
    answered = any(r.first_frame_at is not None and r.first_frame_at >= ends[-1] for r in replies)
    return answered and (next_seg is None or pos < next_seg[0] - 0.3)


def _match_replies(turns: list[Turn], replies: list[Segment]) -> None:
    """Each turn's reply is the first reply that started after its utterance ended."""
    for turn in turns:
        if turn.user_end is None:
            continue
        for seg in replies:
            if seg.first_audible_at is not None and seg.first_audible_at >= turn.user_end:
                turn.reply_start = seg.first_audible_at
                break
