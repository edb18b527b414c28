"""The built-in apps: the shop and the appointment desk.

Each registers through the ``causerie.apps`` entry points, exactly as a third party's app
would (:mod:`causerie.appkit`, docs/APPS.md); nothing in the platform imports them.
"""
