"""Catalogue rows from CSV: one product per row, attributes as ``attr_<key>`` columns or an
``attributes`` column (``organic=yes;colour=red`` or JSON). See docs/TOOLS.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .catalogue import Catalogue
from .catalogue_loader import _Parts, _Problems, _product


def from_csv(path: Path) -> Catalogue:
    try:
        return _from_csv(path)
    except UnicodeDecodeError as e:
        raise ConfigError(f"catalogue {path}: not UTF-8 text (byte {e.start})") from None
    except csv.Error as e:
        raise ConfigError(f"catalogue {path}: not a readable CSV ({e})") from None


def _from_csv(path: Path) -> Catalogue:
    problems = _Problems(path)
    parts = _Parts({}, {}, {})
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise ConfigError(f"{path}:1: the header row must name the columns, including 'id'")
        for n, raw in enumerate(reader, start=1):
            line = reader.line_num
            where = f"row {n}" + (f" (id {raw.get('id')!r})" if raw.get("id") else "")
            if None in raw:
                problems.add(line, where, None, f"{len(raw[None])} more value(s) than columns")
                continue
            row = _csv_row(raw, problems, line, where)
            product = _product(row, problems, where, lambda _f, ln=line: ln) if row else None
            parts.add(product, problems, where, line, strict_producers=False)
    problems.raise_if_any()
    if not parts.products:
        raise ConfigError(f"{path}: no products")
    return Catalogue(*parts, "EUR", path)


def _csv_row(
    raw: dict[str, str], problems: _Problems, line: int, where: str
) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    names: dict[str, str] = {}
    descs: dict[str, str] = {}
    attrs: dict[str, Any] = {}
    for key, value in raw.items():
        key, value = key.strip(), (value or "").strip()
        if key.startswith(("name_", "description_")):
            field, _, lang = key.partition("_")
            if value:
                (names if field == "name" else descs)[lang] = value
        elif key.startswith(("attr_", "attr:")):
            if value:
                attrs[key[5:]] = _csv_value(value)
        elif key == "attributes":
            if value:
                try:
                    parsed = (
                        json.loads(value)
                        if value.startswith("{")
                        else {
                            k.strip(): _csv_value(v.strip())
                            for k, _, v in (
                                item.partition("=") for item in value.split(";") if item.strip()
                            )
                        }
                    )
                except json.JSONDecodeError as e:
                    problems.add(line, where, "attributes", f"invalid JSON: {e.msg}")
                    return None
                attrs.update(parsed)
        elif key in ("price", "stock"):
            if value == "" and key == "stock":
                continue
            try:
                row[key] = int(value) if key == "stock" else float(value.replace(",", "."))
            except ValueError:
                row[key] = value  # _product reports it with the field name
        elif key == "name" or key == "description":
            if value:
                (names if key == "name" else descs)["en"] = value
        else:
            row[key] = value
    if names:
        row["name"] = names
    if descs:
        row["description"] = descs
    if attrs:
        row["attributes"] = attrs
    return row


def _csv_value(v: str) -> Any:
    low = v.lower()
    if low in ("true", "yes", "oui"):
        return True
    if low in ("false", "no", "non"):
        return False
    if "|" in v:
        return [x.strip() for x in v.split("|") if x.strip()]
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v
