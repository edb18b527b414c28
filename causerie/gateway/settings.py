"""Gateway settings (``CAUSERIE_GATEWAY_*``): ``causerie gateway`` builds them with
:meth:`causerie.config.sources.Layers.build`, so options > environment > ``.env`` > defaults,
the precedence of every setting (docs/CONFIG.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAUSERIE_GATEWAY_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8000, ge=0, le=65535)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Accepted bearer keys, comma-separated in CAUSERIE_GATEWAY_API_KEYS.",
    )
    api_keys_file: Path | None = Field(
        default=None, description="A file with one accepted key per line ('#' comments)."
    )
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_audio_seconds: float = Field(default=300.0, gt=0)
    max_input_chars: int = Field(default=4096, ge=1, description="Longest speech input.")
    max_concurrent_per_key: int = Field(default=4, ge=1)
    retry_after: int = Field(default=1, ge=1, description="Seconds sent in Retry-After on 429.")
    stt_workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Speech decoders loaded at startup and kept loaded (pocketsphinx: one "
        "process, ~90 MB each); concurrent transcriptions beyond them wait for one to load.",
    )
    request_timeout: float = Field(default=60.0, gt=0, description="Seconds one request may take.")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    def keys(self) -> list[str]:
        """Every accepted key: the environment's and the file's."""
        keys = [k.get_secret_value() for k in self.api_keys]
        if self.api_keys_file is not None:
            try:
                text = self.api_keys_file.read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(f"api_keys_file {self.api_keys_file}: {e.strerror}") from None
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    keys.append(line)
        return keys

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK
