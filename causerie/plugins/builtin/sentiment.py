"""Sentiment analysis: a lexicon score and an emotion for each user message (EN + FR).

Adds the score and emotion to the LLM's context for the turn and to the session's
annotations; when the user is clearly upset, the agent's reply starts with an empathetic
sentence. Options (``plugin_options.sentiment_analysis``): ``upset_threshold`` (default
-0.5), ``context`` (add the note for the LLM; default true), ``prefix_en`` / ``prefix_fr``.
"""

from __future__ import annotations

import math
from typing import Any

from ...config.options import Options as _Options
from ...tools.textnorm import normalize
from ..context import PluginSession, UserMessage
from ..hookspecs import hookimpl


class Options(_Options):
    """``plugin_options.sentiment_analysis``."""

    upset_threshold: float = -0.5
    context: bool = True
    prefix_en: str | None = None
    prefix_fr: str | None = None


# word -> (valence from -3 to +3, emotion). Normalized: no accents, lower case.
LEXICON: dict[str, tuple[float, str]] = {}
for _emotion, _valence, _words in (
    (
        "anger",
        -3.0,
        "furious angry outraged ridiculous unacceptable scandalous scam rip-off rubbish "
        "useless terrible awful worst hate disgusting pathetic furieux furieuse enerve "
        "enervee inadmissible scandaleux scandale arnaque nul nulle honteux deteste "
        "horrible lamentable insupportable inacceptable",
    ),
    (
        "anger",
        -2.0,
        "annoyed annoying fed up irritated irritating incompetent agace agacant marre incompetent",
    ),
    (
        "sadness",
        -2.0,
        "bad poor mauvais mauvaise disappointed disappointing sad unhappy upset sorry "
        "unfortunately broken damaged spoiled rotten late lost missing decu decue decevant "
        "triste malheureux abime abimee casse cassee pourri perdu retard",
    ),
    (
        "fear",
        -1.5,
        "worried afraid scared anxious concerned nervous inquiet inquiete peur crains angoisse",
    ),
    (
        "joy",
        2.0,
        "great good nice happy glad love lovely wonderful excellent perfect delicious amazing "
        "fantastic awesome thanks thank brilliant super genial parfait excellent delicieux "
        "merveilleux content contente ravi ravie adore bien bon bonne merci formidable",
    ),
):
    for _w in _words.split():
        LEXICON.setdefault(_w, (_valence, _emotion))
NEGATIONS = frozenset(
    "not no never don t isn doesn didn wasn aren won can cannot ne pas jamais plus rien".split()
)
INTENSIFIERS = {
    "very": 1.5,
    "so": 1.4,
    "really": 1.4,
    "extremely": 1.8,
    "totally": 1.5,
    "tres": 1.5,
    "vraiment": 1.5,
    "trop": 1.4,
    "completement": 1.6,
    "absolument": 1.6,
}
DEFAULT_PREFIX = {"en": "I'm sorry about that.", "fr": "Je suis désolé pour cela."}


def analyze(text: str) -> tuple[float, str]:
    """(score from -1 to 1, emotion) of ``text``; 'neutral' when no word carries feeling."""
    words = normalize(text).split()
    total, by_emotion = 0.0, {"anger": 0.0, "sadness": 0.0, "fear": 0.0, "joy": 0.0}
    for i, w in enumerate(words):
        if w not in LEXICON:
            continue
        valence, emotion = LEXICON[w]
        window = words[max(0, i - 3) : i]
        if any(n in NEGATIONS for n in window):
            valence, emotion = -valence * 0.5, ("joy" if valence < 0 else "sadness")
        for prev in window[-1:]:
            valence *= INTENSIFIERS.get(prev, 1.0)
        total += valence
        by_emotion[emotion] += abs(valence)
    if "!" in text and total:
        total *= 1.2
    score = total / math.sqrt(total * total + 15.0)  # VADER-style squashing into [-1, 1]
    emotion = (
        max(by_emotion, key=lambda e: by_emotion[e]) if any(by_emotion.values()) else "neutral"
    )
    if abs(score) < 0.05:
        emotion = "neutral"
    return round(score, 3), emotion


@hookimpl
def causerie_user_message(
    message: UserMessage, session: PluginSession, options: dict[str, Any]
) -> None:
    score, emotion = analyze(message.original)
    threshold = float(options.get("upset_threshold", -0.5))
    st = session.state.setdefault("sentiment", {"scores": []})
    st["scores"].append(score)
    st["upset"] = score <= threshold
    scores = st["scores"]
    session.annotate(
        sentiment_last=score,
        emotion_last=emotion,
        sentiment_mean=round(sum(scores) / len(scores), 3),
        sentiment_min=min(scores),
        upset_turns=sum(1 for s in scores if s <= threshold),
    )
    if options.get("context", True) and emotion != "neutral":
        message.add_context(
            f"Sentiment of the user's message: {emotion}, score {score:+.2f} "
            "(-1 very negative, +1 very positive). Adapt your tone."
        )


@hookimpl
def causerie_agent_text(
    text: str, index: int, session: PluginSession, options: dict[str, Any]
) -> str | None:
    st = session.state.get("sentiment")
    if index != 0 or not st or not st.get("upset"):
        return None
    st["upset"] = False  # once per reply
    if normalize(text).startswith(("sorry", "i m sorry", "desole", "je suis desole")):
        return None  # the reply already apologises
    lang = session.language
    prefix = str(options.get(f"prefix_{lang}") or DEFAULT_PREFIX.get(lang, DEFAULT_PREFIX["en"]))
    return f"{prefix} {text}"
