"""An app's vocabulary for the pocketsphinx recognizer: words it must know, phrases it favours.

``stt.options.vocabulary`` is a list of phrases, or names a file:

* text (``.txt`` or any other suffix): one phrase per line, ``#`` starts a comment;
* JSON: a list of phrases, or ``{"phrases": [...], "pronunciations": {"word": "K AH N T"}}``,
  or an app catalogue (an object with ``products``: see :func:`catalogue_vocabulary`).

Phrases are normalised as the decoder spells words: lower case, accents dropped ("comté" is
"comte"), numbers up to 999 in words. Every word of a phrase that the model's dictionary
lacks gets a pronunciation: the one given, else espeak-ng's phonemes mapped to the model's
(CMU) phone set. The phrases make an app language model (:mod:`.vocabulary_lm`), mixed with
the general one's unigrams at ``stt.options.vocabulary_weight``. :func:`compile_vocabulary`
does this in the server process (espeak-ng, the model file cached); the worker applies the
result (:mod:`.vocabulary_decoder`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_WEIGHT = 0.2  # the app model's share of the unigrams (see vocabulary_lm); 0: words only
CMU_PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH".split()
)


class VocabularyError(ValueError):
    """A vocabulary file or entry that cannot be used; the message names it."""


@dataclass(frozen=True)
class Vocabulary:
    phrases: tuple[str, ...]
    """Normalised: lower-case words of ``[a-z']`` separated by single spaces."""
    pronunciations: Mapping[str, str] = field(default_factory=dict)
    """Given pronunciations (CMU phones), for words espeak-ng would get wrong."""

    def words(self) -> list[str]:
        seen: dict[str, None] = {}
        for phrase in self.phrases:
            seen.update(dict.fromkeys(phrase.split()))
        seen.update(dict.fromkeys(self.pronunciations))
        return list(seen)


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    rest = n % 100
    return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + _number(rest))


