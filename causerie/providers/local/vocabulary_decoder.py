"""In the worker: an app's vocabulary applied to the loaded decoder.

New words go into the dictionary and the general language model (a unigram each). With an
app language model (:mod:`.vocabulary_lm`), a second decoder hears the same audio under it
and :class:`DecoderPair` keeps, per utterance, the hypothesis with the better path score:
pocketsphinx cannot interpolate two models in one search, and the app model alone loses the
general model's word sequences (measured in docs/PERFORMANCE.md). The price: twice the
decoding CPU (on two cores, where the worker has them: :mod:`.vocabulary_process`), and two
``end_utt`` at the flush. Both get pocketsphinx_cmn's FRONT_END search, so the pair defers
an utterance's first pass as a single decoder does.

Standard library and pocketsphinx only: the worker process imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pocketsphinx import Decoder, Hypothesis, Segment

UNIGRAM_WEIGHT = 30.0  # a new word's unigram in the general model, times a uniform one


def add_words(decoder: Decoder, words: Mapping[str, str]) -> None:
    """Add ``words`` (word -> CMU phones) the decoder lacks; the search is rebuilt once."""
    lm = decoder.get_lm() if decoder.current_search() else None
    items = [(w, p) for w, p in words.items() if decoder.lookup_word(w) is None]
    for i, (word, phones) in enumerate(items):
        if lm is not None:
            lm.add_word(word, UNIGRAM_WEIGHT)  # before add_word, which would add it at 1.0
        decoder.add_word(word, phones, i == len(items) - 1)


class DecoderPair:
    """Two decoders fed the same audio, answering as one (the subset of ``Decoder`` that
    the worker's recognizer and CMN use). ``hyp()`` is the better-scoring of the two."""

    def __init__(self, general: Decoder, app: Decoder) -> None:
        self.general, self.app = general, app
        self.config = general.config
        self._best: Decoder = general

    def start_utt(self) -> None:
        self.general.start_utt()
        self.app.start_utt()

    def end_utt(self) -> None:
        self.general.end_utt()
        self.app.end_utt()

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> None:
        self.app.process_raw(data, no_search, full_utt)
        self.general.process_raw(data, no_search, full_utt)

    def current_search(self) -> str:
        return str(self.general.current_search())

    def activate_search(self, name: str) -> None:
        """Both at once: the deferred first pass (pocketsphinx_cmn's FRONT_END) and back."""
        self.general.activate_search(name)
        self.app.activate_search(name)

    def get_cmn(self, update: bool = False) -> str:
        return str(self.general.get_cmn(update))

    def set_cmn(self, cmn: str) -> None:
        self.general.set_cmn(cmn)
        self.app.set_cmn(cmn)

    def hyp(self) -> Hypothesis | None:
        general, app = self.general.hyp(), self.app.hyp()
        if (
            app is not None
            and app.hypstr
            and (general is None or app.best_score >= general.best_score)
        ):
            self._best = self.app
            return app
        self._best = self.general
        return general

    def seg(self) -> list[Segment]:
        """The segments of the decoder whose hypothesis ``hyp()`` last returned."""
        return list(self._best.seg())


def load(config: Mapping[str, Any], vocabulary: Mapping[str, Any]) -> Decoder | DecoderPair:
    """The decoder(s) for ``config`` with ``vocabulary`` (see ``vocabulary.compile_vocabulary``)."""
    from pocketsphinx import Decoder

    from .pocketsphinx_cmn import add_front_end

    words: Mapping[str, str] = vocabulary.get("words") or {}
    general = Decoder(**config)
    add_words(general, words)
    add_front_end(general)  # after the words: adding them rebuilds the searches
    app_lm = vocabulary.get("lm")
    if not app_lm:
        return general
    app = Decoder(**{**config, "lm": app_lm})
    add_words(app, words)
    add_front_end(app)
    return DecoderPair(general, app)
