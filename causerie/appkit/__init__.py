"""The app kit: what an app is to the platform.

Apps (the shop, the appointment desk, a third party's) plug tools, brain skills and client
actions in through the ``causerie.apps`` entry points; each is an :class:`App`. The
platform uses this contract (:mod:`.api`, :mod:`.registry`, :mod:`.tool`), never an app.
``AppTool`` needs livekit, so it is imported from :mod:`.tool`. See docs/APPS.md.
"""

from .api import App, AppContext, AppOptions
from .registry import ENTRY_POINT_GROUP, AppRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "App",
    "AppContext",
    "AppOptions",
    "AppRegistry",
]
