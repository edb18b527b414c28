"""A vocabulary pair's app decoders in a process of their own (vocabulary_process.split): real
decoders, forked from this process as the worker forks its own."""

from __future__ import annotations

import os
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pocketsphinx import Config

from causerie.providers.local.pocketsphinx_cmn import FRONT_END
from causerie.providers.local.pocketsphinx_stt import _DEFAULTS
from causerie.providers.local.pocketsphinx_worker import Recognizer, load_decoder
from causerie.providers.local.vocabulary import compile_vocabulary, parse_vocabulary
from causerie.providers.local.vocabulary_decoder import DecoderPair
from causerie.providers.local.vocabulary_process import RemoteDecoder, split
from tests.speech import speak
from tests.unit.test_pocketsphinx_catchup import CHUNK, RATE, final, options
from tests.unit.test_pocketsphinx_defer import WORDS

PHRASE = "tell me about the zorblax"  # "zorblax" is in no dictionary


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    vocab = compile_vocabulary(
        parse_vocabulary([PHRASE], "test"),
        Path(Config()["dict"]),
        cache=tmp_path_factory.mktemp("cache"),
    )
    return {**_DEFAULTS, "vocabulary": vocab}


@pytest.fixture(scope="module")
def speech() -> bytes:
    pcm = np.concatenate([np.zeros(8000), speak(PHRASE, RATE), np.zeros(3200)])
    return pcm.astype(np.int16).tobytes()


def pair(config: dict[str, Any]) -> DecoderPair:
    decoder = load_decoder(config)
    assert isinstance(decoder, DecoderPair)
    return decoder


def hear(decoder: DecoderPair, speech: bytes) -> tuple[str, list[Any]]:
    rec = Recognizer(decoder, options())
    events: list[Any] = []
    for i in range(0, len(speech), CHUNK):
        events += rec.process([speech[i : i + CHUNK]])
    text = final(events + rec.process([None]))
    return text, [(s.word, s.start_frame, s.end_frame) for s in decoder.seg()]


def test_the_app_decoders_answer_from_their_own_process(
    config: dict[str, Any], speech: bytes
) -> None:
    """Split, the pair hears what it hears in one process (the same words and times), its
    app side answering from a child; the spare pair's app decoder moves there too. The child
    ends when the pipe closes (the worker ended)."""
    local = hear(pair(config), speech)
    assert "zorblax" in local[0].split(), local

    live, spare = pair(config), pair(config)
    child = split([live, spare])
    assert child is not None
    assert isinstance(live.app, RemoteDecoder) and isinstance(spare.app, RemoteDecoder)
    assert hear(live, speech) == local
    assert hear(spare, speech) == local  # the second decoder there, on the same pipe
    assert child.close()


def test_an_error_there_is_raised_at_the_next_query(config: dict[str, Any]) -> None:
    """A request sent without waiting that failed in the child: the next query raises, naming
    it (the worker then fails its request and is replaced)."""
    live = pair(config)
    child = split([live])
    assert child is not None
    live.app.activate_search("no-such-search")
    with pytest.raises(RuntimeError, match="activate_search"):
        live.app.hyp()
    with pytest.raises(RuntimeError, match="activate_search"):
        live.app.current_search()  # and every query after it
    assert child.close()


def test_the_child_does_not_hold_the_workers_pipe(config: dict[str, Any]) -> None:
    """The worker's own pipe, closed in the child: when the worker goes, its parent reads EOF
    even while the app process lives on for a moment."""
    parents_end, workers_end = Pipe()
    live = pair(config)
    child = split([live], close=[workers_end])
    assert child is not None
    workers_end.close()  # the worker dies
    assert parents_end.poll(5.0)
    with pytest.raises(EOFError):
        parents_end.recv()
    assert child.close()


def test_one_core_no_pair_or_no_fork_keeps_everything_here(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert split([load_decoder(_DEFAULTS), None]) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    live = pair(config)
    assert split([live]) is None
    assert not isinstance(live.app, RemoteDecoder)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)  # the process limit reached
    assert split([live]) is None
    assert not isinstance(live.app, RemoteDecoder)


def test_an_app_vocabulary_pair_defers_too(config: dict[str, Any], speech: bytes) -> None:
    """Both decoders of the pair run the front end only until the settle (pocketsphinx_cmn's
    FRONT_END, ``defer_first_pass``), then the words' search, and the app's new word is heard."""
    live = pair(config)
    rec = Recognizer(live, options())
    opened = int(0.75 * RATE) * 2  # the silence, then the words' first 0.25 s (no pause yet)
    for i in range(0, opened, CHUNK):
        rec.process([speech[i : i + CHUNK]])
    searches = {live.general.current_search(), live.app.current_search()}
    assert searches == {FRONT_END}
    for i in range(opened, len(speech), CHUNK):
        rec.process([speech[i : i + CHUNK]])
    text = final(rec.process([None]))
    assert {live.general.current_search(), live.app.current_search()} == {WORDS}
    assert "zorblax" in text.split(), text
