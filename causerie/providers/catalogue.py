"""Vendors that need no Causerie module: their livekit plugin is built by
:mod:`causerie.providers.plugin_adapter`. Data only, so listing them imports nothing.

A vendor not listed here still works once its ``livekit-plugins-<name>`` is installed; the
table adds the extra to install, the kinds it offers and the key variables to name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config.spec import ProviderKind

KeyGroups = tuple[tuple[str, ...], ...]
"""Alternatives: any one group whose variables are all set is enough."""


@dataclass(frozen=True)
class Vendor:
    name: str
    """The provider name in agent.yaml, also the causerie extra."""
    module: str
    """``livekit.plugins.<module>``."""
    about: Mapping[ProviderKind, str]
    """Kind offered -> what it is, for listings."""
    keys: Mapping[str, KeyGroups] = field(default_factory=dict)
    """Kind (or ``"*"`` for all) -> the environment variables that authenticate it."""
    env_params: Mapping[str, str] = field(default_factory=dict)
    """Constructor argument -> the variable it is read from. The plugins read ``os.environ``
    themselves, but a key kept in ``.env`` is only in Causerie's merged environment."""
    key_options: tuple[str, ...] = ()
    """``options`` that authenticate instead of a variable (e.g. a credentials file)."""

    @property
    def kinds(self) -> tuple[ProviderKind, ...]:
        return tuple(self.about)

    @property
    def package(self) -> str:
        return f"livekit-plugins-{self.module}"

    def key_groups(self, kind: str) -> KeyGroups:
        return self.keys.get(kind) or self.keys.get("*") or ()


def _one(var: str) -> Mapping[str, KeyGroups]:
    return {"*": ((var,),)}


_GOOGLE_CLOUD = (("GOOGLE_APPLICATION_CREDENTIALS",),)
_AZURE = (
    ("AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION"),
    ("AZURE_SPEECH_KEY", "AZURE_SPEECH_ENDPOINT"),
)

VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "mistral",
        "mistralai",
        {
            "llm": "Mistral AI chat models (the original design's LLM)",
            "stt": "Mistral Voxtral transcription",
            "tts": "Mistral Voxtral speech",
        },
        keys=_one("MISTRAL_API_KEY"),
        env_params={"api_key": "MISTRAL_API_KEY"},
    ),
    Vendor(
        "groq",
        "groq",
        {
            "llm": "Groq fast inference (Llama, Qwen, GPT-OSS)",
            "stt": "Groq Whisper transcription",
            "tts": "Groq speech (Orpheus)",
        },
        keys=_one("GROQ_API_KEY"),
        env_params={"api_key": "GROQ_API_KEY"},
    ),
    Vendor(
        "google",
        "google",
        {
            "llm": "Google Gemini (API key or Vertex AI)",
            "stt": "Google Cloud Speech-to-Text",
            "tts": "Google Cloud Text-to-Speech",
        },
        keys={
            "llm": (("GOOGLE_API_KEY",), ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT")),
            "stt": _GOOGLE_CLOUD,
            "tts": _GOOGLE_CLOUD,
        },
        env_params={
            "api_key": "GOOGLE_API_KEY",
            "credentials_file": "GOOGLE_APPLICATION_CREDENTIALS",
        },
        key_options=("credentials_file", "credentials_info"),
    ),
    Vendor(
        "azure",
        "azure",
        {"stt": "Azure AI Speech recognition", "tts": "Azure AI Speech neural voices"},
        keys={"*": _AZURE},
        env_params={
            "speech_key": "AZURE_SPEECH_KEY",
            "speech_region": "AZURE_SPEECH_REGION",
            "speech_endpoint": "AZURE_SPEECH_ENDPOINT",
        },
        key_options=("speech_auth_token",),
    ),
    Vendor(
        "assemblyai",
        "assemblyai",
        {"stt": "AssemblyAI Universal streaming speech-to-text", "tts": "AssemblyAI speech"},
        keys=_one("ASSEMBLYAI_API_KEY"),
        env_params={"api_key": "ASSEMBLYAI_API_KEY"},
    ),
    Vendor(
        "speechmatics",
        "speechmatics",
        {"stt": "Speechmatics real-time speech-to-text", "tts": "Speechmatics speech"},
        keys=_one("SPEECHMATICS_API_KEY"),
        env_params={"api_key": "SPEECHMATICS_API_KEY"},
    ),
    Vendor(
        "gladia",
        "gladia",
        {"stt": "Gladia real-time multilingual speech-to-text"},
        keys=_one("GLADIA_API_KEY"),
        env_params={"api_key": "GLADIA_API_KEY"},
    ),
    Vendor(
        "rime",
        "rime",
        {"tts": "Rime expressive text-to-speech"},
        keys=_one("RIME_API_KEY"),
        env_params={"api_key": "RIME_API_KEY"},
    ),
    Vendor(
        "lmnt",
        "lmnt",
        {"tts": "LMNT low-latency text-to-speech"},
        keys=_one("LMNT_API_KEY"),
        env_params={"api_key": "LMNT_API_KEY"},
    ),
)


def find_vendor(name: str) -> Vendor | None:
    """By provider name or plugin module ('mistral' or 'mistralai')."""
    name = name.lower()
    return next((v for v in VENDORS if name in (v.name, v.module)), None)
