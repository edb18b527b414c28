"""Text normalization shared by catalogue matching, the knowledge base and the scripted shop
skill: lower case, no accents, light singularization, EN+FR stopwords."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")

# Function words in English and French; they never identify a product or a document.
STOPWORDS = frozenset(
    """
    a an the of and or with without in on at to for from by is are was be it its this that
    these those there here my your our me you we i us do does did have has had can could
    would will should may might some any all no not just very so too also please what which
    who whom how when where why whats about than then them they their his her him she he one
    ones get got want wanted like need looking look show tell give let lets know find buy
    le la les l un une des de du d au aux en et ou avec sans pour par sur dans ce cet cette
    ces ca c est sont je tu il elle nous vous ils elles me te se mon ma mes ton ta tes son
    sa ses notre votre vos leur leurs qui que quoi quel quelle quels quelles qu ne pas plus
    moins tres aussi y a ai as avez avons ont suis es etes fait faire peux peut pouvez
    voudrais veux voulez cherche cherchez montre montrez montrer dis dites donne donnez
    s il vous plait svp merci thanks oui yes non
    """.split()
)


def strip_accents(text: str) -> str:
    t = unicodedata.normalize("NFKD", text)
    return "".join(c for c in t if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """'Comté affiné, 18 mois !' -> 'comte affine 18 mois'."""
    t = strip_accents(text.lower()).replace("'", " ").replace("’", " ")
    return " ".join(_WORD.findall(t))


def singular(word: str) -> str:
    """A crude stemmer, enough to match 'cheeses' to 'cheese' and 'fromages' to 'fromage'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word[-1] in "sx" and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=4096)
def _terms(text: str, keep_stopwords: bool) -> tuple[str, ...]:
    out = []
    for w in normalize(text).split():
        if not keep_stopwords and (w in STOPWORDS or (len(w) == 1 and not w.isdigit())):
            continue
        out.append(singular(w))
    return tuple(out)


def terms(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Content words of ``text``, normalized and singularized."""
    return list(_terms(text, keep_stopwords))


def contains_phrase(haystack: str, phrase: str) -> bool:
    """Whole-word containment on normalized text."""
    h, p = f" {normalize(haystack)} ", normalize(phrase)
    return bool(p) and f" {p} " in h
