"""Declared tools: business tools backed by an HTTP API, written in YAML instead of Python.

``spec`` (the declaration, validated statically), ``templating`` (``{{ param }}``,
``${ENV_VAR}``, the JSONPath subset, sandboxed Jinja), ``http`` (the call and its safety
rules), ``tool`` (the livekit function tool), ``files`` (``tools/*.yaml``), ``openapi``
(``causerie tools import``). See docs/TOOLS.md, "Declared tools".

Nothing heavy is imported here: the config layer imports :mod:`.spec`.
"""
