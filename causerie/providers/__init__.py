"""Providers: one module per vendor, found through the ``causerie.providers`` entry points.

Kept empty on purpose: importing this package loads no vendor SDK.
"""
