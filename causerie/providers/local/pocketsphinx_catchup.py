"""A settle's re-decode on a spare decoder, caught up in slices while the live pass goes on.

A later settle of an utterance's cepstral mean (:mod:`.pocketsphinx_cmn`) decodes the audio so
far again under the new mean. Done at once, that is ~0.35 s of CPU at 2.8 s of speech, and a
user who stops just then waits for it before the final. Here the live decoder goes on (with
the new mean from that point, the fallback), while a spare decoder, started under the new mean,
decodes the utterance from its first sample: ``ratio`` times the audio that arrives, per
call, until it has caught up. Then the two swap. At the flush, the spare is finished when
little is left (``finish_s`` of audio); otherwise its pass is dropped and the live one answers.
Whether the re-decode counts thus depends on the audio alone, never on timing.

Standard library only: this runs in the worker process (see :mod:`.pocketsphinx_worker`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from pocketsphinx import Decoder as _Decoder

    from .vocabulary_decoder import DecoderPair

    Decoder: TypeAlias = _Decoder | DecoderPair

# Chosen on the human recordings (docs/PERFORMANCE.md): at 4x or 6x, a pass begun at 4.5 s
# had not caught up before most long sentences ended, and the live pass answered (25.7 and
# 24.6 % WER, against 22.9 % at 8x). At 8x a pass catches up 0.64 s after a 4.5 s settle, but
# meanwhile the worker spends ~22 ms of CPU per 20 ms of audio here: it lags up to ~0.15 s.
CATCHUP_RATIO = 8.0  # the spare decodes this much audio per second that arrives
CATCHUP_FINISH_S = 0.5  # at the flush, a pass this close to caught up is finished (~50 ms)


class CatchUp:
    """The spare decoder's pass: :meth:`begin` at a settle, :meth:`feed` with what the live
    decoder decodes, :meth:`step` once per request; ``done`` when it has caught up."""

    def __init__(
        self,
        spare: Decoder,
        decode: Callable[[Decoder, bytes], None],
        rate: int,
        ratio: float = CATCHUP_RATIO,
        finish_s: float = CATCHUP_FINISH_S,
    ) -> None:
        self.spare = spare
        self._decode = decode
        self._ratio = ratio
        self._finish = int(finish_s * rate)
        self._backlog: deque[bytes] = deque()
        self._left = 0  # samples in the backlog
        self.active = False
        self.passes = 0  # passes begun (tests, bench)

    def begin(self, cmn: str, audio: Sequence[bytes]) -> None:
        """A new pass under ``cmn`` over ``audio`` (the utterance so far); any pass under way
        is dropped (its mean is older)."""
        self.cancel()
        self.spare.set_cmn(cmn)
        self.spare.start_utt()
        self._backlog.extend(audio)
        self._left = sum(len(a) for a in audio) // 2
        self.active = True
        self.passes += 1

    def feed(self, frames: Sequence[bytes]) -> None:
        if self.active:
            self._backlog.extend(frames)
            self._left += sum(len(f) for f in frames) // 2

    def step(self, arrived: int) -> bool:
        """Decode ``ratio`` x ``arrived`` samples of the backlog; True once caught up."""
        if not self.active:
            return False
        self._run(int(arrived * self._ratio))
        return not self._backlog

    def finish(self) -> bool:
        """At the flush: decode the rest if little is left (True), else drop the pass."""
        if self.active and self._left <= self._finish:
            self._run(self._left)
            return True
        self.cancel()
        return False

    def cancel(self) -> None:
        if self.active:
            self.spare.end_utt()
        self._backlog.clear()
        self._left = 0
        self.active = False

    def swapped(self, live: Decoder) -> Decoder:
        """The spare has caught up and becomes the live decoder; the old live one (its
        utterance ended) is the spare from now on. Returns the new live decoder."""
        new = self.spare
        live.end_utt()
        self.spare, self.active = live, False
        return new

    def _run(self, budget: int) -> None:
        chunks: list[bytes] = []
        while self._backlog and budget > 0:
            chunk = self._backlog.popleft()
            chunks.append(chunk)
            n = len(chunk) // 2
            budget -= n
            self._left -= n
        if chunks:
            self._decode(self.spare, b"".join(chunks))
