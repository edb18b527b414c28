"""Server settings: one typed object, ``CAUSERIE_*`` variables under CLI options.

``causerie serve`` builds it with :meth:`causerie.config.sources.Layers.build`: options >
environment > ``.env`` > defaults, the precedence of every setting (docs/CONFIG.md). Built
directly (``ServerSettings()``, as embedders and tests do), it reads the process environment.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServerSettings(BaseSettings):
    """``CAUSERIE_<FIELD>``; precedence: ``serve`` options > environment > .env > defaults."""

    model_config = SettingsConfigDict(env_prefix="CAUSERIE_", extra="ignore")

    host: str = Field(
        default="127.0.0.1", description="Interface to listen on (0.0.0.0: every one)."
    )
    port: int = Field(default=8080, ge=0, le=65535)
    max_sessions: int = Field(
        default=8,
        ge=1,
        le=512,
        description="Concurrent conversations; one more gets 'busy' (HTTP 503 / WS close 1013).",
    )
    warm_sessions: int | None = Field(
        default=None,
        ge=0,
        description="Sessions whose STT decoders are loaded at startup and kept loaded "
        "(default: max_sessions). Loading one later stalls every session for ~0.3 s; each "
        "costs ~90 MB with pocketsphinx.",
    )
    max_offer_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest SDP offer body accepted."
    )
    connect_timeout: float = Field(
        default=15.0, gt=0, description="Seconds a WebRTC peer has to connect after its offer."
    )
    disconnect_grace: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a WebRTC peer may stay 'disconnected' before we hang up.",
    )
    media_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds without microphone packets before a WebRTC peer counts as gone "
        "(a vanished browser is otherwise noticed by ICE only after ~30 s).",
    )
    opus_bitrate: int = Field(
        default=64000,
        ge=6000,
        le=510000,
        description="Bit/s a WebRTC browser is asked to encode its microphone at (Opus "
        "maxaveragebitrate in the answer). Browsers send ~32 kbit/s unasked, where what the "
        "recognizer hears varies more from one encode to the next (docs/PERFORMANCE.md).",
    )
    max_input_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30.0,
        description="Microphone audio buffered per session; beyond it the oldest is dropped.",
    )
    max_output_backlog: float = Field(
        default=2.0,
        gt=0,
        description="Seconds of agent audio a WebSocket peer may fall behind before we hang up.",
    )
    send_buffer_bytes: int = Field(
        default=128 * 1024,
        ge=4096,
        description="Kernel send buffer of each connection. It bounds how much agent audio a "
        "client that stopped reading can hold before max_output_backlog counts (Linux "
        "autotunes it up to megabytes: minutes of audio, and no reason given at the close).",
    )
    # Resource limits and browser checks (docs/RELIABILITY.md, "Fuzzing and security").
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest HTTP request body accepted (413)."
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=4096,
        description="Largest request head (request line + headers) held while incomplete.",
    )
    max_ws_message_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest WebSocket message; a bigger one closes the socket (1009).",
    )
    session_rate_limit: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="New sessions a minute from one client address (WebSocket and WebRTC).",
    )
    idle_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a WebSocket client may send nothing at all (no audio, no event) "
        "before it is closed; the page streams audio, silence included, all the time.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (comma-separated, * for any) whose pages may open /api/ws and "
        "/api/events, besides this server's own and localhost.",
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [o.strip().rstrip("/") for o in v.split(",") if o.strip()]
        return v
