"""Every plugin hook, in one file. A plugin implements any subset of them with
``@hookimpl`` (see docs/PLUGINS.md, and ``causerie/plugins/builtin/example.py``).

A hook implementation may accept any subset of a hook's arguments, by name. ``options`` is
the plugin's own ``plugin_options.<name>`` mapping from agent.yaml. Implementations run in
the order of ``plugins:`` in agent.yaml; one that raises is logged, counted and skipped for
that call, and the others still run. Hooks run on the event loop. The message and text hooks
are on the voice path: they must be synchronous and fast (a few milliseconds). The session
start and end hooks may be ``async def`` (to read or write a store); they are awaited, each
bounded by ``PluginHost.async_timeout``, before the greeting and while the session closes.
"""

from __future__ import annotations

from typing import Any

import pluggy

from .context import PluginSession, UserMessage

hookspec = pluggy.HookspecMarker("causerie")
hookimpl = pluggy.HookimplMarker("causerie")


@hookspec
def causerie_session_start(session: PluginSession, options: dict[str, Any]) -> str | None:
    """A conversation starts, before the greeting.

    Return a short note to append to the agent's instructions for this session (e.g. what
    is remembered about the user), or ``None``. May be ``async def``: the greeting waits for
    it (bounded by ``PluginHost.async_timeout``).
    """


@hookspec
def causerie_user_message(
    message: UserMessage, session: PluginSession, options: dict[str, Any]
) -> None:
    """The user's message, before the LLM sees it.

    Call ``message.rewrite(text)`` to change what the LLM reads, ``message.add_context(note)``
    to give the LLM a note for this turn only, or ``message.block(reply)`` to answer without
    the LLM (later plugins are then skipped). ``message.text`` is the text so far, after the
    earlier plugins' rewrites.
    """


@hookspec
def causerie_agent_text(
    text: str, index: int, session: PluginSession, options: dict[str, Any]
) -> str | None:
    """A sentence the agent is about to speak and show, before text-to-speech.

    ``index`` is the sentence's position in the reply (0: the first). Return the new text, or
    ``None`` to keep it. Plugins chain: each gets the previous one's output.
    """


@hookspec
def causerie_session_end(session: PluginSession, options: dict[str, Any]) -> None:
    """The conversation ended (the session closed). ``session.history()`` is the whole
    conversation; persist what you need here (``session.stores``). May be ``async def``."""