def normalise(text: str) -> str:
    """``text`` as the decoder would spell it ("Comté aged 18 months" -> "comte aged
    eighteen months")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(
        r"\d+", lambda m: f" {_number(int(m.group()))} " if len(m.group()) < 4 else " ", text
    )
    return " ".join(w.strip("'") for w in re.findall(r"[a-z']+", text) if w.strip("'"))


def parse_vocabulary(data: Any, source: str) -> Vocabulary:
    """A vocabulary from JSON-like ``data`` (see the module docstring); ``source`` names it
    in errors."""
    if isinstance(data, Mapping) and "products" in data:
        return catalogue_vocabulary(data)
    pronunciations: dict[str, str] = {}
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"phrases", "pronunciations"})
        if unknown:
            raise VocabularyError(
                f"{source}: unknown key(s) {unknown}; allowed: phrases, pronunciations "
                "(or an app catalogue with products)"
            )
        raw = data.get("pronunciations") or {}
        if not isinstance(raw, Mapping):
            raise VocabularyError(f"{source}: pronunciations must map a word to CMU phones")
        for word, phones in raw.items():
            pronunciations[_word(word, source)] = _phones(phones, f"{source}: {word!r}")
        data = data.get("phrases", [])
    if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
        raise VocabularyError(f"{source}: phrases must be a list of strings")
    phrases = tuple(dict.fromkeys(p for p in (normalise(x) for x in data) if p))
    if not phrases and not pronunciations:
        raise VocabularyError(f"{source}: no phrases (an empty vocabulary)")
    return Vocabulary(phrases, pronunciations)


def _word(word: object, source: str) -> str:
    norm = normalise(word) if isinstance(word, str) else ""
    if not norm or " " in norm:
        raise VocabularyError(f"{source}: {word!r} is not a single word")
    return norm


def _phones(phones: object, where: str) -> str:
    parts = phones.split() if isinstance(phones, str) else []
    bad = [p for p in parts if p not in CMU_PHONES]
    if not parts or bad:
        raise VocabularyError(
            f"{where}: pronunciation {phones!r} must be CMU phones separated by spaces "
            f"(unknown: {bad or 'none given'}; allowed: {' '.join(sorted(CMU_PHONES))})"
        )
    return " ".join(parts)


def load_vocabulary(path: Path) -> Vocabulary:
    """Read a vocabulary file; :class:`VocabularyError` names the file and what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise VocabularyError(f"vocabulary file {path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise VocabularyError(f"vocabulary file {path} cannot be read as UTF-8 text: {e}") from e
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise VocabularyError(f"vocabulary file {path} is not valid JSON: {e}") from e
        return parse_vocabulary(data, str(path))
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return parse_vocabulary([line for line in lines if line], str(path))


def catalogue_vocabulary(catalogue: Mapping[str, Any], language: str = "en") -> Vocabulary:
    """The words an app's catalogue makes users say: product, producer and category names
    (with their synonyms), and a few query forms around each product name."""

    def label(value: Any) -> str:
        if isinstance(value, Mapping):
            value = value.get(language) or next(iter(value.values()), "")
        return value if isinstance(value, str) else ""

    names: list[str] = []
    for product in catalogue.get("products") or []:
        if isinstance(product, Mapping):
            names.append(label(product.get("name")))
    others: list[str] = []
    for producer in catalogue.get("producers") or []:
        if isinstance(producer, Mapping):
            others += [label(producer.get("name")), label(producer.get("region"))]
    for category in (catalogue.get("categories") or {}).values():
        if isinstance(category, Mapping):
            # Not the synonyms: many are French, and would only compete with English words.
            others.append(label(category.get("label")))
    phrases = []
    for name in filter(None, map(normalise, names)):
        phrases += [name, f"tell me about the {name}", f"add two {name}"]
    phrases += [n for n in map(normalise, others) if n]
    if not phrases:
        raise VocabularyError("the catalogue has no product, producer or category names")
    return Vocabulary(tuple(dict.fromkeys(phrases)))


# espeak-ng's ASCII phoneme mnemonics (English voices) -> CMU phones; longest match first.
_ESPEAK_TO_CMU = {
    "aI@": "AY ER", "aI3": "AY ER", "aU@": "AW ER", "i@3": "IH R", "e@": "EH R",
    "A@": "AA R", "O@": "AO R", "o@": "AO R", "U@": "UH R", "i@": "IY AH", "@L": "AH L",
    "aI": "AY", "aU": "AW", "eI": "EY", "oU": "OW", "OI": "OY", "A:": "AA", "O:": "AO",
    "i:": "IY", "u:": "UW", "3:": "ER", "a#": "AH", "tS": "CH", "dZ": "JH", "t#": "T",
    "d#": "D", "n-": "AH N", "l-": "AH L", "m-": "AH M", "r-": "R", "I2": "IH", "@2": "AH",
    "@5": "AH", "a": "AE", "A": "AA", "E": "EH", "e": "EH", "I": "IH", "i": "IY", "0": "AA",
    "O": "AO", "o": "OW", "U": "UH", "u": "UW", "V": "AH", "@": "AH", "3": "ER",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V",
    "T": "TH", "D": "DH", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "m": "M",
    "n": "N", "N": "NG", "l": "L", "r": "R", "w": "W", "j": "Y", "?": "T", "x": "K",
    "C": "HH", "W": "W",
}  # fmt: skip
_KEYS = sorted(_ESPEAK_TO_CMU, key=len, reverse=True)


def espeak_to_cmu(mnemonics: str) -> str:
    """espeak-ng phoneme mnemonics ("a#k'eIS@") as CMU phones ("AH K EY SH AH"); stress
    and length marks are dropped, as the model's dictionary has none."""
    out: list[str] = []
    i = 0
    while i < len(mnemonics):
        for key in _KEYS:
            if mnemonics.startswith(key, i):
                out.append(_ESPEAK_TO_CMU[key])
                i += len(key)
                break
        else:
            i += 1  # stress (' ,), syllable and other marks
    # espeak writes r-coloured vowels before an r ("3ri"); CMU has ER alone.
    return re.sub(r"\b(ER|AA R|AO R|EH R|UH R) R\b", r"\1", " ".join(out))


def pronounce(
    vocabulary: Vocabulary,
    known: Callable[[str], bool],
    phonemes: Callable[[str], str],
) -> dict[str, str]:
    """Pronunciations (CMU phones) for the vocabulary's words that ``known`` rejects: given
    ones first, else ``phonemes`` (espeak-ng mnemonics) mapped to CMU phones."""
    out: dict[str, str] = {}
    for word in vocabulary.words():
        if word in vocabulary.pronunciations:
            out[word] = vocabulary.pronunciations[word]
        elif not known(word):
            phones = espeak_to_cmu(phonemes(word))
            if phones:
                out[word] = phones
    return out


def dictionary_words(path: Path) -> set[str]:
    """The words of a pocketsphinx dictionary file (alternates such as ``word(2)`` folded)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return {line.split(None, 1)[0].split("(", 1)[0] for line in f if line.strip()}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "causerie" / "stt"


def general_unigrams(lm_path: Path) -> dict[str, float]:
    """The general model's unigram probabilities (what the binding can read of it)."""
    from pocketsphinx import Config, LogMath, NGramModel

    logmath = LogMath()
    lm = NGramModel(Config(), logmath, str(lm_path))
    scale = math.log10(1.0001)  # pocketsphinx's log base (logbase)
    out: dict[str, float] = {}
    for word in ["</s>", *dictionary_words(Path(Config()["dict"]))]:
        score = lm.prob([word])
        if score > -(2**28):  # not <unk>
            out[word] = 10 ** (score * scale)
    return out


def compile_vocabulary(
    vocabulary: Vocabulary,
    dictionary: Path,
    lm: Path | None = None,
    weight: float = DEFAULT_WEIGHT,
    cache: Path | None = None,
) -> dict[str, Any]:
    """What the worker applies (JSON- and pickle-friendly): new words with their phones, and
    the app's language model (a file under ``cache``, mixed with the general model ``lm``
    at ``weight``; none when ``weight`` is 0)."""
    from .espeak_engine import get_engine
    from .vocabulary_lm import build_arpa

    known = dictionary_words(dictionary)
    engine = get_engine()
    words = pronounce(vocabulary, known.__contains__, lambda w: engine.phonemes(w, "en-us"))
    out: dict[str, Any] = {"words": dict(sorted(words.items())), "lm": None}
    if weight > 0 and vocabulary.phrases:
        general = lm or Path(str(_default("lm")))
        key = hashlib.sha256(
            json.dumps([vocabulary.phrases, weight, str(general)]).encode()
        ).hexdigest()[:16]
        name = f"vocabulary-{key}.lm"
        path = (cache or cache_dir()) / name
        if not path.exists():
            text = build_arpa(vocabulary.phrases, general_unigrams(general), weight)
            try:
                _write(path, text)
            except OSError:  # a read-only home (a container): the temp folder
                path = Path(tempfile.gettempdir()) / "causerie-stt" / name
                _write(path, text)
        out["lm"] = str(path)
    return out


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a concurrent build sees a whole file or none


def _default(key: str) -> object:
    from pocketsphinx import Config

    return Config()[key]
