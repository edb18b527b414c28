"""A trigram language model (ARPA text) from an app's phrases, weighed against the general one.

pocketsphinx 5.1.1 can neither interpolate two language models at run time (``lmctl``
loads each as a search of its own) nor write its general model out (``NGramModel.write``
crashes past the unigrams), so the mix is built here, from what the binding can read: the
general model's unigram probabilities (``NGramModel.prob``). The result is a backoff model:

* unigrams: ``weight * P_app(w) + (1 - weight) * P_general(w)`` over both vocabularies;
* bigrams and trigrams: the app's phrases, absolute discounting (``D``), backing off to
  the order below.

So the app's phrases are favoured and any other word stays possible, through the unigrams
only: general speech loses its general bigrams and trigrams (measured in PERFORMANCE.md).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

D = 0.5  # absolute discount for the app's bigrams and trigrams
_FLOOR = -99.0


def _log10(p: float) -> float:
    return math.log10(p) if p > 0 else _FLOOR


def build_arpa(phrases: Iterable[str], general: Mapping[str, float], weight: float = 0.5) -> str:
    """ARPA text for ``phrases`` (space-separated words) mixed with ``general`` unigram
    probabilities (word -> probability, summing to about 1) at ``weight`` for the app."""
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"weight must be in (0, 1], got {weight!r}")
    counts: list[Counter[tuple[str, ...]]] = [Counter(), Counter(), Counter()]
    for phrase in phrases:
        toks = ["<s>", *phrase.split(), "</s>"]
        for n in (1, 2, 3):
            for i in range(len(toks) - n + 1):
                gram = tuple(toks[i : i + n])
                if n == 1 and gram == ("<s>",):
                    continue
                counts[n - 1][gram] += 1

    total = sum(counts[0].values())
    gen_total = sum(p for w, p in general.items() if w not in ("<s>",)) or 1.0
    vocab = set(general) | {g[0] for g in counts[0]} | {"</s>"}
    vocab.discard("<s>")
    p1: dict[str, float] = {}
    for w in vocab:
        app = counts[0][(w,)] / total if total else 0.0
        p1[w] = weight * app + (1 - weight) * general.get(w, 0.0) / gen_total
    p1["<s>"] = 0.0

    def discounted(n: int) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], float]]:
        """P(w | h) for seen n-grams, and each history's left-over mass."""
        hist: Counter[tuple[str, ...]] = Counter()
        kinds: Counter[tuple[str, ...]] = Counter()
        for gram, c in counts[n - 1].items():
            hist[gram[:-1]] += c
            kinds[gram[:-1]] += 1
        probs = {g: (c - D) / hist[g[:-1]] for g, c in counts[n - 1].items()}
        left = {h: D * kinds[h] / hist[h] for h in hist}
        return probs, left

    p2, left2 = discounted(2)
    p3, left3 = discounted(3)

    def lower(gram: tuple[str, ...]) -> float:
        """P(gram[-1] | gram[:-1]) under the model one order down (bigram or unigram)."""
        if len(gram) == 2:
            return p1.get(gram[1], 0.0)
        return p2.get(gram[1:], 0.0) or backoff2.get((gram[1],), 1.0) * p1.get(gram[2], 0.0)

    def alpha(left: Mapping[tuple[str, ...], float], seen: Mapping[tuple[str, ...], float]):
        out: dict[tuple[str, ...], float] = {}
        covered: defaultdict[tuple[str, ...], float] = defaultdict(float)
        for g in seen:
            covered[g[:-1]] += lower(g)
        for h, mass in left.items():
            out[h] = mass / max(1e-9, 1.0 - covered[h])
        return out

    backoff2: dict[tuple[str, ...], float] = {}
    backoff2 = alpha(left2, p2)
    backoff3 = alpha(left3, p3)

    lines = ["\\data\\", f"ngram 1={len(p1)}", f"ngram 2={len(p2)}", f"ngram 3={len(p3)}", ""]
    lines.append("\\1-grams:")
    for w in sorted(p1):
        lines.append(f"{_log10(p1[w]):.4f}\t{w}\t{_log10(backoff2.get((w,), 1.0)):.4f}")
    lines += ["", "\\2-grams:"]
    for g in sorted(p2):
        bo = backoff3.get(g)
        tail = f"\t{_log10(bo):.4f}" if bo is not None else ""
        lines.append(f"{_log10(p2[g]):.4f}\t{' '.join(g)}{tail}")
    lines += ["", "\\3-grams:"]
    for g in sorted(p3):
        lines.append(f"{_log10(p3[g]):.4f}\t{' '.join(g)}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)
