"""What the user says about themselves, and what the agent remembers of them."""

from __future__ import annotations

import re
from typing import Any

from ....providers.local.scripted.brain import ToolRequest, Turn, pick

_END = r"(?:[.,!?;]|\s+and\s|\s+et\s|$)"
_NAME = re.compile(
    r"\b(?:my name is|call me|i am called|je m'?\s?appelle|mon nom est|moi c'est)\s+"
    r"([A-ZÀ-Ýa-zà-ÿ][\w'-]*)",
    re.I,
)
_ALLERGY = re.compile(
    r"\b(?:allergic to|allergy to|intolerant to|can'?t eat|cannot eat|allergique (?:à|a|au|aux)|"
    r"intolérante? (?:à|a|au|aux))\s+(?:the\s+|les\s+|la\s+|le\s+)?([\w' -]+?)" + _END,
    re.I,
)
_PREFERENCE = re.compile(
    r"\b(?:i prefer|je préfère|je prefere)\s+([\w' -]+?)"
    + _END
    + r"|\b(?:i'?m (?:a )?|i am (?:a )?|je suis )(vegetarian|vegan|végétarien|vegetarien)",
    re.I,
)


def memory_request(text: str) -> ToolRequest | None:
    """``session_memory_update`` for "my name is Alice and I'm allergic to nuts"."""
    args: dict[str, Any] = {}
    if m := _NAME.search(text):
        args["name"] = m.group(1)[:1].upper() + m.group(1)[1:]
    if a := _ALLERGY.search(text):
        args["allergies"] = [a.group(1).strip().lower()]
    if p := _PREFERENCE.search(text):
        pref = (p.group(1) or p.group(2) or "").strip().lower()
        if pref:
            args["preferences"] = [pref]
    return ToolRequest("session_memory_update", args) if args else None


def known_name(turn: Turn) -> str | None:
    """From this session's memory tool calls, else from the memory note in the instructions."""
    for r in reversed(turn.past_tools):
        if r.name == "session_memory_update" and not r.is_error:
            if m := re.search(r'"name":"([^"]+)"', r.output):
                return m.group(1)
    m = re.search(r"\bname: ([^;\n.]+)", turn.instructions)
    return m.group(1).strip() if m else None


def recall(turn: Turn) -> str:
    lang = turn.language
    name = known_name(turn)
    facts = re.search(r"\ballergies: ([^;\n.]+)", turn.instructions)
    if not name and not facts:
        return pick(
            lang,
            "I don't know your name yet. What should I call you?",
            "Je ne connais pas encore votre nom. Comment vous appelez-vous ?",
        )
    text = pick(lang, f"Of course, you're {name}.", f"Bien sûr, vous êtes {name}.") if name else ""
    if facts:
        al = facts.group(1).strip()
        text += " " + pick(
            lang,
            f"I also remember your allergies: {al}.",
            f"Je me souviens aussi de vos allergies : {al}.",
        )
    return text.strip()


def welcome_back(turn: Turn) -> str | None:
    name = known_name(turn)
    if not name:
        return None
    return pick(
        turn.language,
        f"Hello {name}, welcome back! What are you looking for today?",
        f"Bonjour {name}, ravi de vous revoir ! Que cherchez-vous aujourd'hui ?",
    )
