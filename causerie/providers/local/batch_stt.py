"""What the local speech-to-text engines share: livekit's batch ``_recognize_impl`` hook,
reduced to one joined frame and an optional language."""

from __future__ import annotations

import abc

from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr


class BatchSTT(stt.STT):
    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = language if utils.is_given(language) else None
        return await self._recognize_frame(rtc.combine_audio_frames(buffer), lang)

    @abc.abstractmethod
    async def _recognize_frame(
        self, frame: rtc.AudioFrame, language: str | None
    ) -> stt.SpeechEvent:
        """Recognize one utterance; ``language`` is the caller's, ``None`` for the default."""
