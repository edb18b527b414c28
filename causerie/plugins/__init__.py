"""Plugins: hooks around the LLM (the user's message before it, the agent's text after it)
and around the session (start, end). Hook specs: :mod:`.hookspecs`; docs: docs/PLUGINS.md.

Write a plugin::

    from causerie.plugins import hookimpl

    @hookimpl
    def causerie_user_message(message, options):
        if "password" in message.text.lower():
            message.block("Please never tell me a password.")

and publish it under the ``causerie.plugins`` entry-point group of your package.
"""

from .context import PluginSession, UserMessage
from .hookspecs import hookimpl, hookspec
from .manager import (
    BUILTIN,
    HOOKS,
    PluginHost,
    PluginInfo,
    available_plugins,
    check_names,
    load_plugins,
)
from .stores import PluginStores

__all__ = [
    "BUILTIN",
    "HOOKS",
    "PluginHost",
    "PluginInfo",
    "PluginSession",
    "PluginStores",
    "UserMessage",
    "available_plugins",
    "check_names",
    "hookimpl",
    "hookspec",
    "load_plugins",
]
