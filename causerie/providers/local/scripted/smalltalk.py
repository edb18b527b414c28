"""The core skill: greet, say what the agent can do, be honest about being scripted."""

from __future__ import annotations

import datetime as dt

from .brain import Reply, Response, ToolRequest, Turn, pick


class SmallTalk:
    name = "smalltalk"

    def __init__(self, agent_name: str = "Causerie") -> None:
        self.agent_name = agent_name

    def respond(self, turn: Turn) -> Response | None:
        lang = turn.language
        if not turn.words:
            return Reply(pick(lang, "Sorry, I didn't catch that.", "Pardon, je n'ai pas compris."))
        if turn.has_any("repeat", "say that again", "again please", "repete", "repeter", "redis"):
            last = turn.last_agent_text()
            if last:
                return Reply(last)
        if turn.has_any("bye", "goodbye", "see you", "au revoir", "a bientot", "salut bye"):
            return Reply(
                pick(
                    lang,
                    "Goodbye, and thanks for the chat!",
                    "Au revoir, et merci pour cette conversation !",
                )
            )
        if turn.has_any("thanks", "thank you", "merci"):
            return Reply(pick(lang, "You're welcome.", "Avec plaisir."))
        if turn.has_any(
            "what can you do",
            "help",
            "what do you do",
            "capabilities",
            "que sais tu faire",
            "aide",
            "que peux tu faire",
            "tu sais faire",
        ):
            return Reply(self._capabilities(turn))
        if turn.has_any(
            "who are you",
            "your name",
            "are you a robot",
            "are you real",
            "qui es tu",
            "comment tu t appelles",
            "ton nom",
            "votre nom",
        ):
            return Reply(
                pick(
                    lang,
                    f"I'm {self.agent_name}, an offline voice assistant. "
                    "My brain is a simple script, not a real language model.",
                    f"Je suis {self.agent_name}, un assistant vocal hors ligne. "
                    "Mon cerveau est un simple script, pas un vrai modèle de langage.",
                )
            )
        if turn.has_any(
            "how are you", "how is it going", "ca va", "comment vas tu", "comment allez vous"
        ):
            return Reply(
                pick(
                    lang,
                    "I'm doing well, thank you. How can I help?",
                    "Très bien, merci. Comment puis-je vous aider ?",
                )
            )
        if turn.has_any("time", "heure"):
            if "current_time" in turn.tools:
                return [ToolRequest("current_time", {})]
            now = dt.datetime.now().strftime("%H:%M")
            return Reply(pick(lang, f"It is {now}.", f"Il est {now}."))
        if turn.has_any(
            "hello",
            "hi",
            "hey",
            "good morning",
            "good evening",
            "bonjour",
            "salut",
            "bonsoir",
            "coucou",
        ):
            return Reply(
                pick(
                    lang,
                    f"Hello! I'm {self.agent_name}. How can I help you?",
                    f"Bonjour ! Je suis {self.agent_name}. Comment puis-je vous aider ?",
                )
            )
        return None

    def after_tools(self, turn: Turn) -> Reply | None:
        for r in turn.tool_results:
            if r.name == "current_time":
                return Reply(pick(turn.language, f"It is {r.output}.", f"Il est {r.output}."))
        return None

    def _capabilities(self, turn: Turn) -> str:
        if turn.tools:
            names = ", ".join(sorted(t.replace("_", " ") for t in turn.tools))
            return pick(
                turn.language,
                f"I can chat, and use these tools: {names}.",
                f"Je peux discuter, et utiliser ces outils : {names}.",
            )
        return pick(
            turn.language,
            "I can greet you, tell the time, and repeat what I said. "
            "I'm a scripted offline assistant; connect a real language model to do much more.",
            "Je peux vous saluer, donner l'heure et répéter ce que j'ai dit. "
            "Je suis un assistant hors ligne scripté ; "
            "branchez un vrai modèle de langage pour aller plus loin.",
        )


def fallback(turn: Turn) -> Reply:
    heard = turn.user_text.strip()
    return Reply(
        pick(
            turn.language,
            f"I heard: {heard}. I'm a scripted offline assistant, so I only know a few things. "
            "Ask me what I can do.",
            f"J'ai entendu : {heard}. Je suis un assistant hors ligne scripté, "
            "je ne sais pas grand-chose. Demandez-moi ce que je sais faire.",
        )
    )
