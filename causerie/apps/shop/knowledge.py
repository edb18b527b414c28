"""The knowledge base: markdown documents cut into sections, ranked with BM25 (``bm25s``).

A folder of ``*.md`` files, or one sub-folder per language (``en/``, ``fr/``): a question is
then answered from the documents in the session's language. Each ``#``/``##``/``###``
heading starts a passage, and the heading path is indexed with its text.

An answer must clear two bars, so an off-topic question gets "not found" instead of the
least bad passage: a minimum BM25 score, and a minimum share of the question's informative
words found in the passage (words the documents never use count against it).
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import numpy as np

from ...errors import ConfigError
from ...tools.textnorm import terms

# bm25s logs each index build at DEBUG on its own logger; keep the CLI quiet.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
# Longest first within a family; one pass strips at most one suffix.
_SUFFIXES = tuple(
    "ations ation ements ement ments ment aisons aison ings ing eries ery ies age oir "
    "ed er ez ee es s e".split()
)


def stem(word: str) -> str:
    """A light EN/FR suffix stripper: 'delivery', 'delivered' and 'deliver' meet."""
    for _ in range(2):
        for suf in _SUFFIXES:
            if word.endswith(suf) and len(word) - len(suf) >= 3:
                word = word[: -len(suf)]
                break
        else:
            break
    return word


# Question words that carry no topic; left in, they would count as unanswered words.
_QUESTION_WORDS = frozenset(
    "many get make go kind sort thing something anything able possible usually often normally "
    "faut savoir quelqu chose question exactly actually really policy policie politique "
    "rule regle vai allez aller quand when angry upset annoyed really very".split()
)
# A few question idioms point at words the documents use.
_EXPAND = {"much": "cost", "combien": "prix", "pay": "payment", "payer": "paiement"}


def tokenize(text: str) -> list[str]:
    # 'iz' -> 'is': American and British spellings meet ('crystallized', 'crystallisation').
    return [
        stem(_EXPAND.get(t, t).replace("iz", "is"))
        for t in terms(text)
        if not t.isdigit() and t not in _QUESTION_WORDS
    ]


@dataclass(frozen=True)
class Passage:
    document: str
    """Path relative to the knowledge-base folder, e.g. 'en/delivery.md'."""
    title: str
    section: str
    text: str

    @property
    def source(self) -> str:
        return f"{self.document} › {self.section}" if self.section else self.document


@dataclass
class Answer:
    question: str
    found: bool
    passages: list[tuple[Passage, float]] = field(default_factory=list)
    coverage: float = 0.0
    seconds: float = 0.0


def split_markdown(text: str, document: str) -> list[Passage]:
    title = ""
    path: list[str] = []
    body: list[str] = []
    out: list[Passage] = []

    def flush() -> None:
        content = " ".join(" ".join(body).split())
        if content:
            out.append(Passage(document, title or document, " › ".join(path), content))
        body.clear()

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            level, heading = len(m.group(1)), m.group(2).strip()
            if level == 1:
                title, path = heading, []
            else:
                path = [*path[: level - 2], heading]
        else:
            body.append(line.strip())
    flush()
    return out


class _Index:
    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        # The heading words go in twice: a section about "Delivery costs" is about them.
        docs = [tokenize(f"{p.title} {p.section} {p.section} {p.text}") for p in passages]
        self.sets = [set(d) for d in docs]
        self.retriever = bm25s.BM25()
        self.retriever.index(docs, show_progress=False)
        n = len(docs)
        df: dict[str, int] = {}
        for s in self.sets:
            for t in s:
                df[t] = df.get(t, 0) + 1
        self.idf = {t: math.log(1 + n / d) for t, d in df.items()}
        self.unknown_idf = math.log(1 + n)  # a word no passage uses weighs like the rarest

    def rank(self, words: list[str]) -> list[tuple[int, float]]:
        scores = np.asarray(self.retriever.get_scores(words))
        order = np.argsort(-scores, kind="stable")
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]

    def coverage(self, words: list[str], i: int) -> float:
        uniq = set(words)
        total = sum(self.idf.get(t, self.unknown_idf) for t in uniq)
        found = sum(self.idf[t] for t in uniq if t in self.sets[i])
        return found / total if total else 0.0


class KnowledgeBase:
    def __init__(self, root: Path, *, min_score: float = 0.3, min_coverage: float = 0.51) -> None:
        if not root.is_dir():
            raise ConfigError(
                f"knowledge base folder not found: {root} (tool_options.knowledge_base)"
            )
        self.root = root
        self.min_score = min_score
        self.min_coverage = min_coverage
        by_lang: dict[str, list[Passage]] = {}
        for path in sorted(root.rglob("*.md")):
            rel = path.relative_to(root)
            lang = (
                rel.parts[0]
                if len(rel.parts) > 1 and re.fullmatch(r"[a-z]{2}", rel.parts[0])
                else "*"
            )
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"{path}: cannot read knowledge-base document: {e}") from None
            by_lang.setdefault(lang, []).extend(split_markdown(text, rel.as_posix()))
        if not any(by_lang.values()):
            raise ConfigError(f"knowledge base {root} has no markdown (*.md) documents")
        self._indexes = {lang: _Index(ps) for lang, ps in by_lang.items() if ps}

    @property
    def languages(self) -> list[str]:
        return sorted(self._indexes)

    def __len__(self) -> int:
        return sum(len(ix.passages) for ix in self._indexes.values())

    def _index_for(self, language: str) -> _Index:
        lang = language.split("-")[0]
        for key in (lang, "*", "en"):
            if key in self._indexes:
                return self._indexes[key]
        return next(iter(self._indexes.values()))

    def ask(self, question: str, language: str = "en", k: int = 3) -> Answer:
        t0 = time.perf_counter()
        index = self._index_for(language)
        words = tokenize(question)
        answer = Answer(question=question, found=False)
        if words:
            ranked = index.rank(words)[:k]
            answer.passages = [(index.passages[i], s) for i, s in ranked]
            if ranked:
                best, score = ranked[0]
                answer.coverage = index.coverage(words, best)
                answer.found = score >= self.min_score and answer.coverage >= self.min_coverage
        answer.seconds = time.perf_counter() - t0
        return answer
