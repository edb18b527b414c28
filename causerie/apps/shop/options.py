"""The shop's ``tool_options`` (agent.yaml), typed: a misspelt or out-of-range option is
refused with its name and the allowed ones. ``data_dir`` (where orders are written)
comes from :class:`~causerie.appkit.api.AppOptions`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from ...appkit.api import AppOptions, resolve

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_CATALOGUE = DATA_DIR / "catalogue.json"
DEFAULT_KB = DATA_DIR / "kb"


class ShopOptions(AppOptions):
    catalogue: Path = Field(default=DEFAULT_CATALOGUE, description="JSON, YAML or CSV catalogue")
    knowledge_base: Path | None = Field(
        default=DEFAULT_KB, description="folder of Markdown documents"
    )
    tool_timeout: float = Field(default=5.0, ge=0.05, le=120, description="seconds per tool call")
    max_quantity: int = Field(default=20, ge=1, le=10_000, description="per product and order")
    search_limit: int = Field(default=5, ge=1, le=20, description="products per search")
    kb_min_score: float = Field(default=0.3, ge=0, le=100)
    kb_min_coverage: float = Field(default=0.51, ge=0, le=1)

    @field_validator("knowledge_base", mode="before")
    @classmethod
    def _off(cls, v: object) -> object:
        return None if v in ("", False) else v  # `knowledge_base: ""` turns it off

    @field_validator("catalogue", "knowledge_base", mode="after")
    @classmethod
    def _relative_to_agent(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        return None if v is None else resolve(v, info)
