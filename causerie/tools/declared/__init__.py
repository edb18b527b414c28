"""Declared tools: business tools backed by an HTTP API, written in YAML instead of Python.

``http`` (the call and its safety rules), ``tool`` (the livekit function tool), ``openapi``
(``causerie tools import``). The declaration itself is config (:mod:`causerie.config.api_tools`,
with :mod:`causerie.config.templating`: ``{{ param }}``, ``${ENV_VAR}``, the JSONPath subset,
sandboxed Jinja), and :mod:`causerie.config.loader` reads ``tools/*.yaml``. See docs/TOOLS.md,
"Declared tools".
"""
