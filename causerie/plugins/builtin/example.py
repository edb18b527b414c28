"""Example plugin: a documented template that implements every hook (copy it to start).

Enable it with ``causerie plugins add example``. It answers ``/ping`` without the LLM,
tells the LLM how many turns the conversation has had, and counts the sentences the agent
spoke. Options (``plugin_options.example``): ``command`` (default ``/ping``), ``reply``
(default ``pong``).

To ship your own plugin, put the hooks in a module of your package and declare it::

    [project.entry-points."causerie.plugins"]
    my_plugin = "my_package.my_plugin"
"""

from __future__ import annotations

import logging
from typing import Any

from ...config.options import Options as _Options
from ..context import PluginSession, UserMessage
from ..hookspecs import hookimpl


class Options(_Options):
    """``plugin_options.example``."""

    command: str = "/ping"
    reply: str = "pong"


logger = logging.getLogger(__name__)


@hookimpl
def causerie_session_start(session: PluginSession) -> str | None:
    # Per-session state: namespace your keys in session.state.
    session.state["example"] = {"turns": 0, "sentences": 0}
    return None  # or a note appended to the agent's instructions


@hookimpl
def causerie_user_message(
    message: UserMessage, session: PluginSession, options: dict[str, Any]
) -> None:
    st = session.state.setdefault("example", {"turns": 0, "sentences": 0})
    st["turns"] += 1
    if message.text.strip().lower() == str(options.get("command", "/ping")):
        message.block(str(options.get("reply", "pong")))  # answered without the LLM
        return
    message.add_context(f"This is turn {st['turns']} of the conversation.")


@hookimpl
def causerie_agent_text(text: str, session: PluginSession) -> str | None:
    session.state.setdefault("example", {"turns": 0, "sentences": 0})["sentences"] += 1
    return None  # None keeps the text; return a string to replace it


@hookimpl
def causerie_session_end(session: PluginSession) -> None:
    st = session.state.get("example", {})
    logger.info(
        "session %s: %s turn(s), %s sentence(s) spoken",
        session.session_id,
        st.get("turns", 0),
        st.get("sentences", 0),
    )
