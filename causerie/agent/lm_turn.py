"""End of turn from the recognizer's own language model (``turn.detection: lm``).

A user who stops on "I would like" or "can you tell me" is rarely done; one who stops on
"two jars of acacia honey" often is. The n-gram model that pocketsphinx already ships
(``en-us.lm.bin``) says which: the probability that a sentence ends (``</s>``) after its
last two words. livekit's endpointing then waits ``turn.min_endpointing_delay`` after a
likely end and ``turn.max_endpointing_delay`` after an unlikely one. Offline, no download,
under a microsecond per turn; the model is memory-mapped (~30 MB, shared with the page
cache). English only: the shipped model is.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livekit.agents.llm import ChatContext
    from pocketsphinx import NGramModel

logger = logging.getLogger(__name__)

_LN_BASE = math.log(1.0001)  # pocketsphinx's log base (logmath's default)
_WORD = re.compile(r"[a-z0-9']+")


def default_lm_path() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us" / "en-us.lm.bin"


class LmTurnDetector:
    """livekit's turn-detector interface (``turn_detection=``) over an n-gram model."""

    def __init__(self, lm: NGramModel, threshold: float) -> None:
        self._lm = lm
        self._threshold = threshold

    @classmethod
    def load(cls, threshold: float, path: Path | None = None) -> LmTurnDetector:
        from pocketsphinx import NGramModel

        return cls(NGramModel.readfile(str(path or default_lm_path())), threshold)

    @property
    def model(self) -> str:
        return "pocketsphinx-en-us-lm"

    @property
    def provider(self) -> str:
        return "causerie"

    async def unlikely_threshold(self, language: str | None) -> float | None:
        return self._threshold

    async def supports_language(self, language: str | None) -> bool:
        return language is None or str(language).lower().split("-")[0] == "en"

    async def predict_end_of_turn(
        self,
        chat_ctx: ChatContext,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (livekit's signature; a lookup needs none)
    ) -> float:
        for item in reversed(chat_ctx.items):
            if item.type == "message" and item.role == "user":
                text = item.text_content or ""
                p = self.end_probability(text)
                logger.debug("end of turn %.3f (threshold %g): %r", p, self._threshold, text)
                return p
        return 1.0

    def end_probability(self, text: str) -> float:
        """P(the sentence ends here | its last two words); 1.0 for no words (nothing to
        wait for)."""
        words = _WORD.findall(text.lower())
        if not words:
            return 1.0
        score = self._lm.prob(["</s>", *reversed(words[-2:])])
        return min(1.0, math.exp(score * _LN_BASE))
