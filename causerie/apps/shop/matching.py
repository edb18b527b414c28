"""Fuzzy product, category and producer names for both the tools (an LLM may pass a name
instead of an id) and the scripted shop skill (slot filling from what the user said).

Name words are weighted by rarity (IDF): "lavender" points at one product, "honey" at many.
Misspellings within one or two letters are corrected against the catalogue's vocabulary.
"""

from __future__ import annotations

import difflib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...tools.textnorm import normalize, singular, terms

if TYPE_CHECKING:
    from .catalogue import Catalogue, Product

# Words in producer names that say nothing about which producer.
_GENERIC_PRODUCER = frozenset(
    "ferme domaine moulin verger rucher charcuterie maison cave atelier".split()
)


@dataclass(frozen=True)
class Mention:
    product_id: str
    score: float
    """Sum of the IDF of the name words found in the text."""
    coverage: float
    """Share of the product name's weight that was found (1.0: the whole name)."""
    exact: bool
    """The full name appears word for word."""


class Lexicon:
    def __init__(self, catalogue: Catalogue) -> None:
        self._cat = catalogue
        self._names: dict[str, list[set[str]]] = {}
        self._phrases: dict[str, list[str]] = {}
        df: dict[str, int] = defaultdict(int)
        for p in catalogue.products.values():
            sets = [set(terms(n)) for n in p.name.all()]
            self._names[p.id] = sets
            self._phrases[p.id] = [normalize(n) for n in p.name.all()]
            for t in set().union(*sets) if sets else set():
                df[t] += 1
        n = max(len(catalogue.products), 1)
        self.idf = {t: math.log(1 + n / d) for t, d in df.items()}
        self._category_words: dict[str, str] = {}
        for c in catalogue.categories.values():
            for w in [c.id, *c.label.all(), *c.synonyms]:
                self._category_words[" ".join(terms(w, keep_stopwords=True))] = c.id
        self._producer_words: dict[str, set[str]] = {
            p.id: {t for t in terms(p.name) if t not in _GENERIC_PRODUCER and len(t) > 2}
            for p in catalogue.producers.values()
        }
        self._generic = {w for k in self._category_words for w in k.split()}
        # Category ids and labels name a category; other synonyms ("flour") also narrow it.
        self.label_words = {
            w
            for c in catalogue.categories.values()
            for n in [c.id, *c.label.all()]
            for w in terms(n, keep_stopwords=True)
        }
        self.vocabulary = set(self.idf) | {w for k in self._category_words for w in k.split()}
        for words in self._producer_words.values():
            self.vocabulary |= words

    # -- words ---------------------------------------------------------------------------

    def correct(self, words: list[str]) -> list[str]:
        """Replace near-misses of catalogue words ('reblochonn' -> 'reblochon')."""
        out = []
        for w in words:
            if w in self.vocabulary or len(w) < 5 or w.isdigit():
                out.append(w)
                continue
            close = difflib.get_close_matches(w, self.vocabulary, n=1, cutoff=0.8)
            out.append(close[0] if close and close[0][0] == w[0] else w)
        return out

    def words(self, text: str) -> list[str]:
        return self.correct(terms(text))

    # -- products ------------------------------------------------------------------------

    def mentions(self, text: str) -> list[Mention]:
        """Products named in ``text``, best first."""
        words = set(self.words(text))
        phrase = f" {' '.join(singular(w) for w in normalize(text).split())} "
        generic = self.category_words()
        out = []
        for pid, sets in self._names.items():
            best: tuple[float, float] = (0.0, 0.0)
            for names in sets:
                found = names & words
                if not found or found <= generic:
                    continue  # "bread" names a category, not "Rye bread"
                score = sum(self.idf[t] for t in found)
                total = sum(self.idf[t] for t in names) or 1.0
                best = max(best, (score, score / total), key=lambda x: (x[1], x[0]))
            exact = any(
                f" {' '.join(singular(w) for w in p.split())} " in phrase
                for p in self._phrases[pid]
                if p
            )
            if best[0] > 0 or exact:
                out.append(Mention(pid, best[0], 1.0 if exact else best[1], exact))
        out.sort(key=lambda m: (m.exact, m.coverage, m.score), reverse=True)
        return out

    def best(self, text: str) -> tuple[Product | None, list[Product]]:
        """(the product ``text`` names, or None; candidates when it is ambiguous)."""
        ms = [m for m in self.mentions(text) if m.exact or self._distinctive(m)]
        if not ms:
            return None, []
        top = ms[0]
        if top.exact:
            exact = [m for m in ms if m.exact]
            # "beaufort sausage" contains "beaufort" too; the longest full name wins.
            exact.sort(key=lambda m: -max(len(p) for p in self._phrases[m.product_id]))
            return self._cat.products[exact[0].product_id], []
        ties = [
            m for m in ms if abs(m.score - top.score) < 1e-9 and m.coverage >= top.coverage - 0.34
        ]
        if len(ties) == 1:
            return self._cat.products[top.product_id], []
        return None, [self._cat.products[m.product_id] for m in ties]

    def _distinctive(self, m: Mention) -> bool:
        # One word shared by many products (e.g. "honey") is a category, not a name.
        return m.coverage >= 0.5 or m.score >= math.log(1 + len(self._cat.products) / 3)

    # -- categories and producers --------------------------------------------------------

    def categories_in(self, text: str) -> list[str]:
        words = self.words(text)
        joined = f" {' '.join(words)} "
        found: list[str] = []
        for key, cid in sorted(self._category_words.items(), key=lambda kv: -len(kv[0])):
            if key and f" {key} " in joined and cid not in found:
                found.append(cid)
        return found

    def producers_in(self, text: str) -> list[str]:
        words = set(self.words(text))
        return [pid for pid, ws in self._producer_words.items() if ws & words]

    def category_words(self) -> set[str]:
        return self._generic
