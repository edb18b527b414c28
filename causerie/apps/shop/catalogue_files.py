"""A catalogue file, read by its format: JSON or YAML (:mod:`.catalogue_loader`) or CSV
(:mod:`.catalogue_csv`)."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from .catalogue import Catalogue
from .catalogue_csv import from_csv
from .catalogue_loader import from_document


def load_catalogue(path: Path) -> Catalogue:
    if not path.is_file():
        raise ConfigError(f"catalogue not found: {path} (tool_options.catalogue)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return from_csv(path)
    if suffix in (".json", ".yaml", ".yml"):
        return from_document(path)
    raise ConfigError(f"catalogue {path}: unsupported format {suffix!r}; use .json, .yaml or .csv")
