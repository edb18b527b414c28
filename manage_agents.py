#!/usr/bin/env python3
"""The original design's ``python manage_agents.py COMMAND`` (show, list-providers,
change-llm PROVIDER MODEL, plugins list|add|remove --name NAME, interactive): the same as
``causerie COMMAND``. Run it with the project's Python (``.venv/bin/python``)."""

from causerie.cli.main import main

if __name__ == "__main__":
    main()
