"""An app's vocabulary for pocketsphinx (stt.options.vocabulary): real espeak-ng phonemes,
the real decoder and worker processes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt
from pocketsphinx import Config, LogMath, NGramModel

from causerie.config.spec import ProviderSpec
from causerie.errors import ProviderError
from causerie.providers.info import BuildContext
from causerie.providers.local.pocketsphinx_stt import PocketSphinxSTT, _build
from causerie.providers.local.vocabulary import (
    CMU_PHONES,
    VocabularyError,
    catalogue_vocabulary,
    compile_vocabulary,
    dictionary_words,
    espeak_to_cmu,
    load_vocabulary,
    normalise,
    parse_vocabulary,
    pronounce,
)
from causerie.providers.local.vocabulary_lm import build_arpa
from tests.speech import speak

NEW_WORD = "zorblax"  # in no dictionary
PHRASE = f"tell me about the {NEW_WORD}"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the app model's file


def build(tmp_path: Path, **options: object) -> PocketSphinxSTT:
    spec = ProviderSpec(provider="pocketsphinx", options=options)
    return _build(spec, BuildContext(language="en", base_dir=tmp_path))


def test_normalise_spells_as_the_dictionary() -> None:
    assert normalise("Comté aged 18 months") == "comte aged eighteen months"
    assert normalise("Côtes-du-Rhône, 2019!") == "cotes du rhone"
    assert normalise("goat's milk 250 g") == "goat's milk two hundred fifty g"


def test_espeak_phonemes_map_to_the_model_phone_set() -> None:
    from causerie.providers.local.espeak_engine import get_engine

    assert espeak_to_cmu("a#k'eIS@") == "AH K EY SH AH"  # acacia, as in cmudict
    assert espeak_to_cmu("tS'3:tS") == "CH ER CH"
    phones = espeak_to_cmu(get_engine().phonemes(NEW_WORD, "en-us")).split()
    assert phones[0] == "Z" and set(phones) <= CMU_PHONES
    vocab = parse_vocabulary([PHRASE], "test")
    known = dictionary_words(Path(Config()["dict"]))
    assert pronounce(vocab, known.__contains__, lambda w: "z'0b") == {NEW_WORD: "Z AA B"}


def test_catalogue_vocabulary_reads_names_producers_categories() -> None:
    catalogue = {
        "categories": {"cheese": {"label": {"en": "cheese", "fr": "fromage"}, "synonyms": ["x"]}},
        "producers": [{"name": "Ferme des Alpes", "region": "Savoie"}],
        "products": [{"name": {"en": "Comté aged 18 months", "fr": "Comté"}}],
    }
    vocab = catalogue_vocabulary(catalogue)
    assert "comte aged eighteen months" in vocab.phrases
    assert "tell me about the comte aged eighteen months" in vocab.phrases
    assert {"ferme des alpes", "savoie", "cheese"} <= set(vocab.phrases)
    assert "x" not in vocab.words()  # synonyms are left out
    with pytest.raises(VocabularyError, match="no product"):
        catalogue_vocabulary({"products": []})


def test_bad_vocabulary_files_are_clear_errors(tmp_path: Path) -> None:
    def err(name: str, content: str) -> str:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ProviderError, match=r"stt\.options\.vocabulary") as e:
            build(tmp_path, vocabulary=name)
        assert str(path) in str(e.value)
        return str(e.value)

    assert "not valid JSON" in err("v.json", "{phrases: [")
    assert "no phrases" in err("v.txt", "# only a comment\n\n")
    assert "unknown key(s) ['words']" in err("w.json", json.dumps({"words": ["a"]}))
    assert "list of strings" in err("l.json", json.dumps({"phrases": "acacia honey"}))
    assert "unknown: ['Q']" in err("p.json", json.dumps({"pronunciations": {"comte": "K Q"}}))
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProviderError, match="UTF-8"):
        build(tmp_path, vocabulary="bin.txt")
    with pytest.raises(ProviderError, match="does not exist"):
        build(tmp_path, vocabulary="missing.txt")
    with pytest.raises(ProviderError, match="vocabulary_weight"):
        build(tmp_path, vocabulary=[PHRASE], vocabulary_weight=2)
    with pytest.raises(VocabularyError, match="single word"):
        parse_vocabulary({"pronunciations": {"two words": "T UW"}}, "x")


def test_app_model_favours_the_phrases(tmp_path: Path) -> None:
    general = {"the": 0.5, "honey": 0.3, "</s>": 0.2}
    path = tmp_path / "app.lm"
    path.write_text(build_arpa(["acacia honey", "the acacia honey"], general, 0.2))
    lm = NGramModel(Config(), LogMath(), str(path))
    to_log10 = math.log10(1.0001)
    assert lm.prob(["acacia"]) * to_log10 > math.log10(0.05)  # new to the general model
    # prob([word, *history]): "honey" after "acacia" (the app's phrase) beats "honey" alone
    assert lm.prob(["honey", "acacia"]) > lm.prob(["honey"])


def frames(pcm: np.ndarray) -> list[rtc.AudioFrame]:
    return [
        rtc.AudioFrame(pcm[i : i + 320].tobytes(), 16000, 1, len(pcm[i : i + 320]))
        for i in range(0, len(pcm), 320)
    ]


async def test_a_new_word_is_recognised_once_in_the_vocabulary(tmp_path: Path) -> None:
    # espeak-ng's output differs a little from one synthesis to the next, and now and then
    # the decoder hears it otherwise: three renditions, two must carry the word.
    renditions = [
        np.concatenate([np.zeros(8000, np.int16), speak(PHRASE), np.zeros(8000, np.int16)])
        for _ in range(3)
    ]
    (tmp_path / "vocab.txt").write_text(f"# the app's words\n{PHRASE}\nadd two {NEW_WORD}\n")
    for vocabulary in (None, "vocab.txt"):
        options = {"vocabulary": vocabulary} if vocabulary else {}
        engine = build(tmp_path, **options)
        try:
            texts = [
                (await engine.recognize(frames(pcm))).alternatives[0].text for pcm in renditions
            ]
        finally:
            await engine.aclose()
        heard = sum(NEW_WORD in t.split() for t in texts)
        assert heard >= 2 if vocabulary else heard == 0, texts
    vocab = load_vocabulary(tmp_path / "vocab.txt")
    assert vocab.phrases == (PHRASE, f"add two {NEW_WORD}")


async def test_streaming_hears_the_new_word_with_two_decoders(tmp_path: Path) -> None:
    """The worker's streaming path (gate, CMN seed, interims, flush) on the decoder pair."""
    pcm = np.concatenate([np.zeros(8000, np.int16), speak(PHRASE), np.zeros(8000, np.int16)])
    engine = build(tmp_path, vocabulary=[PHRASE])
    try:
        async with engine.stream() as stream:
            for f in frames(pcm):
                stream.push_frame(f)
            stream.flush()
            stream.end_input()
            events = [ev async for ev in stream]
    finally:
        await engine.aclose()
    texts = [
        ev.alternatives[0].text
        for ev in events
        if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives[0].text
    ]
    assert len(texts) == 1 and NEW_WORD in texts[0].split(), texts


def test_app_model_falls_back_to_the_temp_folder(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the cache cannot be made under a file
    vocab = parse_vocabulary([PHRASE], "test")
    out = compile_vocabulary(vocab, Path(Config()["dict"]), cache=blocked / "cache")
    assert out["words"] == {NEW_WORD: out["words"][NEW_WORD]} and Path(out["lm"]).is_file()
    assert not str(out["lm"]).startswith(str(blocked))
