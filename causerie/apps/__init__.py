"""Apps: business packages (the shop, the appointment desk) that plug tools, brain skills and
client actions into the platform through the ``causerie.apps`` entry points.

The platform imports only this contract (:mod:`.api`, :mod:`.registry`), never an app.
``AppTool`` (:mod:`.tool`) needs livekit, so it is imported from there.
See docs/APPS.md.
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
